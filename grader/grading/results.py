"""What grading one submission produced: the leaf data model that harness, store, report and gradebook speak.

A `Result` always exists, whatever happened to the submission (failures are data):

    status      graded | import-error | no-code | syntax-error | timeout | crashed
                (import-error: the suite ran, but importing the file failed, so every test failed alike)
    tests       one TestResult per test of the answer key (the reference run), in its order
    reason      for the tutor: why the submission was not graded normally ("" when graded)

Manual points (plots, REPORT.md) are not part of a Result; see grader.outputs.manual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GRADED, NO_CODE, SYNTAX_ERROR, TIMEOUT, CRASHED = "graded", "no-code", "syntax-error", "timeout", "crashed"
IMPORT_ERROR = "import-error"
STATUSES = (GRADED, IMPORT_ERROR, NO_CODE, SYNTAX_ERROR, TIMEOUT, CRASHED)
DID_NOT_RUN = "did not run"


@dataclass
class TestResult:
    id: str
    points: float  # what the answer key says the test is worth
    earned: float
    outcome: str  # passed | failed | error | skipped | did not run
    seconds: float = 0.0
    doc: str = ""  # the test's question, shown in feedback
    message: str = ""  # the failure text the test chose; never test code

    __test__ = False  # not a pytest class

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class Result:
    submission: str  # the submission's id (see grader.grading.intake)
    status: str
    tests: list[TestResult] = field(default_factory=list)
    reason: str = ""
    backend: str | None = None
    seconds: float = 0.0  # wall time of the grading run
    log: str = ""  # the tail of the pytest process's own output: for the tutor, never parsed
    artifacts: dict = field(default_factory=dict)
    key: str = ""  # the store key this result was computed for
    worker: str = ""  # host:pid of the process that ran the suite (the coordinator's with the local pool)
    stopped: list = field(default_factory=list)  # limits that stopped a worker (cpu, wall, killed) or cut a test (timeout): graded again next run
    usage: dict = field(default_factory=dict)  # the submission's cgroup counters: cpu_seconds, peak_mib

    @property
    def points(self) -> float:
        return round(sum(t.earned for t in self.tests), 4)

    @property
    def max_points(self) -> float:
        return round(sum(t.points for t in self.tests), 4)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Result":
        tests = [TestResult(**t) for t in data.get("tests", [])]
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "tests"}
        return cls(tests=tests, **fields)


def against_key(submission: str, raw_tests: list[dict], key_tests: list[TestResult]) -> list[TestResult]:
    """The submission's tests scored against the answer key: its list, its points, "did not run" when absent."""
    by_id = {}
    for raw in raw_tests:
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            by_id[raw["id"]] = raw
    scored = []
    for key in key_tests:
        raw = by_id.get(key.id)
        if raw is None:
            scored.append(TestResult(key.id, key.points, 0.0, DID_NOT_RUN, 0.0, key.doc, DID_NOT_RUN))
            continue
        outcome = str(raw.get("outcome", DID_NOT_RUN))
        if outcome == "not run":
            outcome = DID_NOT_RUN
        seconds = raw.get("seconds", 0.0)
        scored.append(
            TestResult(
                id=key.id,
                points=key.points,
                earned=key.points if outcome == "passed" else 0.0,
                outcome=outcome,
                seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0,
                doc=key.doc,
                message=str(raw.get("message") or (DID_NOT_RUN if outcome == DID_NOT_RUN else "")),
            )
        )
    return scored


def unrun(key_tests: list[TestResult], message: str) -> list[TestResult]:
    """Every test of the key, failed with one message (no code, syntax error, crash, timeout)."""
    return [TestResult(t.id, t.points, 0.0, DID_NOT_RUN, 0.0, t.doc, message) for t in key_tests]
