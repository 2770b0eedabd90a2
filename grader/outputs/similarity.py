"""Academic-integrity hints after grading: similar code, similar plots, forbidden imports. Never points.

    similarity.html   ranked pairs whose student-written code is unusually similar (the share of each
                      file that matches), each flagged pair side by side with the matching regions
                      marked; groups of (nearly) identical plots; forbidden imports. Self-contained,
                      no script, every text escaped, the report's Content-Security-Policy.
    similarity.json   {"flags": {submission id: ["one-line hint", ...]}, "pairs": [...], "plots": [...],
                      "imports": {...}}: the same, for other tools (the review app shows the flags).

Code: copydetect's winnowing fingerprints (grader.outputs.fingerprint) of every submission, with the
template as boilerplate, so the template and its given code never count as a match, and names,
strings, comments and layout normalised away, so renamed variables, reordered functions and new
comments still match. A submission is compared with every other one (the members of a group hand in
one submission; two submissions that share a student are not compared), with the kit's solution
and with the code of `--compare-with` folders (earlier terms; those are not graded and not compared
with each other). Plots: a perceptual hash (imagehash.phash) of the re-encoded PNGs
(grader.outputs.plots), compared across the class and with the plots the kit ships (the sample
class, anything under solutions/). Imports: grader.grading.imports.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from grader.grading.intake import PLOT_NAMES, Submission
from grader.outputs import fingerprint

THRESHOLD = 0.5  # share of a file's student-written code that must match for a pair to be flagged
MAX_SHOWN = 25  # flagged pairs shown side by side (the highest first)
MAX_ROWS = 500  # rows of the ranked table
MAX_HINTS = 6  # hints per submission and kind
PLOT_DISTANCE = 4  # bits of the 64-bit perceptual hash two plots may differ in to count as the same picture
ARCHIVE_FILES = 5000  # code files read from one --compare-with folder
CODE_BYTES = 256 << 10
TEMPLATE = "similarity.html.j2"
OUTPUTS = ("similarity.html", "similarity.json")
PLOTS = "plots.json"  # the plots' perceptual hashes, kept by content in the fingerprints' folder
KEPT = (PLOTS, fingerprint.PAIRS, fingerprint.SPANS)  # the records in the fingerprints' folder besides them


@dataclass
class Entry:
    """One body of code (and plots) to compare: a submission, an archived one, or the kit's own."""

    key: str  # the submission id, "archive: <path>" or "kit: <path>"
    kind: str  # "submission", "archive" or "kit"
    text: str | None = None
    members: tuple = ()
    plots: dict = field(default_factory=dict)  # plot name -> Path


@dataclass
class Integrity:
    flags: dict | None  # submission id -> [hint]; None when the check failed
    pairs: list
    plots: list
    problems: list  # what could not be done (shown on the page and returned to the caller)


def read_code(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return path.read_bytes()[:CODE_BYTES].decode("utf-8", errors="replace")


def kit_entries(kit: Path) -> list[Entry]:
    """The kit's solution (code) and the plots it ships (sample class, solutions/)."""
    entries = [Entry("kit: solutions/exercise02.py", "kit", read_code(kit / "solutions" / "exercise02.py"))]
    pngs = sorted((kit / "submissions").glob("*/plots/*.png")) + sorted((kit / "solutions").rglob("*.png"))
    seen = set()
    for path in pngs:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if path.name in {p.split("/")[-1] for p in PLOT_NAMES} and (path.name, digest) not in seen:
            seen.add((path.name, digest))
            entries.append(Entry(f"kit: {path.relative_to(kit).as_posix()}", "kit", plots={path.name: path}))
    return entries


def archive_entries(folder: Path, work: Path) -> tuple[list[Entry], list[str]]:
    """Code (and plots) of an earlier term: an LMS zip, a folder of submissions, or any folder of .py files."""
    from grader.grading import intake

    if folder.is_file():
        subs, notes = intake.collect(folder, work)
        return [Entry(f"archive: {folder.name}/{s.label}", "archive", read_code(s.code),
                      plots={p.split("/")[-1]: path for p, path in s.plots.items() if path}) for s in subs], notes  # fmt: skip
    entries, notes, count = {}, [], 0
    plot_names = {p.split("/")[-1] for p in PLOT_NAMES}
    for root, dirs, files in os.walk(folder):  # symlinks are not followed (os.walk's default)
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not (name.endswith(".py") or name in plot_names):
                continue
            count += 1
            if count > ARCHIVE_FILES:
                notes.append(f"--compare-with {folder}: more than {ARCHIVE_FILES} files; the rest are ignored")
                return list(entries.values()), notes
            owner = path.parent.parent if path.parent.name == "plots" else path.parent
            if name.endswith(".py"):
                key = f"archive: {path.relative_to(folder.parent).as_posix()}"
                entries[key] = Entry(key, "archive", read_code(path))
            else:
                key = f"archive: {owner.relative_to(folder.parent).as_posix()}/plots"
                entries.setdefault(key, Entry(key, "archive")).plots[name] = path
    return list(entries.values()), notes


# --------------------------------------------------------------------------- code


def code_pairs(entries: list[Entry], baseline: str, folder: Path, jobs: int, threshold: float,
               stop=None, children=None) -> list[dict]:  # fmt: skip
    """Flagged code pairs, highest share first: at least one side is a submission; archives never pair.
    children: a fingerprint.Children for every step (default: children of each step's own)."""
    coded = [e for e in entries if e.text is not None and e.text.strip()]
    keys = [fingerprint.digest(e.text, baseline) for e in coded]
    focus = [e.kind == "submission" for e in coded]
    kept = fingerprint.kept_pairs(keys, folder, threshold, focus)  # then the fingerprints are not read
    fingerprint.ensure([fingerprint.Job(k, e.text) for k, e in zip(keys, coded)], baseline, folder, jobs, stop=stop,
                       children=children, check=kept is None)  # fmt: skip
    pairs = []
    found = kept if kept is not None else fingerprint.compare_kept(keys, folder, jobs, threshold, focus, stop=stop,
                                                                  children=children)  # fmt: skip
    for i, j, share_i, share_j, matched in found:
        if coded[i].kind != "submission":
            i, j, share_i, share_j = j, i, share_j, share_i
        a, b = coded[i], coded[j]
        if a.kind != "submission":
            continue
        if b.kind == "submission" and set(a.members) & set(b.members):
            continue  # one student in both: the same group, handed in twice
        pairs.append({"a": a.key, "b": b.key, "b_kind": b.kind, "share_a": round(share_i, 3),
                      "share_b": round(share_j, 3), "matched": matched,
                      "digests": [keys[i], keys[j]]})  # fmt: skip
    pairs.sort(key=lambda p: (-max(p["share_a"], p["share_b"]), -p["matched"], p["a"], p["b"]))
    return pairs


def marked(text: str, spans: list) -> list[tuple[str, bool]]:
    """The text cut into (piece, is part of a match) for the side-by-side view."""
    pieces, at = [], 0
    for start, end in sorted(spans):
        start, end = max(start, at), min(end, len(text))
        if end <= start:
            continue
        pieces += [(text[at:start], False), (text[start:end], True)]
        at = end
    pieces.append((text[at:], False))
    return [(piece, flag) for piece, flag in pieces if piece]


# --------------------------------------------------------------------------- plots


def plot_groups(entries: list[Entry], out: Path, images=None) -> list[dict]:
    """Groups of (nearly) identical plots, per plot name, that hold at least one submission."""
    hashes = plot_hashes(entries, out, images)
    groups = []
    for name in sorted({p.split("/")[-1] for p in PLOT_NAMES}):
        items = [(e, hashes[(e.key, name)]) for e in entries if hashes.get((e.key, name)) is not None]
        parent = list(range(len(items)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for x in range(len(items)):
            for y in range(x + 1, len(items)):
                if items[x][1] - items[y][1] <= PLOT_DISTANCE:
                    parent[root(y)] = root(x)
        clusters: dict[int, list] = {}
        for x in range(len(items)):
            clusters.setdefault(root(x), []).append(items[x])
        for members in clusters.values():
            if len(members) > 1 and any(e.kind == "submission" for e, _ in members):
                spread = max(h - g for _, h in members for _, g in members)
                groups.append({"plot": name, "members": [e.key for e, _ in members], "distance": int(spread),
                               "kinds": [e.kind for e, _ in members]})  # fmt: skip
    return groups


def plot_hashes(entries: list[Entry], out: Path, images=None) -> dict:
    """{(entry key, plot name): imagehash of the re-encoded PNG}, kept by the submitted file's content."""
    import imagehash
    from PIL import Image

    from grader.outputs import report

    kept_path = out / "results" / fingerprint.FOLDER / PLOTS
    try:
        kept = json.loads(kept_path.read_text())
    except (OSError, ValueError):
        kept = {}
    images = images or report.ImageCache(out / "results" / report.IMAGES)
    from grader.outputs import plots

    version = "phash-8 " + hashlib.sha256(Path(plots.__file__).read_bytes()).hexdigest()[:16]  # re-encoding may change
    found, used = {}, {}
    for entry in entries:
        for name, path in entry.plots.items():
            if path is None or not path.is_file():
                continue
            key = hashlib.sha256(version.encode() + path.read_bytes()[: 5 << 20]).hexdigest()[:32]
            if key not in kept:
                png = images.check_png(path).png  # re-encoded by grader.outputs.plots; None when unusable
                kept[key] = None if png is None else str(imagehash.phash(Image.open(io.BytesIO(png), formats=["PNG"])))
            used[key] = kept[key]
            if kept[key] is not None:
                found[(entry.key, name)] = imagehash.hex_to_hash(kept[key])
    kept_path.parent.mkdir(parents=True, exist_ok=True)
    kept_path.write_text(json.dumps(used))
    return found


# --------------------------------------------------------------------------- the outputs


def hints(pairs: list[dict], groups: list[dict], imports: dict, ids: list[str]) -> dict[str, list[str]]:
    """One-line hints per submission id (only submissions that have any)."""
    flags: dict[str, list[str]] = {i: [] for i in ids}
    code: dict[str, list[str]] = {i: [] for i in ids}
    for p in pairs:
        code[p["a"]].append(f"code matches {p['b']}: {p['share_a']:.0%} of this file, {p['share_b']:.0%} of the other")
        if p["b_kind"] == "submission":
            code[p["b"]].append(f"code matches {p['a']}: {p['share_b']:.0%} of this file, {p['share_a']:.0%} of the other")
    for sub_id, lines in code.items():
        flags[sub_id] += lines[:MAX_HINTS] + ([f"... and {len(lines) - MAX_HINTS} more code matches"] if len(lines) > MAX_HINTS else [])
    for g in groups:
        for key, kind in zip(g["members"], g["kinds"]):
            if kind != "submission":
                continue
            others = [m for m in g["members"] if m != key]
            shown = ", ".join(others[:MAX_HINTS]) + (f" and {len(others) - MAX_HINTS} more" if len(others) > MAX_HINTS else "")
            flags[key].append(f"{g['plot']} is {'the same picture' if g['distance'] == 0 else 'nearly the same picture'} as {shown}")
    for sub_id, found in imports.items():
        flags.setdefault(sub_id, []).extend(f"imports {f.module} (line {f.line}): not allowed by the from-scratch rule" for f in found)
    return {k: v for k, v in flags.items() if v}


def write_similarity(out: Path, submissions: list[Submission], *, kit: Path, compare_with=(), threshold: float = THRESHOLD,
                     jobs: int | None = None, imports: dict | None = None, images=None) -> Integrity:  # fmt: skip
    """Compare the class, write similarity.html and similarity.json into `out`; returns the hints.

    images: the report's ImageCache of `out` (the pipeline passes it once the warm-up has finished
    with it); default: a new one on the same folder.
    """
    comparison = Comparison(out, submissions, kit=kit, compare_with=compare_with, threshold=threshold, jobs=jobs)
    return comparison.write(imports=imports, images=images)


class Comparison:
    """The check in two steps, so that its costly part can overlap the grading of the class.

    start(): in a thread of its own, read the code to compare (the class, the kit's solution, the
    --compare-with archives), fingerprint it and compare every pair, then the matched spans of the pairs
    the page shows side by side: all in the same `jobs` fingerprint children (copydetect's tokeniser is
    most of the check's cost), or from the kept files; none of it needs a result or an image. write(): wait for
    that (or do it now, when start() was never called), then what needs the images the warm-up
    finished (the plots), then the pages. Either way the same entries in the same order give the same
    outputs. cancel() stops the children and waits for the thread, so nothing writes into `out` after it.
    """

    def __init__(self, out: Path, submissions: list[Submission], *, kit: Path, compare_with=(),
                 threshold: float = THRESHOLD, jobs: int | None = None):  # fmt: skip
        self.out, self.submissions, self.kit = Path(out), submissions, kit
        self.compare_with, self.threshold = list(compare_with), threshold
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.work = None  # the folder an archive zip is unpacked into (its plots are read when the page is made)
        self.found = None  # (entries, problems, pairs, the shown pairs' spans) once the code is compared
        self.error: BaseException | None = None

    def start(self) -> None:
        """Compare the code in the background from now on (a second call does nothing)."""
        if self.thread is None and self.found is None:
            self.thread = threading.Thread(target=self._run, name="similarity", daemon=True)
            self.thread.start()

    def write(self, *, imports: dict | None = None, images=None) -> Integrity:
        """The plots compared, similarity.html and .json written; the hints. Raises what the code step raised."""
        try:
            if self.thread is None:
                self._run()
            else:
                self.thread.join()
            if self.error is not None:
                raise self.error
            entries, problems, pairs, shown = self.found
            return write_pages(self.out, self.submissions, entries, pairs, kit=self.kit, threshold=self.threshold,
                               imports=imports, problems=problems, images=images, shown=shown)  # fmt: skip
        finally:
            self.close()

    def cancel(self) -> None:
        """Stop the code step (its children are killed) and wait for it."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self.close()

    def close(self) -> None:
        if self.work is not None:
            self.work.cleanup()
            self.work = None

    def _run(self) -> None:
        try:
            self.found = self._compare_code()
        except BaseException as error:  # noqa: BLE001 - raised again by write(), in the caller's thread
            self.error = error

    def _compare_code(self) -> tuple[list[Entry], list[str], list[dict], list[dict]]:
        entries = [Entry(s.id, "submission", read_code(s.code), tuple(s.members),
                         {p.split("/")[-1]: path for p, path in s.plots.items() if path}) for s in self.submissions]  # fmt: skip
        entries += kit_entries(self.kit)
        self.work = tempfile.TemporaryDirectory(prefix="grader-archive-")  # an archive zip is unpacked here
        problems: list[str] = []
        for index, folder in enumerate(self.compare_with):
            found, notes = archive_entries(Path(folder), Path(self.work.name) / f"archive-{index}")
            entries += found
            problems += notes
        baseline = read_code(self.kit / "exercise02_template.py") or ""
        pairs, shown = [], []
        with fingerprint.Children(self.jobs, self.stop) as children:  # started when first needed, for every step
            try:
                pairs = code_pairs(entries, baseline, self.out / "results" / fingerprint.FOLDER, self.jobs,
                                   self.threshold, self.stop, children)  # fmt: skip
                shown = shown_pairs(entries, pairs, self.out, self.stop, children)
            except fingerprint.FingerprintError as error:
                problems.append(f"code was not compared: {error}" if not pairs else
                                f"the flagged pairs are not shown side by side: {error}")  # fmt: skip
        return entries, problems, pairs, shown


def shown_pairs(entries: list[Entry], pairs: list[dict], out: Path, stop=None, children=None) -> list[dict]:
    """The pairs the page shows side by side, their texts cut at the matched spans (fingerprint.spans: kept, or
    computed in a child; done with the code step, beside the pool, it needs no result)."""
    texts = {e.key: e.text for e in entries if e.text is not None}
    shown = pairs[:MAX_SHOWN]
    found = fingerprint.spans(out / "results" / fingerprint.FOLDER, [tuple(p["digests"]) for p in shown], stop=stop,
                              children=children)  # fmt: skip
    return [{**p, "left": marked(texts[p["a"]], left), "right": marked(texts[p["b"]], right)}
            for p, (left, right) in zip(shown, found)]  # fmt: skip


def write_pages(out: Path, submissions: list[Submission], entries: list[Entry], pairs: list[dict], *, kit: Path,
                threshold: float, imports: dict | None, problems: list[str], images=None,
                shown: list[dict]) -> Integrity:  # fmt: skip
    """The plots compared and the pages written, once the code pairs (and the shown ones' spans) are known."""
    folder = out / "results" / fingerprint.FOLDER
    baseline = read_code(kit / "exercise02_template.py") or ""
    groups = plot_groups(entries, out, images)
    ids = [s.id for s in submissions]
    flags = hints(pairs, groups, imports or {}, ids)
    prune(folder, {d for p in pairs for d in p["digests"]} | {fingerprint.digest(e.text, baseline) for e in entries if e.text})
    public_pairs = [{k: v for k, v in p.items() if k != "digests"} for p in pairs]
    data = {"version": 1, "threshold": threshold, "method": fingerprint.version(), "flags": flags, "pairs": public_pairs,
            "plots": groups, "imports": {k: [{"module": f.module, "line": f.line} for f in v] for k, v in (imports or {}).items()},
            "problems": problems}  # fmt: skip
    _write(out / "similarity.json", json.dumps(data, indent=1))
    _write(out / "similarity.html", render(out, data, shown, len(submissions), len(entries) - len(submissions), entries, images))
    return Integrity(flags, public_pairs, groups, problems)


def write_safely(out: Path, submissions: list[Submission], comparison: Comparison | None = None, **options) -> Integrity:
    """write_similarity (or the pages of a started Comparison); a failure becomes a problem (flags None, no page)
    and never costs the class its report."""
    try:
        if comparison is not None:
            return comparison.write(imports=options.get("imports"), images=options.get("images"))
        return write_similarity(out, submissions, **options)
    except Exception as error:  # noqa: BLE001 - hints are optional, the grades are not
        for name in ("similarity.html", "similarity.json"):
            (Path(out) / name).unlink(missing_ok=True)
        return Integrity(None, [], [], [f"similarity.html was not written: {type(error).__name__}: {error}"])


def render(out: Path, data: dict, shown: list[dict], count: int, others: int, entries: list[Entry], images=None) -> str:
    from grader.outputs import report

    pictures = {}
    images = images or report.ImageCache(out / "results" / report.IMAGES)
    for g in data["plots"]:
        for key in g["members"][:4]:
            path = next((e.plots.get(g["plot"]) for e in entries if e.key == key), None)
            if path is not None:
                pictures[(key, g["plot"])] = report.data_uri(images.check_png(path).png)
    template = report.environment().get_template(TEMPLATE)
    return template.render(csp=report.CSP, data=data, rows=data["pairs"][:MAX_ROWS], shown=shown, count=count,
                           others=others, pictures=pictures, max_rows=MAX_ROWS, plot_distance=PLOT_DISTANCE)  # fmt: skip


def prune(folder: Path, keep: set[str]) -> None:
    """Forget kept fingerprints this run did not use (and leftovers of interrupted writes)."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.endswith(".partial") or (path.suffix == ".json" and path.name not in KEPT and path.stem not in keep):
                path.unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)

