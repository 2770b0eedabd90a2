"""Academic integrity: similar code and plots (grader.outputs.similarity); the from-scratch rule: test_rule.py.

One similarity run over a planted class (module fixture) serves most tests; the "Done means" scenario
grades a class end to end with the stand-in suite (grading itself is not the point here).
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from classroom import KIT, grade
from copies import recommented, renamed, reordered

from grader.grading.intake import Submission
from grader.outputs import fingerprint, similarity

ALTERNATIVES = KIT / "tests" / "selftest" / "alternatives"
SAMPLE_PLOTS = KIT / "submissions" / "ada-lovelace" / "plots"
HOSTILE = '\nBANNER = "</pre><script>alert(1)</script><mark>"\n'


def source(name: str) -> str:
    return (ALTERNATIVES / f"{name}.py").read_text()


def make_submission(root: Path, sub_id: str, code: str, members=None, plots: Path | None = None) -> Submission:
    folder = root / sub_id
    folder.mkdir(parents=True)
    (folder / "exercise02_template.py").write_text(code)
    found = {}
    if plots is not None:
        shutil.copytree(plots, folder / "plots")
        found = {f"plots/{p.name}": p for p in sorted((folder / "plots").glob("*.png"))}
    return Submission(id=sub_id, label=sub_id, folder=folder, code=folder / "exercise02_template.py",
                      plots=found, members=members or [sub_id])  # fmt: skip


def other_plots(root: Path) -> Path:
    """Two plots unlike the kit's: diagonal stripes."""
    from PIL import Image, ImageDraw

    folder = root / "stripes"
    folder.mkdir()
    for index, name in enumerate(("lr_loss_curves.png", "lr_accuracy.png")):
        image = Image.new("RGB", (480, 320), "white")
        draw = ImageDraw.Draw(image)
        for x in range(-320, 480, 40 + 20 * index):
            draw.line([(x, 0), (x + 320, 320)], fill="black", width=9)
        image.save(folder / name)
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The three alternatives, a renamed, a reordered and a recommented copy, the bare template, one group twice."""
    root = tmp_path_factory.mktemp("planted")
    stripes = other_plots(root)
    subs = [
        make_submission(root, "alt-cached", source("cached_activations"), plots=SAMPLE_PLOTS),
        make_submission(root, "alt-einsum", source("einsum_inplace"), plots=stripes),
        make_submission(root, "alt-layers", source("layer_objects")),
        make_submission(root, "copy-renamed", renamed(source("cached_activations")) + HOSTILE, plots=SAMPLE_PLOTS),
        make_submission(root, "copy-reordered", reordered(source("einsum_inplace"))),
        make_submission(root, "copy-recommented", recommented(source("layer_objects"))),
        make_submission(root, "bare-template", (KIT / "exercise02_template.py").read_text()),
        make_submission(root, "group-first", source("cached_activations"), members=["s1", "s2"]),
        make_submission(root, "group-again", source("cached_activations"), members=["s2"]),
    ]
    out = root / "out"
    found = similarity.write_similarity(out, subs, kit=KIT, jobs=1, imports={})
    return out, found, subs


def pair_set(pairs) -> set:
    return {frozenset((p["a"], p["b"])) for p in pairs}


def test_copies_are_found_and_ranked(planted):
    """Are renamed-variable, reordered-function and changed-comment copies flagged, sharing most of each file?"""
    out, found, _ = planted
    pairs = {frozenset((p["a"], p["b"])): p for p in found.pairs}
    for original, copy in [("alt-cached", "copy-renamed"), ("alt-einsum", "copy-reordered"), ("alt-layers", "copy-recommented")]:
        pair = pairs[frozenset((original, copy))]
        assert min(pair["share_a"], pair["share_b"]) >= 0.85, pair
    shares = [max(p["share_a"], p["share_b"]) for p in found.pairs]
    assert shares == sorted(shares, reverse=True)
    assert any("code matches copy-renamed" in hint for hint in found.flags["alt-cached"])


def test_alternatives_and_template_are_not_flagged(planted):
    """Are the kit's independent alternatives below the threshold against each other, and the bare template matched with nothing?"""
    _, found, _ = planted
    flagged = pair_set(found.pairs)
    for a, b in itertools.combinations(["alt-cached", "alt-einsum", "alt-layers", "kit: solutions/exercise02.py"], 2):
        assert frozenset((a, b)) not in flagged
    assert not [p for p in found.pairs if "bare-template" in (p["a"], p["b"])]
    assert "bare-template" not in found.flags


def test_members_of_one_group_are_one_submission(planted):
    """Are two submissions that share a student never paired, while each still matches the others?"""
    _, found, _ = planted
    flagged = pair_set(found.pairs)
    assert frozenset(("group-first", "group-again")) not in flagged
    assert frozenset(("group-first", "alt-cached")) in flagged and frozenset(("group-again", "alt-cached")) in flagged


def test_plots_identical_to_each_other_and_to_the_kit(planted):
    """Do two submissions with the kit's sample plots form a group with the kit's plot, and a different plot none?"""
    _, found, _ = planted
    for name in ("lr_loss_curves.png", "lr_accuracy.png"):
        group = next(g for g in found.plots if g["plot"] == name)
        assert {"alt-cached", "copy-renamed"} <= set(group["members"])
        assert any(m.startswith("kit: submissions/") for m in group["members"])
    assert not [g for g in found.plots if "alt-einsum" in g["members"]]
    assert any("lr_accuracy.png is the same picture as" in hint for hint in found.flags["copy-renamed"])


def test_page_and_json(planted):
    """Is similarity.html self-contained, script-free and escaped, with the pairs side by side; and similarity.json in shape?"""
    out, found, _ = planted
    page = (out / "similarity.html").read_text()
    assert "<script" not in page.lower() and "&lt;/pre&gt;&lt;script&gt;" in page
    assert "default-src &#39;none&#39;" in page and 'src="http' not in page
    assert page.count('<section class="card" id="pair-') == len(found.pairs) and "<mark>" in page
    data = json.loads((out / "similarity.json").read_text())
    assert set(data) >= {"flags", "pairs"} and data["flags"] == found.flags
    assert all(isinstance(h, str) and "\n" not in h for hints in data["flags"].values() for h in hints)
    assert {"a", "b", "share_a", "share_b", "matched"} <= set(data["pairs"][0])


def test_screening_loses_no_pair(planted):
    """Does the screened comparison find every pair that a full comparison of all pairs finds?"""
    out, _, subs = planted
    folder = out / "results" / fingerprint.FOLDER
    baseline = (KIT / "exercise02_template.py").read_text()
    keys = [fingerprint.digest(s.code.read_text(), baseline) for s in subs]
    threshold = 0.2  # low, so pairs of the independent alternatives sit near it
    screened = {(i, j) for i, j, *_ in fingerprint.compare(keys, folder, 1, threshold)}
    full = set()
    for i, j in itertools.combinations(range(len(keys)), 2):
        share_a, share_b, overlap, _, _ = fingerprint.matched(fingerprint.load(folder, keys[i]), fingerprint.load(folder, keys[j]))
        if max(share_a, share_b) >= threshold and overlap >= fingerprint.MIN_MATCH:
            full.add((i, j))
    assert full and screened == full


def test_archive_and_kept_fingerprints(planted, tmp_path, monkeypatch):
    """Does --compare-with pair a submission with an earlier term's copy (never archive with archive), a second run reuse
    the comparison, and a run with another threshold the fingerprints?"""
    _, _, subs = planted
    archive = tmp_path / "term-2025"
    (archive / "old-student").mkdir(parents=True)
    (archive / "old-student" / "exercise02.py").write_text(source("einsum_inplace"))
    (archive / "loose.py").write_text(source("einsum_inplace"))
    current = [s for s in subs if s.id in ("copy-reordered", "alt-layers")]
    out = tmp_path / "out"
    found = similarity.write_similarity(out, current, kit=KIT, jobs=1, compare_with=[archive])
    assert pair_set(found.pairs) == {frozenset(("copy-reordered", "archive: term-2025/old-student/exercise02.py")),
                                     frozenset(("copy-reordered", "archive: term-2025/loose.py"))}  # fmt: skip
    ops = []
    real = fingerprint.run_children
    monkeypatch.setattr(fingerprint, "run_children", lambda tasks, *args: ops.extend(t["op"] for t in tasks) or real(tasks, *args))
    again = similarity.write_similarity(out, current, kit=KIT, jobs=1, compare_with=[archive])
    assert again.pairs == found.pairs and ops == []
    lower = similarity.write_similarity(out, current, kit=KIT, jobs=1, compare_with=[archive], threshold=0.3)
    assert pair_set(lower.pairs) >= pair_set(found.pairs) and ops[0] == "compare" and "fingerprint" not in ops


# --------------------------------------------------------------------------- Done means


def test_done_means_class(tmp_path):
    """Does grading a class with a renamed copy, a reordered copy and a scipy import flag exactly those, side by side?"""
    source_dir = tmp_path / "class"
    layers = source("layer_objects").replace("import numpy as np\n", "import numpy as np\nimport scipy.special\n", 1)
    codes = {"ana": source("cached_activations"), "ben": renamed(source("cached_activations")),
             "cem": source("einsum_inplace"), "dora": reordered(source("einsum_inplace")), "eli": layers}  # fmt: skip
    for name, code in codes.items():
        (source_dir / name).mkdir(parents=True)
        (source_dir / name / "exercise02_template.py").write_text(code)
    out = tmp_path / "out"
    grade(source_dir, out)
    data = json.loads((out / "similarity.json").read_text())
    assert pair_set(data["pairs"]) == {frozenset(("ana", "ben")), frozenset(("cem", "dora"))}
    assert list(data["imports"]) == ["eli"] and [f["module"] for f in data["imports"]["eli"]] == ["scipy"]
    assert set(data["flags"]) == {"ana", "ben", "cem", "dora", "eli"}
    page = (out / "similarity.html").read_text()
    assert page.count('<section class="card" id="pair-') == 2 and "<mark>" in page
    report = (out / "report.html").read_text()
    assert 'href="similarity.html"' in report and "code matches ben" in report
    feedback = (out / "feedback" / "eli.html").read_text()
    assert "imports scipy" in feedback and "from-scratch rule" in feedback
    assert "matches" not in (out / "feedback" / "ana.html").read_text()


def test_a_failing_check_never_costs_the_report(tmp_path, monkeypatch):
    """Does a crash of the similarity check become a problem, with no stale page left, instead of an exception?"""
    (tmp_path / "similarity.html").write_text("stale")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(similarity, "write_similarity", broken)
    found = similarity.write_safely(tmp_path, [], kit=KIT)
    assert found.flags is None and "RuntimeError: boom" in found.problems[0]
    assert not (tmp_path / "similarity.html").exists()


def test_fingerprint_keys_name_the_tokeniser_and_the_string_hash(monkeypatch):
    """Does a kept fingerprint's key change with pygments' version (its tokens) and name the interpreter's string
    hash (copydetect's k-gram hashes), so that files kept by another installation are computed again?"""
    import sys
    from importlib import metadata

    text, real = "def f(x):\n    return x + 1\n", metadata.version
    before = fingerprint.digest(text, "")
    assert sys.hash_info.algorithm in fingerprint.version()
    fingerprint.version.cache_clear()
    monkeypatch.setattr(metadata, "version", lambda name: "0.0" if name == "pygments" else real(name))
    try:
        assert fingerprint.digest(text, "") != before
    finally:
        fingerprint.version.cache_clear()
        fingerprint.method.cache_clear()
