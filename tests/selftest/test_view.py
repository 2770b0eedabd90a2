"""The typed outputs contract (grader/outputs/view.py): the one score formula, SubmissionView, Written, the snapshot."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from grader.grading.intake import Submission
from grader.grading.results import Result, TestResult
from grader.outputs import manual, report, snapshot
from grader.outputs.view import Absent, Figure, SubmissionView, TestLine, Written, check_template, score


def make_view(**changes) -> SubmissionView:
    fields = dict(id="ann", label="Ann_1_assignsubmission_file_", members=["ann"], status="graded", reason="",
                  backend="bwrap", seconds=1.5, late="", penalty=0.0, max_points=110.0, auto_points=40.0, auto_max=100.0,
                  tests=[TestLine("test_a", 60.0, 40.0, "failed", 0.1, "Does a?", "expected 1, got 2", 20.0),
                         TestLine("test_b", 40.0, 0.0, "passed", 0.1, "Does b?", "", 0.0)],
                  problems=[], ignored=[], figures=[Figure("lr.png", None, "missing", "data:image/png;base64,AA==")],
                  history_problem="", redraw_note="", report=report.plots.ReportText("text", {"lr": ["expected"]}, ""), log="log",
                  stamp="graded today", integrity=["a hint"], points=40.0, manual=[("plots", None, 5.0)],
                  manual_comment="", people=[("222", "Ann <b>Lee</b>")])  # fmt: skip
    return SubmissionView(**{**fields, **changes})


@pytest.mark.parametrize("auto, manual_points, penalty, expected", [(40, 5, 0.0, 45.0), (40, 5, 0.1, 40.5),
                                                                     (100, 10, 0.5, 55.0), (1 / 3, 0, 0.0, 0.3333)])  # fmt: skip
def test_score_adds_manual_points_and_takes_the_penalty_off_the_sum(auto, manual_points, penalty, expected):
    """Is a submission's score (auto + manual) x (1 - penalty), rounded to 4 places?"""
    assert score(auto, manual_points, penalty) == expected


def test_a_view_without_a_field_fails_where_it_is_built():
    """Does building a SubmissionView without one of its fields fail at once (not when a page is rendered)?"""
    fields = {f.name: getattr(make_view(), f.name) for f in dataclasses.fields(SubmissionView)}
    del fields["penalty"]
    with pytest.raises(TypeError, match="penalty"):
        SubmissionView(**fields)


def test_with_manual_scores_with_the_penalty():
    """Does with_manual set the manual parts, the comment and score(auto, manual, penalty), leaving the view as it was?"""

    class Sheet:
        comments = {"ann": "fine"}

        def of(self, sid):
            return {part: maximum for part, maximum in manual.PARTS.items()}

        def total(self, sid):
            return manual.max_points()

    view = make_view(penalty=0.2)
    scored = view.with_manual(Sheet())
    assert scored.points == score(40.0, manual.max_points(), 0.2) and scored.manual_comment == "fine"
    assert [part for part, _, _ in scored.manual] == list(manual.PARTS) and view.points == 40.0
    assert [t.id for t in scored.lost] == ["test_a"] and not scored.unsandboxed and make_view(backend="process").unsandboxed


def test_snapshot_round_trips_the_views_and_refuses_a_view_missing_a_field(tmp_path):
    """Does the snapshot give back equal SubmissionViews and the worksheet's students without a submission (a review
    save rewrites grades.csv with them), and list a view missing a field as broken (not a page error)?"""
    sub = Submission(id="ann", label="Ann", folder=tmp_path, members=["ann"])
    result = Result("ann", "graded", [TestResult("test_a", 60.0, 40.0, "failed"), TestResult("test_b", 40.0, 0.0, "passed")])
    view = make_view()
    snapshot.write_snapshot(tmp_path, submissions=[sub], results={"ann": result}, key=result.tests, views=[view],
                            notes=["a note"], banner=None, course_id="exercise02",
                            absent=[Absent("105", "Zoë <i>Ünal</i>", "zoe@uni.example", None, "left blank")])  # fmt: skip
    back = snapshot.read_snapshot(tmp_path)
    assert back.views == [view] and back.notes == ["a note"] and back.results["ann"].tests == result.tests
    assert back.absent == [Absent("105", "Zoë <i>Ünal</i>", "zoe@uni.example", None, "left blank")]
    path = tmp_path / snapshot.FOLDER / "ann.json"
    data = json.loads(path.read_text())
    del data["view"]["manual_comment"]
    path.write_text(json.dumps(data))
    broken = snapshot.read_snapshot(tmp_path)
    assert broken.views == [] and "manual_comment" in broken.broken["ann"]


def test_templates_are_checked_against_the_view_when_loaded():
    """Do the shipped page templates read only fields the view defines, and does one reading an unknown field fail on load?"""
    import jinja2

    report.environment.cache_clear()
    report.environment()  # checks report.html.j2
    env = jinja2.Environment(loader=jinja2.DictLoader({"page.j2": "{{ v.points }} {% for t in v.tests %}{{ t.lost }}{% endfor %}"
                                                                  "{{ v.report.note }}{{ r.anything }}"}))  # fmt: skip
    check_template(env, "page.j2")
    env.loader.mapping["page.j2"] += "{% for f in v.figures %}{{ f.caption }}{% endfor %}{{ v.total }}"
    with pytest.raises(AttributeError, match=r"Figure\.caption, SubmissionView\.total"):
        check_template(env, "page.j2")


def test_written_lists_every_file_it_wrote(tmp_path):
    """Does Written.files() list the pages, the class files and the manual template (for the output folder's manifest)?"""
    written = Written(report_html=tmp_path / "report.html", grades_csv=tmp_path / "grades.csv",
                      results_csv=tmp_path / "results.csv", gradebook_db=tmp_path / "gradebook.db",
                      feedback=tmp_path / "feedback", pages=[tmp_path / "feedback" / "ann.html"])  # fmt: skip
    assert len(written.files()) == 5 and tmp_path / "feedback" not in written.files()
    written.manual_template = tmp_path / "manual-template.csv"
    assert written.files()[-1] == Path(tmp_path / "manual-template.csv")
