"""The similarity check's shortcuts change no result: its children's tokeniser and imports, the kept comparison.

A generated class (bench/classgen.py: copies of the solution, mutants of it, the alternatives) is
compared by the kit (children, screening, kept files) and, in this process, by copydetect used the
plain way (the lexer picked by the file name, every pair compared in full): the same pairs, shares,
matched characters and marked spans. A second run, served from the kept files, starts no child and
writes the same pages; kept files that do not fit are computed again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from classroom import KIT

from grader.grading import intake
from grader.outputs import fingerprint, similarity

sys.path.insert(0, str(KIT / "bench"))
import classgen  # noqa: E402


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A class of 10 compared by the kit (children, 2 jobs), with the Comparison that holds the shown spans."""
    root = tmp_path_factory.mktemp("generated")
    classgen.write_class(root / "class", 10)
    subs, _ = intake.collect(root / "class", root / "intake")
    comparison = similarity.Comparison(root / "out", subs, kit=KIT, jobs=2)
    found = comparison.write(imports={})
    return root / "out", subs, comparison, found


PLAIN = """
import io, itertools, json, sys
import numpy as np
from copydetect import CodeFingerprint, compare_files
task = json.load(sys.stdin)
k, window, threshold, least = task["k"], task["window"], task["threshold"], task["least"]
baseline = CodeFingerprint("baseline.py", k, 1, fp=io.StringIO(task["baseline"]))
boilerplate = np.unique(np.array(sorted(baseline.hashes), dtype=np.int64))
prints = {key: CodeFingerprint("submission.py", k, window, boilerplate, fp=io.StringIO(text)) for key, text in task["texts"].items()}
found = []
for a, b in itertools.combinations(task["texts"], 2):
    overlap, (share_a, share_b), (cut_a, cut_b) = compare_files(prints[a], prints[b])
    if max(share_a, share_b) >= threshold and overlap >= least:
        found.append([a, b, float(share_a), float(share_b), int(overlap), [[int(x), int(y)] for x, y in zip(*cut_a)],
                      [[int(x), int(y)] for x, y in zip(*cut_b)]])
json.dump(found, sys.stdout)
"""


def plain_pairs(texts: dict[str, str]) -> list:
    """copydetect used the documented way, every pair in full: CodeFingerprint with the lexer picked by the file's
    name and the template as boilerplate, compare_files; in a child with PYTHONHASHSEED=0 like the kit's (winnowing
    keeps the smallest hashes, so which ones are kept depends on the hash seed)."""
    task = {"k": fingerprint.K, "window": fingerprint.WINDOW, "threshold": similarity.THRESHOLD,
            "least": fingerprint.MIN_MATCH, "baseline": (KIT / "exercise02_template.py").read_text(), "texts": texts}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PLAIN], input=json.dumps(task), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONHASHSEED="0"), check=True)  # fmt: skip
    return json.loads(done.stdout)


def test_pairs_and_spans_equal_copydetect_used_plainly(compared):
    """Do the kit's children (lexer by name, no matplotlib, screening) flag the pairs, shares and spans copydetect flags?"""
    _, subs, comparison, found = compared
    texts = {s.id: s.code.read_text() for s in subs} | {"kit: solutions/exercise02.py": (KIT / "solutions" / "exercise02.py").read_text()}
    expected, slices = {}, {}
    for a, b, share_a, share_b, overlap, cut_a, cut_b in plain_pairs(texts):
        expected[frozenset((a, b))] = {a: round(share_a, 3), b: round(share_b, 3), "matched": overlap}
        slices[(a, b)], slices[(b, a)] = (cut_a, cut_b), (cut_b, cut_a)
    got = {frozenset((p["a"], p["b"])): {p["a"]: p["share_a"], p["b"]: p["share_b"], "matched": p["matched"]}
           for p in found.pairs}  # fmt: skip
    assert len(expected) >= 10 and any(len({v for k, v in e.items() if k != "matched"}) > 1 for e in expected.values())
    assert got == expected
    shown = comparison.found[3]
    assert len(shown) == min(len(found.pairs), similarity.MAX_SHOWN) and any(len(s["left"]) > 2 for s in shown)
    for pair in shown:
        left, right = slices[(pair["a"], pair["b"])]
        assert pair["left"] == similarity.marked(texts[pair["a"]], left)
        assert pair["right"] == similarity.marked(texts[pair["b"]], right)


def test_a_second_run_starts_no_child_and_writes_the_same_pages(compared, monkeypatch):
    """Is an unchanged class compared again from the kept files alone, with byte-identical pages?"""
    out, subs, _, found = compared
    before = {name: (out / name).read_bytes() for name in similarity.OUTPUTS}
    started = []
    monkeypatch.setattr(fingerprint, "run_children", lambda tasks, *a, **k: started.extend(tasks) or [])
    again = similarity.write_similarity(out, subs, kit=KIT, jobs=2, imports={})
    assert started == [] and again.pairs == found.pairs and again.flags == found.flags
    assert {name: (out / name).read_bytes() for name in similarity.OUTPUTS} == before


@pytest.mark.parametrize("damage", ["other key", "index out of range", "not json", "spans of another shape",
                                    "a fingerprint cut short"])  # fmt: skip
def test_kept_files_that_do_not_fit_are_computed_again(compared, tmp_path, damage):
    """Is a kept comparison, span or fingerprint file read only when its key and shape fit (else computed again,
    to the same pages)?"""
    out, subs, _, found = compared
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    folder = copy / "results" / fingerprint.FOLDER
    kept = json.loads((folder / fingerprint.PAIRS).read_text())
    if damage == "other key":
        (folder / fingerprint.PAIRS).write_text(json.dumps({"key": "0" * 64, "pairs": []}))
    elif damage == "index out of range":
        kept["pairs"][0][1] = 10_000
        (folder / fingerprint.PAIRS).write_text(json.dumps(kept))
    elif damage == "not json":
        (folder / fingerprint.PAIRS).write_text("{")
    elif damage == "a fingerprint cut short":  # and the class changed since: the comparison reads the fingerprints
        (folder / fingerprint.PAIRS).unlink()
        cut = min(path for path in folder.glob("*.json") if len(path.stem) == 32)
        cut.write_text(cut.read_text()[:100])
    else:
        spans = json.loads((folder / fingerprint.SPANS).read_text())
        (folder / fingerprint.SPANS).write_text(json.dumps({key: [[1, 2]] for key in spans}))
    ops = []
    real = fingerprint.run_children
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fingerprint, "run_children", lambda tasks, *a, **k: ops.extend(t["op"] for t in tasks) or real(tasks, *a, **k))
        again = similarity.write_similarity(copy, subs, kit=KIT, jobs=2, imports={})
    expected = {"spans of another shape": ["spans"], "a fingerprint cut short": ["fingerprint", "compare", "compare"]}
    assert ops == expected.get(damage, ["compare", "compare"])
    assert again.pairs == found.pairs
    assert (copy / "similarity.html").read_bytes() == (out / "similarity.html").read_bytes()
