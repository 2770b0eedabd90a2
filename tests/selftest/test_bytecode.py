"""The runtime modules' bytecode made on the trusted side (grader/sandbox/bytecode.py): the worker uses it only
for the very source it was copied in with, and does use it there."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from grader.sandbox import bytecode, layout
from grader.sandbox.client import SandboxStudent


def load(folder, name: str):
    """Import `folder/name.py` afresh by the import system's file finder (which looks in __pycache__)."""
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def ship(folder, name: str, source: str, pyc: bytes) -> None:
    """`name`.py holding `source`, with `pyc` as its bytecode in __pycache__."""
    folder.mkdir()
    (folder / f"{name}.py").write_text(source)
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / bytecode.pyc_name(f"{name}.py")).write_bytes(pyc)


def test_the_bytecode_is_used_only_for_the_source_it_was_made_from(tmp_path):
    """Does the import system run a .pyc from bytecode.compiled for the source it was made from, and compile a
    changed source instead?"""
    made = write(tmp_path / "made.py", "WHO = 'compiled from the source'\n")
    pyc = bytecode.compiled(made, "/opt/exercise02/made.py")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER and pyc[4] == bytecode.CHECKED
    # The same source: the bytecode is what runs. Shown with a forged file, the code of another source under this
    # source's hash: its value comes back, so the import system took the bytecode (it never compiles it back).
    other = bytecode.compiled(write(tmp_path / "other.py", "WHO = 'from the bytecode'\n"), "other.py")
    ship(tmp_path / "same", "probe_a", made.read_text(), pyc[:16] + other[16:])
    assert load(tmp_path / "same", "probe_a").WHO == "from the bytecode"
    # Another source next to it (changed since the bytecode was made): its hash differs, the source is compiled.
    ship(tmp_path / "changed", "probe_b", "WHO = 'the changed source'\n", pyc)
    assert load(tmp_path / "changed", "probe_b").WHO == "the changed source"


def write(path, text: str):
    path.write_text(text)
    return path


def test_every_runtime_module_but_the_script_is_precompiled():
    """Is every runtime module shipped to the worker precompiled, and boot.py (run as a script) not?"""
    assert set(layout.RUNTIME_PYC) == {n for n in layout.KIT_FILES + layout.GRADER_FILES if n != "boot.py"}
    assert "boot.py" not in layout.RUNTIME_PYC  # run as a script: Python never reads bytecode for it


PROBE = '''
import importlib.util, os, sys

def shipped():
    folder = "/opt/exercise02/__pycache__"
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as pyc, open("/opt/exercise02/" + name.split(".")[0] + ".py", "rb") as source:
            found[name] = pyc.read()[8:16] == importlib.util.source_hash(source.read())
    loaded = {name: getattr(sys.modules.get(name), "__cached__", None) for name in ("protocol", "npy", "training")}
    return found, loaded, sys.flags.dont_write_bytecode


def compiled_here(names, submission):
    """The files the import system compiles from source when `names` (the runtime's modules) and then this very
    file are loaded afresh, under new module names: a module whose shipped bytecode is used is not compiled."""
    import importlib.machinery

    made, real = [], importlib.machinery.SourceFileLoader.source_to_code

    def spy(self, data, path, *args, **kwargs):
        made.append(path)
        return real(self, data, path, *args, **kwargs)

    importlib.machinery.SourceFileLoader.source_to_code = spy
    try:
        for path in ["/opt/exercise02/" + name for name in names] + [submission]:
            spec = importlib.util.spec_from_file_location("fresh_" + path.rsplit("/", 1)[1][:-3], path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
    finally:
        importlib.machinery.SourceFileLoader.source_to_code = real
    return made
'''


@pytest.mark.usefixtures("bwrap_sandbox")
def test_the_worker_finds_the_bytecode_of_its_runtime_next_to_the_sources(tmp_path):
    """Does the worker find a .pyc beside each runtime source, made from that very source, and write none?"""
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    student = SandboxStudent(path)
    try:
        found, loaded, no_writes = student.call("shipped")
    finally:
        student.close()
    assert found == {bytecode.pyc_name(name): True for name in layout.RUNTIME_PYC}
    assert loaded == {name: f"/opt/exercise02/__pycache__/{bytecode.pyc_name(name + '.py')}"
                      for name in ("protocol", "npy", "training")}
    assert no_writes == 1  # python -B: the worker still writes none


@pytest.mark.usefixtures("bwrap_sandbox")
def test_the_worker_runs_its_runtime_from_the_shipped_bytecode(tmp_path):
    """Does the worker's import system load every precompiled runtime module from its shipped .pyc rather than
    compile the source (a .pyc it cannot use, of another magic number or flags, is skipped without a word), while
    a file without one, the submission, is compiled?"""
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    student = SandboxStudent(path)
    try:
        made = student.call("compiled_here", sorted(layout.RUNTIME_PYC), f"{layout.INSIDE}/sub/probe.py")
    finally:
        student.close()
    assert made == [f"{layout.INSIDE}/sub/probe.py"], f"compiled from source in the worker: {made}"
