"""Code fingerprints (copydetect's winnowing), computed in child interpreters and kept by content.

copydetect tokenises code with pygments, replaces names and strings by placeholders, drops comments
and whitespace, hashes every k-gram of what is left and keeps a winnowed subset of the hashes. Its
hashes come from Python's hash(), which is salted per process: so fingerprints are computed in
children (`python -m grader.outputs.fingerprint`) started with PYTHONHASHSEED=0, where one text gives
the same fingerprints in every run. That is what lets them be kept in <out>/results/.fingerprints/
(one JSON file per content digest) and makes the same class give the same similarity page. Comparing
fingerprints hashes nothing, so it also runs in children (for the two cores) and in the parent.

Pairs are screened before the full comparison: a pair that shares fewer than SCREEN x threshold of
the smaller file's fingerprints is not compared in full. On the kit's files the share of matching
code is at most 2.5 times the share of shared fingerprints, so SCREEN = 0.25 leaves a margin;
tests/selftest/test_similarity.py checks that screening loses no pair.
Files whose normalised code is identical are compared once.

A comparison is kept too (compared.json: the pairs, under a key of every input that decides them:
the digests in order, which of them are in focus, the threshold, copydetect's version and this
module's code), and so are the matched spans of the pairs a page shows (spans.json, by the two
digests): grading an unchanged class again starts no child. Both are read only when their key
matches and their shape is right; anything else is computed again, as a kept Result is
(grader.grading.store), and so is a kept fingerprint of the wrong shape when a comparison is to
read it. The children import copydetect without matplotlib (copydetect.detector imports pyplot
for its own report, which they never make) and tokenise with pygments' Python lexer by name,
not by a file name (a lookup that imports every pygments plugin: IPython's lexers); it is the lexer
that name picks, so the fingerprints are the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import selectors
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.error import GraderError
from grader.sandbox.kit import KIT

K = 25  # noise threshold: the shortest match that counts, in characters of normalised code
WINDOW = 8  # winnowing window: every match of K + WINDOW - 1 characters is found
SCREEN = 0.25  # x threshold: the share of the smaller file's fingerprints a pair must share to be compared in full
MIN_MATCH = 200  # characters of normalised code a pair must share to be flagged at all
FOLDER = ".fingerprints"  # under <out>/results/
PAIRS = "compared.json"  # the last comparison, in FOLDER
SPANS = "spans.json"  # the matched spans of the pairs shown side by side, in FOLDER
LANGUAGE = "python"  # the pygments lexer, by name


class FingerprintError(GraderError):
    """A child could not compute or compare fingerprints."""


@functools.cache
def version() -> str:
    """The method's name in every fingerprint key: what a kept fingerprint depends on besides the text and the
    baseline. copydetect's version, pygments' (its tokens) and the interpreter's string hash (copydetect hashes
    with hash(): siphash24 before Python 3.11, siphash13 since), read from the installed metadata (importing
    copydetect here took 1 s)."""
    from importlib import metadata

    return (f"copydetect {metadata.version('copydetect')} pygments {metadata.version('pygments')} "
            f"{sys.hash_info.algorithm} k{K} w{WINDOW}")  # fmt: skip


@functools.cache
def method() -> str:
    """What decides a comparison besides the fingerprints: the method's version and this module's code."""
    return f"{version()} {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}"


def digest(text: str, baseline: str) -> str:
    """The key of one file's fingerprint: its text, the baseline (template) it is measured against, the method."""
    return hashlib.sha256(f"{version()}\0{baseline}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class Job:
    digest: str
    text: str


def ensure(jobs: list[Job], baseline: str, folder: Path, workers: int, timeout: float = 600.0, stop=None,
           children: Children | None = None, check: bool = False) -> None:  # fmt: skip
    """Compute the fingerprints that are not kept yet, `workers` children at a time (stop, children: see Children).

    check: a kept file is also computed again when it cannot be read as a fingerprint (one damaged file
    would otherwise stop every later comparison of the class); asked for when the files are about to be read."""
    folder.mkdir(parents=True, exist_ok=True)
    todo, seen = [], set()
    for job in jobs:
        path = folder / f"{job.digest}.json"
        if job.digest not in seen and not (path.is_file() and (not check or _fingerprint_fits(read_json(path)))):
            seen.add(job.digest)
            todo.append(job)
    if not todo:
        return
    shares = [todo[i::workers] for i in range(max(1, min(workers, len(todo))))]
    tasks = [{"op": "fingerprint", "folder": str(folder), "baseline": baseline,
              "files": [[job.digest, job.text] for job in share]} for share in shares]  # fmt: skip
    run_children(tasks, timeout, stop, children)


def compare(digests: list[str], folder: Path, workers: int, threshold: float, focus: list[bool] | None = None,
            timeout: float = 600.0, stop=None, children: Children | None = None) -> list[list]:  # fmt: skip
    """[i, j, share_i, share_j, matched] for every pair i < j of `digests` at or above the threshold.

    `focus` (one flag per digest): only pairs with at least one flagged member are compared (the
    class against an archive, never the archive against itself). Default: every pair."""
    if len(digests) < 2:
        return []
    n = max(1, workers)
    focus = [True] * len(digests) if focus is None else [bool(f) for f in focus]
    tasks = [{"op": "compare", "folder": str(folder), "digests": digests, "part": [k, n], "threshold": threshold,
              "focus": focus} for k in range(n)]  # fmt: skip
    pairs = [pair for result in run_children(tasks, timeout, stop, children) for pair in result]
    return sorted(pairs, key=lambda p: (p[0], p[1]))


def compare_kept(digests: list[str], folder: Path, workers: int, threshold: float, focus: list[bool] | None = None,
                 timeout: float = 600.0, stop=None, children: Children | None = None) -> list[list]:  # fmt: skip
    """compare(), or the comparison kept in <folder>/compared.json when it was made of the same inputs."""
    kept = kept_pairs(digests, folder, threshold, focus)
    if kept is not None:
        return kept
    pairs = compare(digests, folder, workers, threshold, focus, timeout, stop, children)
    write_json(folder / PAIRS, {"key": _pairs_key(digests, threshold, focus), "pairs": pairs})
    return pairs


def kept_pairs(digests: list[str], folder: Path, threshold: float, focus: list[bool] | None = None) -> list[list] | None:
    """The comparison kept in <folder>/compared.json when it was made of the same inputs, else None."""
    kept = read_json(folder / PAIRS)
    if isinstance(kept, dict) and kept.get("key") == _pairs_key(digests, threshold, focus) and _pairs_fit(
            kept.get("pairs"), len(digests)):  # fmt: skip
        return kept["pairs"]
    return None


def _pairs_key(digests: list[str], threshold: float, focus: list[bool] | None) -> str:
    focus = [True] * len(digests) if focus is None else [bool(f) for f in focus]
    return hashlib.sha256(json.dumps([method(), threshold, digests, focus]).encode()).hexdigest()


def _fingerprint_fits(data) -> bool:
    """Is `data` what a fingerprint child writes (the fields `load` reads, of their types)?"""
    types_ = {"k": int, "length": int, "normalised": str, "coverage": int, "offsets": list, "hashes": dict}
    return isinstance(data, dict) and all(type(data.get(name)) is kind for name, kind in types_.items())


def _pairs_fit(pairs, count: int) -> bool:
    """Is `pairs` what compare() returns for `count` digests: [i < j, share, share, matched characters]?"""
    number = (int, float)
    return isinstance(pairs, list) and all(
        isinstance(p, list) and len(p) == 5 and all(type(x) is int for x in (p[0], p[1], p[4]))
        and 0 <= p[0] < p[1] < count and all(type(x) in number and x >= 0 for x in p[2:4]) and p[4] >= 0
        for p in pairs)  # fmt: skip


def spans(folder: Path, pairs: list[tuple[str, str]], timeout: float = 600.0, stop=None,
          children: Children | None = None) -> list[tuple[list, list]]:  # fmt: skip
    """The matched [start, end) spans in the source texts of each pair of kept fingerprints (a's, b's).

    Computed in one child for the pairs not kept in <folder>/spans.json (by the two digests and the
    method); that file then keeps exactly these pairs."""
    keys = [hashlib.sha256(f"{method()}\0{a}\0{b}".encode()).hexdigest()[:32] for a, b in pairs]
    kept = read_json(folder / SPANS)
    kept = {k: v for k, v in kept.items() if _spans_fit(v)} if isinstance(kept, dict) else {}
    todo = {key: pair for key, pair in zip(keys, pairs) if key not in kept}
    if todo:
        task = {"op": "spans", "folder": str(folder), "pairs": [list(pair) for pair in todo.values()]}
        found = run_children([task], timeout, stop, children)[0]
        kept.update(zip(todo, found))
    write_json(folder / SPANS, {key: kept[key] for key in keys})
    return [(kept[key][0], kept[key][1]) for key in keys]


def _spans_fit(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(
        isinstance(side, list) and all(isinstance(s, list) and len(s) == 2 and all(type(x) is int for x in s) for s in side)
        for side in value)  # fmt: skip


def read_json(path: Path):
    """A kept file's content, or None when it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data), encoding="utf-8")
    os.replace(partial, path)


def run_children(tasks: list[dict], timeout: float, stop=None, children: Children | None = None) -> list:
    """Each task's result, the tasks run at once, one per child: by `children` (kept for the next tasks), else by
    children started for these tasks alone."""
    if children is not None:
        return children.run(tasks, timeout)
    with Children(len(tasks), stop) as alone:
        return alone.run(tasks, timeout)


class Children:
    """Up to `count` fingerprint children (`python -m grader.outputs.fingerprint`), started when first needed and
    kept until close(), so that one check (fingerprints, comparison, spans) pays each child's start-up and
    imports once. A child reads one JSON task per line on stdin and answers one JSON line on stdout.

    run() feeds every child its whole task before reading any answer (a child reads its whole line
    before it works, so the children work at once even when a task is larger than a pipe's buffer).
    stop: a threading.Event; once it is set run() raises FingerprintError (the pipeline cancels a check
    that runs beside the grading when the run is interrupted), and close() kills the children."""

    def __init__(self, count: int, stop=None):
        self.count, self.stop = max(1, count), stop
        self.children: list[subprocess.Popen] = []
        self.errors: dict[int, bytes] = {}  # pid -> the end of what the child wrote on stderr
        self.broken = False  # a run() failed or was stopped

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def run(self, tasks: list[dict], timeout: float = 600.0) -> list:
        if len(tasks) > self.count:
            raise ValueError(f"{len(tasks)} tasks for {self.count} children")
        env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        while len(self.children) < len(tasks):
            self.children.append(subprocess.Popen([sys.executable, "-m", "grader.outputs.fingerprint"], cwd=KIT, env=env,
                                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
        for child, task in zip(self.children, tasks):
            try:
                child.stdin.write(json.dumps(task).encode() + b"\n")
                child.stdin.flush()
            except BrokenPipeError:
                pass  # it has ended: its exit status says so below
        deadline = time.monotonic() + timeout
        try:
            return [json.loads(self._answer(child, deadline, timeout)) for child in self.children[: len(tasks)]]
        except BaseException:
            self.broken = True  # a child may still be working: close() kills it
            raise

    def close(self) -> None:
        """End every child: its input closed (it exits at the end of its input), killed if it is still running."""
        for child in self.children:
            for stream in (child.stdin, child.stdout, child.stderr):
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
            try:
                child.wait(timeout=0 if self.broken else 5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children = []

    def _answer(self, child: subprocess.Popen, deadline: float, timeout: float) -> bytes:
        """The child's next line on stdout (its stderr read meanwhile); FingerprintError when it ends without one,
        past the deadline or on stop."""
        line = []
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            selector.register(child.stderr, selectors.EVENT_READ)
            while child.stdout in {key.fileobj for key in selector.get_map().values()}:
                if self.stop is not None and self.stop.is_set():
                    raise FingerprintError("stopped")
                if (left := deadline - time.monotonic()) <= 0:
                    raise FingerprintError(f"fingerprinting took longer than {timeout:g} s")
                for key, _ in selector.select(min(left, 0.2)):
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        selector.unregister(key.fileobj)
                    elif key.fileobj is child.stderr:
                        self.errors[child.pid] = (self.errors.get(child.pid, b"") + data)[-4096:]
                    elif data.endswith(b"\n"):
                        return b"".join(line) + data
                    else:
                        line.append(data)
        child.wait()
        last = self.errors.get(child.pid, b"").decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise FingerprintError(f"a fingerprint process failed (exit {child.returncode}): {last[0][:300]}")


# --------------------------------------------------------------------------- fingerprints as files


def load(folder: Path, key: str):
    """A kept fingerprint as a copydetect CodeFingerprint (no source text: it is not needed to compare)."""
    import numpy as np
    from copydetect import CodeFingerprint

    data = json.loads((folder / f"{key}.json").read_text())
    fingerprint = CodeFingerprint.__new__(CodeFingerprint)
    fingerprint.filename, fingerprint.raw_code, fingerprint.k = key, "", data["k"]
    fingerprint.filtered_code = "x" * data["length"]  # compare_files only needs its length
    fingerprint.offsets = np.array(data["offsets"], dtype=np.int64).reshape(-1, 2) if data["offsets"] else np.array([])
    fingerprint.hash_idx = {int(h): np.array(idx, dtype=np.int64) for h, idx in data["hashes"].items()}
    fingerprint.hashes = set(fingerprint.hash_idx)
    fingerprint.token_coverage = data["coverage"]
    fingerprint.normalised = data["normalised"]
    return fingerprint


def matched(a, b) -> tuple[float, float, int, list, list]:
    """(share of a, share of b, matched characters, a's matched [start, end) spans, b's) in the source texts."""
    from copydetect import compare_files

    overlap, (share_a, share_b), (slices_a, slices_b) = compare_files(a, b)
    spans = lambda s: [] if len(s) == 0 or len(s[0]) == 0 else [[int(x), int(y)] for x, y in zip(s[0], s[1])]  # noqa: E731
    return float(share_a), float(share_b), int(overlap), spans(slices_a), spans(slices_b)


def _fingerprint(task: dict) -> list[str]:
    import numpy as np
    from copydetect import CodeFingerprint

    folder = Path(task["folder"])
    baseline = CodeFingerprint("baseline.py", K, 1, fp=_Text(task["baseline"]), language=LANGUAGE)
    boilerplate = np.unique(np.array(sorted(baseline.hashes), dtype=np.int64))
    done = []
    for key, text in task["files"]:
        try:
            fp = CodeFingerprint("submission.py", K, WINDOW, boilerplate, fp=_Text(text), language=LANGUAGE)
        except Exception:  # noqa: BLE001 - text the tokeniser cannot take: nothing of it can match
            fp = CodeFingerprint("submission.py", K, WINDOW, boilerplate, fp=_Text(""), language=LANGUAGE)
        data = {
            "k": K,
            "length": len(fp.filtered_code),
            "normalised": hashlib.sha256(fp.filtered_code.encode("utf-8", "surrogatepass")).hexdigest()[:32],
            "coverage": int(fp.token_coverage),
            "offsets": np.asarray(fp.offsets, dtype=np.int64).tolist(),
            "hashes": {str(int(h)): [int(i) for i in idx] for h, idx in fp.hash_idx.items()},
        }
        partial = folder / f".{key}.{os.getpid()}.partial"
        partial.write_text(json.dumps(data))
        os.replace(partial, folder / f"{key}.json")
        done.append(key)
    return done


def _compare(task: dict) -> list[list]:
    folder, digests, threshold, focus = Path(task["folder"]), task["digests"], task["threshold"], task["focus"]
    part, parts = task["part"]
    kept = {key: load(folder, key) for key in dict.fromkeys(digests)}
    groups: dict[str, list[int]] = {}  # identical normalised code -> indexes
    for i, key in enumerate(digests):
        groups.setdefault(kept[key].normalised, []).append(i)
    heads = [members[0] for members in groups.values()]
    wanted = {members[0]: any(focus[m] for m in members) for members in groups.values()}
    results, count = [], 0
    for members in groups.values():  # identical after normalisation: all of it matches
        fp = kept[digests[members[0]]]
        if len(members) > 1 and fp.token_coverage >= MIN_MATCH:
            count += 1
            if count % parts == part:
                results += [[i, j, 1.0, 1.0, int(fp.token_coverage)] for x, i in enumerate(members) for j in members[x + 1:]
                            if focus[i] or focus[j]]  # fmt: skip
    for x, i in enumerate(heads):
        a = kept[digests[i]]
        for j in heads[x + 1:]:
            count += 1
            if count % parts != part or not (wanted[i] or wanted[j]):
                continue
            b = kept[digests[j]]
            smaller = min(len(a.hashes), len(b.hashes))
            if smaller == 0 or len(a.hashes & b.hashes) < SCREEN * threshold * smaller:
                continue
            share_a, share_b, overlap, _, _ = matched(a, b)
            if max(share_a, share_b) >= threshold and overlap >= MIN_MATCH:
                for p in groups[a.normalised]:
                    for q in (q for q in groups[b.normalised] if focus[p] or focus[q]):
                        results.append([min(p, q), max(p, q), *((share_a, share_b) if p < q else (share_b, share_a)), overlap])
    return results


def _spans(task: dict) -> list[list]:
    folder = Path(task["folder"])
    loaded = {key: load(folder, key) for pair in task["pairs"] for key in pair}
    return [list(matched(loaded[a], loaded[b])[3:]) for a, b in task["pairs"]]


class _Text:
    """A file-like object for CodeFingerprint(fp=...)."""

    def __init__(self, text: str):
        self.text = text

    def read(self) -> str:
        return self.text


def without_matplotlib() -> None:
    """Stand-ins for matplotlib and pyplot, which copydetect.detector imports for its own report (CopyDetector).

    Only in a fingerprint child, a process of this module's own that makes no report and imports
    nothing else: CodeFingerprint and compare_files use numpy and pygments only. A use of a stand-in
    fails (AttributeError), so a copydetect that needed matplotlib here would fail the check, loudly."""
    for name in ("matplotlib", "matplotlib.pyplot"):
        stand_in = types.ModuleType(name, "not loaded in a fingerprint process")

        def missing(attribute, name=name):
            raise AttributeError(f"{name} is not loaded in a fingerprint process (wanted: {attribute})")

        stand_in.__getattr__ = missing
        sys.modules.setdefault(name, stand_in)


def main() -> None:
    """A child: one JSON task per line on stdin, one JSON answer per line on stdout, until its input ends."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        raise SystemExit("run with PYTHONHASHSEED=0 (fingerprints must not depend on the process)")
    without_matplotlib()
    for line in sys.stdin.buffer:
        task = json.loads(line)
        result = {"fingerprint": _fingerprint, "compare": _compare, "spans": _spans}[task["op"]](task)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
