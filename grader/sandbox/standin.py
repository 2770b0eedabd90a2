"""Trusted stand-ins for a submission's activations and losses, so that a unit test of MLP.forward,
MLP.loss or MLP.backward judges those methods alone.

A bug in sigmoid_grad would otherwise also fail every backward test that uses sigmoid: one bug, many
deductions, and messages that point at the wrong function. While such a test runs, the trusted side
asks (op "standin" in the worker, grader/sandbox/boot.py; inprocess.InProcessStudent in this process) to
rebind the module's functions named in the template to the contract's formulas (formula.py): the module
global (`sigmoid`), and every reference to the old function in a module-level dict, list or tuple
(`ACTIVATIONS = {"sigmoid": (sigmoid, sigmoid_grad)}`) or class attribute. `restore` undoes it.
A submission that computes a derivative inline in backward still owns that code: nothing rebinds it.

Not a security boundary: this runs next to the submission, which can ignore it. The trusted side
never judges by it; it only spares honest work from being charged for another function's bug.
Stdlib + numpy only: this module also runs inside the sandbox. The grader's only, like formula.py: the
student bundle leaves both out (layout.GRADER_FILES).
"""

from __future__ import annotations

try:
    from grader.sandbox import formula
except ImportError:  # inside the sandbox: boot.py imports this module by its bare name, next to formula.py
    import formula  # type: ignore[no-redef]

NAMES = ("sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
         "elu", "elu_grad", "softmax", "mse_loss", "mse_loss_grad", "cross_entropy_loss", "cross_entropy_loss_grad")
FUNCTIONS = {name: getattr(formula, name) for name in NAMES}


def install(module, names=NAMES) -> list:
    """Rebind the module's functions `names` (and every module-level or class-level reference to them)
    to the stand-ins; the undo records for `restore`."""
    old_to_new = {}
    records = []
    for name in names:
        old = getattr(module, name, None)
        if name in FUNCTIONS and callable(old) and old is not FUNCTIONS[name]:
            old_to_new[id(old)] = FUNCTIONS[name]
            records.append((module.__dict__, name, old))
            module.__dict__[name] = FUNCTIONS[name]
    if not old_to_new:
        return records

    def swap(value):
        if isinstance(value, tuple) and any(id(v) in old_to_new for v in value):
            return tuple(old_to_new.get(id(v), v) for v in value)
        return old_to_new.get(id(value), value)

    classes = [v for v in list(vars(module).values()) if isinstance(v, type) and v.__module__ == module.__name__]
    containers = [v for v in list(vars(module).values()) if isinstance(v, (dict, list))]
    containers += [v for cls in classes for v in list(vars(cls).values()) if isinstance(v, (dict, list))]
    for container in containers:
        keys = list(container) if isinstance(container, dict) else range(len(container))
        for key in keys:
            try:
                new = swap(container[key])
                if new is not container[key]:
                    records.append((container, key, container[key]))
                    container[key] = new
            except Exception:  # noqa: BLE001 - a hostile container: leave it
                continue
    for cls in classes:
        for key, value in list(vars(cls).items()):
            target = value.__func__ if isinstance(value, staticmethod) else value
            if id(target) in old_to_new:
                records.append((cls, key, value))
                setattr(cls, key, staticmethod(old_to_new[id(target)]))
    return records


def restore(records: list) -> None:
    """Undo `install`, last change first."""
    for where, key, old in reversed(records):
        try:
            if isinstance(where, type):
                setattr(where, key, old)
            else:
                where[key] = old
        except Exception:  # noqa: BLE001
            continue
