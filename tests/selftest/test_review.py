"""`grader review` without a browser: the safe Markdown renderer, the manual sheet's writer, the app's rules.

The app runs on Flask's test client over a copy of the graded sample class (see conftest.py), with
no copy of the submissions in it (intake works in a temporary folder): the app must work from the output folder alone.
"""

from __future__ import annotations

import csv
import re
import shutil
import sys
from html import unescape

import pytest
from classroom import manual_scores

from grader.outputs import manual
from grader.outputs.markdown import render_markdown

HOSTILE = """# Title <script>document.title='x'</script>
[click](http://evil.example/steal) and <http://evil.example/auto> and ![pic](http://evil.example/p.png)
<img src=x onerror="alert(1)"> <iframe src="http://evil.example"></iframe>
[js](javascript:alert(1)) *fine* `code`
"""


def test_markdown_renders_hostile_text_as_text():
    """Does a hostile REPORT.md become headings and emphasis, with every tag escaped and no live link or image?"""
    html = str(render_markdown(HOSTILE))
    assert "<h1>Title &lt;script&gt;document.title='x'&lt;/script&gt;</h1>" in html
    assert "<em>fine</em>" in html and "<code>code</code>" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html and "&lt;iframe" in html
    tags = set(re.findall(r"<([a-z0-9]+)", html))
    assert tags <= {"h1", "p", "em", "code", "span"}, tags  # no a, img, script, iframe
    attributes = set(re.findall(r"<[a-z0-9]+([^>]*)>", html))
    assert attributes <= {"", ' class="md-link"', ' class="md-href"', ' class="md-image"'}, attributes  # no href, src, on*
    assert '<span class="md-link">click</span> <span class="md-href">&lt;http://evil.example/steal&gt;</span>' in html


def test_manual_sheet_save_keeps_every_other_cell(tmp_path):
    """Does save_points change only the given cells of one row, keeping hand-typed rows, bad cells and extra columns?"""
    sheet = tmp_path / "manual.csv"
    with open(sheet, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*manual.COLUMNS, "tutor"])
        writer.writerow(["a", "s1", "abc", "6", "3", "4", "by hand", "kim"])
    with manual.locked(sheet):
        manual.save_points(sheet, "b", ["s2", "s3"], {"plots_points": "5.5", "comment": "new, with a comma"})
        manual.save_points(sheet, "a", ["s1"], {"comment": "changed"})
    with open(sheet, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0] == {"submission": "a", "students": "s1", "plots_points": "abc", "plots_max": "6", "report_points": "3",
                       "report_max": "4", "comment": "changed", "tutor": "kim"}  # fmt: skip
    assert rows[1]["submission"] == "b" and rows[1]["students"] == "s2 s3" and rows[1]["plots_points"] == "5.5"
    read = manual.read_manual(sheet, {"a", "b"})
    assert read.of("b") == {"plots": 5.5, "report": None} and read.comments["b"] == "new, with a comma"
    assert read.of("a") == {"plots": None, "report": 3.0} and "'abc' is not a number from 0 to 6" in read.problems[0]
    assert not list(tmp_path.glob("*.partial"))


@pytest.fixture()
def app(graded_class, tmp_path):
    from grader.outputs import review

    out = tmp_path / "out"
    shutil.copytree(graded_class, out)
    assert not (out / ".intake").exists()  # grader grade keeps no copy of the submissions in --out
    (out / "manual.csv").unlink(missing_ok=True)
    (out / "similarity.json").write_text('{"flags": {"bob-partly-wrong": ["<b>same</b> code as ada-lovelace (92 %)"]}}')
    desk = review.Desk(out, out / "manual.csv")
    flask_app = review.create_app(desk, "tok")
    flask_app.config["out"] = out
    return flask_app


def test_review_refuses_requests_without_token(app):
    """Is every address outside /<token>/ refused, and another Host header too?"""
    client = app.test_client()
    for path in ("/", "/s/ada-lovelace", "/toke/", "/tokx/s/ada-lovelace", "/static/review.js", "/tok2/"):
        assert client.get(path).status_code == 403, path
    assert client.get("/tok/").status_code == 200
    app.config["REVIEW_HOSTS"] = {"127.0.0.1:5"}
    assert client.get("/tok/", headers={"Host": "evil.example:5"}).status_code == 403
    assert client.get("/tok/", headers={"Host": "127.0.0.1:5"}).status_code == 200


def test_review_page_shows_submission_with_strict_csp(app):
    """Does a page show students, score, lost tests, both plots twice, rubric, similarity flags (escaped), under a CSP?"""
    page = app.test_client().get("/tok/s/bob-partly-wrong")
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert "40 / 60" in html and "test_sigmoid_grad_values" in html and "sigmoid_grad(z) is not s(z)(1 - s(z))" in html
    assert html.count('src="data:image/png;base64,') == 4  # two plots as submitted, two re-drawn
    assert unescape(html).count("re-drawn by the grader from the submission's code, run by the grader at the "
                                "template's learning rates") == 2  # each redraw says what it is
    assert manual.RUBRIC["plots"][1] in html and manual.RUBRIC["report"][2] in html
    assert "&lt;b&gt;same&lt;/b&gt; code as ada-lovelace" in html
    assert " style=" not in html and "<script>" not in html  # nothing the CSP would block


def test_review_refuses_invalid_points(app):
    """Are out-of-range or non-numeric points, or an unreadable sheet, refused with a message, and nothing written?"""
    client = app.test_client()
    page = client.post("/tok/s/ada-lovelace", data={"plots": "7", "report": "x", "comment": "", "loaded_plots": "",
                                                    "loaded_report": "", "loaded_comment": ""})  # fmt: skip
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "plots: &#39;7&#39; is not a number from 0 to 6; nothing was saved" in html and "report: &#39;x&#39;" in html
    assert 'value="7"' in html  # what was typed stays in the form
    assert not (app.config["out"] / "manual.csv").exists()
    (app.config["out"] / "manual.csv").write_bytes(b"submission,plots_points\n\xff\xfe,1\n")  # not UTF-8
    page = client.post("/tok/s/ada-lovelace", data={"plots": "6", "loaded_plots": ""})
    assert page.status_code == 422 and "could not be updated" in page.get_data(as_text=True)
    assert (app.config["out"] / "manual.csv").read_bytes() == b"submission,plots_points\n\xff\xfe,1\n"


def test_review_saves_per_field_and_updates_outputs(app):
    """Do two tabs' saves both survive (different fields), last write win on one field, and every output follow?"""
    out = app.config["out"]
    tab_a, tab_b = app.test_client(), app.test_client()
    blank = {"loaded_plots": "", "loaded_report": "", "loaded_comment": ""}
    done = tab_a.post("/tok/s/bob-partly-wrong", data={"plots": "5", "report": "", "comment": "", **blank}, follow_redirects=True)
    assert done.status_code == 200 and "saved to manual.csv" in done.get_data(as_text=True)
    done = tab_b.post("/tok/s/bob-partly-wrong", data={"plots": "", "report": "3,5", "comment": "Nice <b>plots</b>", **blank},
                      follow_redirects=True)  # fmt: skip
    assert "plots: another tab saved &#39;5&#39; meanwhile; kept" in done.get_data(as_text=True)
    assert tab_a.get("/tok/api/s/bob-partly-wrong").get_json() == {"plots": "5", "report": "3.5", "comment": "Nice <b>plots</b>"}
    done = tab_b.post("/tok/s/bob-partly-wrong", data={"plots": "2", "report": "3.5", "comment": "Nice <b>plots</b>",
                                                       **blank, "loaded_report": "3.5", "loaded_comment": "Nice <b>plots</b>"},
                      follow_redirects=True)  # fmt: skip
    assert "plots: another tab had saved &#39;5&#39;; replaced by yours, &#39;2&#39;" in done.get_data(as_text=True)

    sheet = manual.read_manual(out / "manual.csv", {"bob-partly-wrong"})
    assert sheet.of("bob-partly-wrong") == {"plots": 2.0, "report": 3.5} and not sheet.problems
    with open(out / "grades.csv", newline="") as handle:
        bob = next(r for r in csv.DictReader(handle) if r["student"] == "bob-partly-wrong")
    assert (bob["points"], bob["plots_points"], bob["report_points"]) == ("45.5", "2", "3.5")
    feedback = (out / "feedback" / "bob-partly-wrong.html").read_text()
    assert "plots 2 / 6; report 3.5 / 4" in re.sub(r"\s+", " ", feedback) and "Nice &lt;b&gt;plots&lt;/b&gt;" in feedback
    assert manual_scores(out / "gradebook.db", "bob-partly-wrong") == {"plots": 2.0, "report": 3.5}
    index = app.test_client().get("/tok/?todo=1").get_data(as_text=True)
    assert "<b>1 of 7</b> submissions fully graded" in index and "/tok/s/bob-partly-wrong" not in index


@pytest.mark.parametrize("damage", ["not json", '{"label": "x"}', "overwritten by the class"])
def test_review_survives_one_malformed_entry(app, damage):
    """With one submission's snapshot entry damaged (a folder once named `class` overwrote it with the class's
    head), does the app list it as broken, serve every other submission, and refuse saves that would drop it?"""
    from grader.outputs import review, snapshot

    out = app.config["out"]
    entry = out / "review" / "bob-partly-wrong.json"
    entry.write_text((out / "review" / "class.json").read_text() if damage.startswith("overwritten") else damage)
    snap = snapshot.read_snapshot(out)
    assert set(snap.broken) == {"bob-partly-wrong"} and "review/bob-partly-wrong.json cannot be read" in snap.broken["bob-partly-wrong"]
    assert len(snap.submissions) == len(snap.views) == 6 and "bob-partly-wrong" not in snap.results
    client = review.create_app(review.Desk(out, out / "manual.csv"), "tok").test_client()  # started on the damaged folder
    index = client.get("/tok/").get_data(as_text=True)
    assert 'id="broken"' in index and "bob-partly-wrong: review/bob-partly-wrong.json cannot be read" in index
    assert "/tok/s/ada-lovelace" in index and client.get("/tok/s/ada-lovelace").status_code == 200
    assert client.get("/tok/s/bob-partly-wrong").status_code == 404
    grades = (out / "grades.csv").read_bytes()
    page = client.post("/tok/s/ada-lovelace", data={"plots": "6", "loaded_plots": ""})
    assert page.status_code == 422 and "nothing was saved: 1 entry of the review snapshot cannot be read" in page.get_data(as_text=True)
    assert (out / "grades.csv").read_bytes() == grades and not (out / "manual.csv").exists()


def test_review_never_imports_the_grading_runtime():
    """Does the review app load without the harness or the sandbox (it never runs submission code)?"""
    import subprocess

    # grader.sandbox.error (the error root, one class, stdlib only) and the package's lazy __init__ may load
    code = ("import sys, grader.outputs.review; bad = [m for m in sys.modules if m.startswith(('grader.sandbox', "
            "'grader.grading.harness', 'grader.grading.plugin', 'matplotlib')) and m not in ('grader.sandbox', "
            "'grader.sandbox.error')]; print(bad); sys.exit(bool(bad))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr



def test_review_save_says_moodle_files_are_stale(app):
    """After a save, the Moodle files `grader grade --worksheet` wrote no longer hold the grades: the message and
    the report say so, and how to refresh them."""
    out = app.config["out"]
    blank = {"loaded_plots": "", "loaded_report": "", "loaded_comment": ""}
    done = app.test_client().post("/tok/s/bob-partly-wrong", data={"plots": "5", "report": "", "comment": "", **blank},
                                  follow_redirects=True)  # fmt: skip
    assert "STALE" not in done.get_data(as_text=True)  # no Moodle files here: nothing to say
    (out / "moodle").mkdir()
    (out / "moodle" / "grades-upload.csv").write_text("Identifier,Grade\n")
    done = app.test_client().post("/tok/s/bob-partly-wrong", data={"plots": "4", "report": "", "comment": "", **blank,
                                                                   "loaded_plots": "5"}, follow_redirects=True)  # fmt: skip
    assert "feedback-files.zip are STALE" in done.get_data(as_text=True) and "again" in done.get_data(as_text=True)
    attention = (out / "report.html").read_text().split("<b>Attention</b>", 1)[1].split("</div>", 1)[0]
    assert "are STALE" in attention and "grader grade" in attention
