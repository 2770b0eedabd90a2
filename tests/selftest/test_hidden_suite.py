"""The hidden suite, tested: strict on real bugs, fair to every correct implementation.

* the reference solution gets 100/100 (in-process, and sandboxed when the sandbox can run here);
* no vacuous points: the generated template and a "constant outputs of the right shape" file
  (impostors.py) get 0 from every test that is not about given code;
* every mutant of mutants.py loses points on each hidden test listed for it (only those run);
* every benign rewrite (mutants.BENIGN) and every alternative implementation in alternatives/
  gets 100/100;
* trusted code never crashes: for every run above and two hostile files (impostors.py: lists, None,
  strings, float32, NaN, wrong shapes, replaced attributes), no test ends in an internal error
  (outcome "error") and no message names the kit's own types or files;
* the rubric (the points markers) sums to 100 and every test asks a question.

The hidden suite runs in subprocesses exactly as the harness runs it (`python -m pytest tests/hidden
--submission FILE -p grader.grading.plugin --results-json OUT`), two at a time; each check reads OUT.

    python tests/selftest/test_hidden_suite.py      # prints the mutation summary (mutant -> test -> message)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import fairness  # noqa: E402
import impostors  # noqa: E402
import mutants  # noqa: E402

sys.path.insert(0, str(KIT / "tests" / "hidden"))
import blame  # noqa: E402  (which function each hidden test judges)

SOLUTION = KIT / "solutions" / "exercise02.py"
TEMPLATE = KIT / "exercise02_template.py"
ALTERNATIVES = sorted((HERE / "alternatives").glob("*.py"))
WORKERS = max(1, min(2, os.cpu_count() or 1))
pytestmark = pytest.mark.timeout(2400)  # the first test waits for every run (about 5 minutes on 2 idle cores)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def run_hidden(submission: Path, out: Path, nodeids=None, *, sandbox=False, seed=20261124) -> dict:
    """Run the hidden suite (or some of its tests) on `submission`; the results.json it wrote."""
    command = [sys.executable, "-m", "pytest", *(nodeids or ["tests/hidden"]), "--submission", str(submission),
               "-p", "grader.grading.plugin", "--results-json", str(out), "-q", "-p", "no:cacheprovider",
               "--seed", str(seed)]
    if not sandbox:
        command.append("--in-process")
    done = subprocess.run(command, cwd=KIT, env=ENV, capture_output=True, text=True, timeout=600)
    if not out.is_file():
        raise AssertionError(f"the hidden suite wrote no results (exit {done.returncode}):\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def score(results: dict) -> tuple[float, float]:
    tests = results["tests"]
    return sum(t["earned"] for t in tests), sum(t["points"] for t in tests)


def failing(results: dict) -> list[str]:
    return [f"{t['id']}: {t['outcome']}: {t['message'][:300]}" for t in results["tests"] if t["outcome"] != "passed"]


@lru_cache(maxsize=1)
def hidden_ids() -> dict:
    """test id ('test_x[case]') -> nodeid, by collecting the hidden suite once."""
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/hidden", "--collect-only", "-q", "--in-process",
                           "-p", "no:cacheprovider"], cwd=KIT, env=ENV, capture_output=True, text=True, timeout=120)
    ids = {}
    for line in done.stdout.splitlines():
        if "::" in line and line.startswith("tests/hidden/"):
            ids[line.split("::", 1)[1]] = line.strip()
    assert ids, f"could not collect the hidden suite:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return ids


def selected(selector: str, ids: dict) -> list[str]:
    """Test ids matched by a selector: a function name (every case) or an exact id."""
    return [i for i in ids if i == selector or i.split("[", 1)[0] == selector]


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) % (2 ** 31)


# --------------------------------------------------------------------------- runs (two at a time)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Every subprocess run of the meta-test, started together on WORKERS workers: name -> results."""
    base = tmp_path_factory.mktemp("hidden-suite")
    ids = hidden_ids()
    jobs = {
        "solution": lambda: run_hidden(SOLUTION, base / "solution.json"),
    }
    for kind in impostors.NAMES:  # the template and the vacuous and hostile stand-ins, whole suite each
        jobs[f"impostor:{kind}"] = lambda kind=kind: run_hidden(
            impostors.write(kind, base / "impostors" / kind), base / "impostors" / kind / "results.json",
            seed=seed_of(kind))
    for mutant in mutants.MUTANTS:
        unknown = [s for s in mutant.caught_by if not selected(s, ids)]
        assert not unknown, f"mutant {mutant.name} lists tests that do not exist: {unknown}"
        # every test but the two long learning ones (unless listed): a mutant must lose points in its own
        # function's tests only, which needs the other functions' tests run too
        nodeids = sorted({ids[i] for s in mutant.caught_by for i in selected(s, ids)}
                         | {n for i, n in ids.items() if i.split("[", 1)[0] not in fairness.LONG})

        def job(mutant=mutant, nodeids=nodeids):
            folder = base / "mutants" / mutant.name
            return run_hidden(mutants.write(mutant, folder), folder / "results.json", nodeids, seed=seed_of(mutant.name))

        jobs[f"mutant:{mutant.name}"] = job
    for mutant in mutants.BENIGN:
        jobs[f"benign:{mutant.name}"] = lambda mutant=mutant: run_hidden(
            mutants.write(mutant, base / "benign" / mutant.name), base / "benign" / mutant.name / "results.json",
            seed=seed_of(mutant.name))
    for path in ALTERNATIVES:
        jobs[f"alternative:{path.stem}"] = lambda path=path: run_hidden(
            path, base / f"alt-{path.stem}.json", seed=seed_of(path.stem))
    # the slow full-suite runs first, so the two workers stay busy to the end
    order = sorted(jobs, key=lambda k: 0 if k.split(":")[0] in ("solution", "impostor", "benign", "alternative") else 1)
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {name: pool.submit(jobs[name]) for name in order}
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except Exception as error:  # reported by the test that needs it
            results[name] = error
    summary = mutation_summary(results, ids)
    (base / "mutation_summary.md").write_text(summary)
    print("\n" + summary)
    return results


def result_of(runs, name):
    value = runs[name]
    if isinstance(value, Exception):
        raise value
    return value


def mutation_summary(results: dict, ids: dict) -> str:
    lines = ["| mutant | bug | caught by | message (excerpt) |", "|---|---|---|---|"]
    caught = 0
    for mutant in mutants.MUTANTS:
        value = results.get(f"mutant:{mutant.name}")
        if isinstance(value, Exception) or value is None:
            lines.append(f"| {mutant.name} | {mutant.description} | run failed | {str(value)[:80]} |")
            continue
        failed = [t for t in value["tests"] if t["outcome"] != "passed"]
        ok = all(any(t["id"] in selected(s, ids) for t in failed) for s in mutant.caught_by)
        caught += ok
        first = failed[0] if failed else None
        excerpt = (first["message"][:160].replace("|", "/").replace("\n", " ") if first else "")
        names = ", ".join(sorted({t["id"] for t in failed})) or "NOT CAUGHT"
        lines.append(f"| {mutant.name} | {mutant.description} | {names} | {excerpt} |")
    lines.insert(0, f"Mutation score: {caught}/{len(mutants.MUTANTS)} mutants caught by every listed test.\n")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the checks


def test_solution_gets_full_marks(runs):
    """Does the reference solution get 100/100 in-process?"""
    results = result_of(runs, "solution")
    assert score(results) == (100.0, 100.0), failing(results)


def test_rubric_sums_to_100_and_tests_ask_questions(runs):
    """Do the points markers add up to 100, and is every hidden test a named question (with its case)?"""
    tests = result_of(runs, "solution")["tests"]
    assert sum(t["points"] for t in tests) == 100.0
    for t in tests:
        name = t["id"].split("[", 1)[0]
        assert name.startswith("test_") and name.count("_") >= 2, t["id"]
        question = re.sub(r" \([^()]*\)$", "", t["doc"]) if "[" in t["id"] else t["doc"]
        assert question.endswith("?"), f"{t['id']}: docstring should be a one-line question, got {t['doc']!r}"
        if "[" in t["id"]:  # the feedback's list of passed tests must say which case passed
            assert t["doc"] != question, f"{t['id']}: the question does not name its parameters: {t['doc']!r}"


GIVEN_CODE_TESTS = {"test_mlp_rejects_bad_names"}  # about code the template gives (0 points today)
AWAITING_FIX: dict[str, set] = {}  # kind -> tests known to give vacuous points until a fix is merged (none today)


@pytest.mark.parametrize("kind", ["template", "constant"])
def test_vacuous_submission_earns_nothing(runs, kind):
    """Does a vacuous submission (the template, constant outputs) earn 0 from every test not about given code?"""
    results = result_of(runs, f"impostor:{kind}")
    allowed = GIVEN_CODE_TESTS | AWAITING_FIX.get(kind, set())
    earned = [f"{t['id']} ({t['earned']:g})" for t in results["tests"]
              if t["earned"] and t["id"].split("[", 1)[0] not in allowed]
    assert not earned, f"{kind} earned points from: {earned}"
    given = [t["id"] for t in results["tests"] if t["earned"] and t["id"].split("[", 1)[0] in GIVEN_CODE_TESTS]
    assert not given, f"tests about given code must be worth 0 points: {given}"


INTERNAL_NAMES = re.compile(r"Traceback|\bRemote\b|SubmissionRaised|StudentError|SandboxStudent|InProcessStudent|"
                            r"SubmissionError|BadReply|ProtocolError|tests/hidden|check\.py|gradients\.py|"
                            r"reference\.py|nets\.py|grader\.|def test_")


def run_names() -> list[str]:
    return (["solution"] + [f"impostor:{k}" for k in impostors.NAMES] + [f"mutant:{m.name}" for m in mutants.MUTANTS]
            + [f"benign:{m.name}" for m in mutants.BENIGN] + [f"alternative:{p.stem}" for p in ALTERNATIVES])


@pytest.mark.parametrize("name", run_names())
def test_no_internal_error(runs, name):
    """Does every test end in a verdict (never an internal error) with a message that names no kit internals?"""
    results = result_of(runs, name)
    errors = [f"{t['id']}: {t['message'][:200]}" for t in results["tests"] if t["outcome"] == "error"]
    assert not errors, f"{name}: internal errors: {errors}"
    leaks = [f"{t['id']}: {t['message'][:300]}" for t in results["tests"] if INTERNAL_NAMES.search(t["message"])]
    assert not leaks, f"{name}: messages naming the kit's internals: {leaks}"


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS])
def test_mutant_loses_points_on_listed_tests(runs, name):
    """Does each listed hidden test fail for this mutant, with a message?"""
    mutant = mutants.by_name(name)
    results = result_of(runs, f"mutant:{name}")
    ids = hidden_ids()
    failed = {t["id"]: t for t in results["tests"] if t["outcome"] != "passed"}
    for selector in mutant.caught_by:
        hits = [i for i in selected(selector, ids) if i in failed]
        assert hits, f"{name} ({mutant.description}) passed {selector}"
        for i in hits:
            assert failed[i]["message"].strip(), f"{name}: {i} failed without a message"
            assert "Traceback" not in failed[i]["message"] and "def test_" not in failed[i]["message"]


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS])
def test_mutant_loses_points_only_in_its_function(runs, name):
    """Does a mutant lose points only in the unit tests of the function holding its bug (and in integration tests)?"""
    mutant = mutants.by_name(name)
    function = fairness.owner(mutant)
    results = result_of(runs, f"mutant:{name}")
    elsewhere = [f"{t['id']} (judges {', '.join(blame.owners(t['id']))}): {t['message'][:160]}"
                 for t in results["tests"] if t["outcome"] != "passed" and t["points"]
                 and blame.owners(t["id"]) and function not in blame.owners(t["id"])
                 and not t["id"].startswith(mutant.crosses)]
    assert not elsewhere, f"{name} (a bug in {function}) loses points in other functions' tests: {elsewhere}"


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS])
def test_mutant_messages_name_its_function(runs, name):
    """Does every message of a test the mutant fails name the function that holds the bug?"""
    mutant = mutants.by_name(name)
    function = fairness.owner(mutant)
    results = result_of(runs, f"mutant:{name}")
    silent = [f"{t['id']}: {t['message'][:240]}" for t in results["tests"]
              if t["outcome"] != "passed" and t["points"] and not fairness.names(t["message"], function)]
    assert not silent, f"{name} (a bug in {function}): messages that do not name {function}: {silent}"


@pytest.mark.parametrize("name", [m.name for m in mutants.BENIGN])
def test_benign_rewrite_gets_full_marks(runs, name):
    """Does a correct rewrite of the solution (differing only where the SPEC is silent) keep 100/100?"""
    results = result_of(runs, f"benign:{name}")
    assert score(results) == (100.0, 100.0), failing(results)


@pytest.mark.parametrize("path", ALTERNATIVES, ids=[p.stem for p in ALTERNATIVES])
def test_alternative_gets_full_marks(runs, path):
    """Does an independently written correct implementation get 100/100?"""
    results = result_of(runs, f"alternative:{path.stem}")
    assert score(results) == (100.0, 100.0), failing(results)


def test_alternatives_exist():
    """Are there at least three alternative implementations?"""
    assert len(ALTERNATIVES) >= 3


def test_solution_gets_full_marks_sandboxed(tmp_path, bwrap_sandbox):
    """Does the reference solution get 100/100 through the sandbox, as in grading?"""
    results = run_hidden(SOLUTION, tmp_path / "sandboxed.json", sandbox=True)
    assert results["backend"] == "bwrap"
    assert score(results) == (100.0, 100.0), failing(results)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider"]))
