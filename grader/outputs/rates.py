"""The class page's pass rates: one line per test function, its parametrized cases folded under it.

A parametrized hidden test is one entry of the answer key per case (`test_backward[relu-mse]`), and its
question carries the case's parameters after it ("Does ...? (activation: relu, loss: mse)", written by
grader.grading.plugin). A tutor reads the function first and opens the cases only when one stands out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CaseRate:
    """One case of a parametrized test: how many submissions passed it."""

    params: str  # the case's parameters as the question states them ("activation: relu, loss: mse")
    points: float
    passed: int
    rate: int  # percent of the class, rounded


@dataclass
class TestRate:
    """One test function: its question, its points over all cases and the share of case runs passed."""

    name: str  # the test function ("test_backward_gradient_check")
    doc: str  # its question, without a case's parameters
    points: float  # summed over its cases
    passed: int  # (submission, case) runs that passed
    runs: int  # submissions x cases
    rate: int  # percent of runs passed, rounded
    cases: list[CaseRate] = field(default_factory=list)  # empty for a test without parameters

    __test__ = False  # not a pytest class


def split_case(test_id: str, doc: str) -> tuple[str, str, str]:
    """(function name, question, parameters) of one answer-key entry; parameters "" without a case."""
    name, bracket, rest = test_id.partition("[")
    if not bracket:
        return name, doc, ""
    cut = doc.rfind(" (")
    if cut > 0 and doc.endswith(")"):
        return name, doc[:cut], doc[cut + 2 : -1]
    return name, doc, rest.rstrip("]")


def pass_rates(key, passed: list[int], count: int) -> list[TestRate]:
    """The answer key's tests grouped by function, in key order; `passed[i]`: submissions that passed key[i]."""
    groups: dict[str, TestRate] = {}
    for test, wins in zip(key, passed):
        name, doc, params = split_case(test.id, test.doc)
        group = groups.setdefault(name, TestRate(name, doc, 0.0, 0, 0, 0))
        group.points = round(group.points + test.points, 4)
        group.passed += wins
        group.runs += count
        if params:
            group.cases.append(CaseRate(params, test.points, wins, round(100 * wins / count) if count else 0))
    for group in groups.values():
        group.rate = round(100 * group.passed / group.runs) if group.runs else 0
    return list(groups.values())
