"""Planted copies for the similarity self-tests: what a student who copies does to hide it.

    renamed(source)      every local name of a mapping renamed (tokens, so the code stays valid)
    reordered(source)    the top-level functions in reverse order (classes stay where they are)
    recommented(source)  every comment and docstring replaced by other words
"""

from __future__ import annotations

import ast
import io
import tokenize

RENAMES = {"z": "inp", "X": "batch", "Y": "targets", "y": "labels", "W": "weight", "b": "bias", "A": "act",
           "s": "sig", "e": "expo", "grads": "g_list", "history": "log_book", "rng": "gen", "logits": "scores",
           "y_hat": "pred", "alpha": "slope", "lr": "step", "epochs": "n_epochs", "out": "result"}  # fmt: skip


def renamed(source: str) -> str:
    tokens = [(t.type, RENAMES.get(t.string, t.string) if t.type == tokenize.NAME else t.string)
              for t in tokenize.generate_tokens(io.StringIO(source).readline)]  # fmt: skip
    return tokenize.untokenize(tokens)


def reordered(source: str) -> str:
    """The module's top-level functions in reverse order, after everything else."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    spans = [(min([n.lineno] + [d.lineno for d in n.decorator_list]) - 1, n.end_lineno) for n in functions]
    taken = {i for start, end in spans for i in range(start, end)}
    rest = "".join(line for i, line in enumerate(lines) if i not in taken)
    moved = ["".join(lines[start:end]) + "\n\n" for start, end in reversed(spans)]
    return rest.rstrip() + "\n\n\n" + "".join(moved)


def recommented(source: str) -> str:
    """Comments and docstrings replaced (the code itself untouched)."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add((first.lineno, first.col_offset))
    out = []
    for t in tokenize.generate_tokens(io.StringIO(source).readline):
        if t.type == tokenize.COMMENT:
            out.append((t.type, "# my own note on this line"))
        elif t.type == tokenize.STRING and t.start in docstrings:
            out.append((t.type, '"""Written by me, honestly."""'))
        else:
            out.append((t.type, t.string))
    return tokenize.untokenize(out)
