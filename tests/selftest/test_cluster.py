"""`grader grade --cluster local:2` (Dask, 2 worker processes) against the local pool, in the sandbox.

The class is the committed sample class plus two hostile submissions from redteam/ (one patches
numpy's comparisons at import, one never finishes its import: the wall budget must stop it on the
worker) and two honest ones graded last that a test can hold at a gate (classroom.Gate: a kill then
lands while exactly they run). The stand-in suite keeps each run to seconds. The cluster's grades
must equal the pool's (statuses, reasons, points, messages), also when a worker process is SIGKILLed
mid-run and when the coordinator is SIGKILLed and the same command is run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from classroom import KIT, STANDIN, Gate
from poll import wait_until

REDTEAM = Path(__file__).resolve().parent / "redteam"
HOSTILE = {"zz-patch-numpy": "patch_numpy.py", "zz-slow-import": "slow_import.py"}
HELD = ("zzz-held-a", "zzz-held-b")  # the solution, graded last (names sort after the others'); held only with a gate
BUDGET = "20"
HELD_BUDGET = "300"  # a held run waits for the test's kill, not for the clock (no hang in those classes)


def make_class(root: Path, with_hang: bool = True) -> Path:
    source = root / "class"
    shutil.copytree(KIT / "submissions", source)
    for name, attack in HOSTILE.items():
        if with_hang or name != "zz-slow-import":
            (source / name).mkdir()
            shutil.copyfile(REDTEAM / attack, source / name / "exercise02_template.py")
    for name in HELD:
        (source / name).mkdir()
        (source / name / "exercise02.py").write_text(Gate.holding(name))
    return source


def command(source: Path, out: Path, *extra: str, budget: str = BUDGET) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(source), "--out", str(out), "--suite", str(STANDIN),
            "--backend", "sandbox", "--budget", budget, "-j", "2", *extra]  # fmt: skip


def grade(source: Path, out: Path, *extra: str, budget: str = BUDGET) -> subprocess.CompletedProcess:
    done = subprocess.run(command(source, out, *extra, budget=budget), cwd=KIT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def verdicts(out: Path) -> dict[str, tuple]:
    """Each kept result's status, reason, backend and tests (id, outcome, earned, message): no timings, logs, workers."""
    kept = {}
    for path in (out / "results").glob("*.json"):
        data = json.loads(path.read_text())
        tests = [(t["id"], t["outcome"], t["earned"], t["message"]) for t in data["tests"]]
        kept[path.stem] = (data["status"], data["reason"], data["backend"], data["key"], tests)
    return kept


def workers_of(out: Path) -> set[str]:
    """Who ran the submissions (not the answer key, which may come from another folder's run via the cache)."""
    return {json.loads(p.read_text())["worker"] for p in (out / "results").glob("*.json") if p.stem != "_reference"} - {""}


def descendants(root: int) -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, command line)} of every process below root."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                table[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, IndexError, ValueError):
                continue
    below, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier and pid not in below}
        below.update({pid: table[pid] for pid in frontier})
    return below


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cluster_addresses_are_checked():
    """Do a malformed --cluster and a missing worker pool give one clear error?"""
    from grader.grading import executor

    for bad in ("local:0", "local:x", "slurm:-1", "slurm:", "8786"):
        with pytest.raises(executor.ClusterError, match="--cluster"):
            executor.open_engine(bad)


def test_local_clusters_side_by_side_bind_no_fixed_port():
    """With Dask's default port 8787 taken, do two local:1 clusters start at once, each on a free port, without a warning?"""
    pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install '.[cluster]'")
    import socket
    import warnings

    from grader.grading import executor

    holder = socket.socket()
    with contextlib.suppress(OSError):  # taken already by someone else: just as good
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    engines = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engines += [executor.open_engine("local:1"), executor.open_engine("local:1")]
        ports = [engine.cluster.scheduler.http_server.port for engine in engines]
        assert 8787 not in ports and len(set(ports)) == 2, ports
        assert [str(w.message) for w in caught if "already in use" in str(w.message)] == []
        assert all(engine.cluster.scheduler.http_server.address == "127.0.0.1" for engine in engines)
    finally:
        for engine in engines:
            engine.close()
        holder.close()


def test_slurm_config_example_makes_a_job_script():
    """Does the documented jobqueue.yaml give a Slurm job that activates the kit and runs one worker of `cores` threads?"""
    pytest.importorskip("dask_jobqueue", reason="the cluster extra is not installed: pip install '.[cluster]'")
    import dask.config
    import yaml
    from dask_jobqueue import SLURMCluster

    config = yaml.safe_load((KIT / "examples" / "cluster" / "jobqueue.yaml").read_text())["jobqueue"]["slurm"]
    with dask.config.set({f"jobqueue.slurm.{key}": value for key, value in config.items()}):
        with SLURMCluster(dashboard_address=None) as cluster:
            script = cluster.job_script()
    assert "#SBATCH --cpus-per-task=8" in script and "source ~/exercise02-kit/.venv/bin/activate" in script
    assert "--nthreads 8" in script and "--nworkers" not in script  # one worker process per job


@pytest.fixture(scope="module")
def pool_and_cluster(tmp_path_factory):
    pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install '.[cluster]'")
    from grader.sandbox import probe

    mode, reason = probe()
    if mode != "bwrap":
        pytest.skip(f"needs the bwrap sandbox: {reason}")
    root = tmp_path_factory.mktemp("cluster")
    source = make_class(root)
    pool = grade(source, root / "pool")
    cluster = grade(source, root / "cluster", "--cluster", "local:2")
    return root, source, pool, cluster


def test_no_sandbox_on_a_cluster_grades_the_sample_class(tmp_path):
    """Does `grader grade --no-sandbox --cluster local:1` grade the sample class (the worker's run version is the coordinator's)?"""
    pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install '.[cluster]'")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(KIT / "submissions"), "--out", str(out), "--suite",
                           str(STANDIN), "--no-sandbox", "--cluster", "local:1", "--budget", BUDGET],
                          cwd=KIT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "different kit" not in done.stderr
    kept = verdicts(out)
    assert len(kept) == 7 and kept["ada-lovelace"][0] == "graded", kept  # six submissions and the answer key
    assert {backend for _, _, backend, _, _ in kept.values()} == {"unsandboxed", None}  # None: the syntax error


def test_a_running_cluster_keeps_no_runner_or_zygote_of_a_finished_grader(tmp_path):
    """On a running cluster (workers that outlive the grader: --cluster tcp://...), does a finished `grader grade`
    leave no rebuilt runner and no zygote process in the workers?"""
    pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install '.[cluster]'")
    from distributed import Client, LocalCluster

    def rebuilt() -> list:
        from grader.grading.runner import _REBUILT

        return [(r.token, r._zygote.pid if r._zygote is not None else None) for r in _REBUILT.values()]

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:  # fmt: skip
        worker = next(iter(client.run(os.getpid).values()))
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(KIT / "submissions"), "--out", str(tmp_path / "out"),
                               "--suite", str(STANDIN), "--no-sandbox", "--budget", BUDGET, "--cluster",
                               cluster.scheduler_address], cwd=KIT, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "graded" in done.stdout and len(verdicts(tmp_path / "out")) == 7
        assert list(client.run(rebuilt).values()) == [[]]
        zygotes = [pid for pid, (_, line) in descendants(worker).items() if "grader.grading.forkserver" in line and alive(pid)]
        assert zygotes == [], "a zygote outlived the grader that started it"


def test_cluster_grades_equal_the_local_pool(pool_and_cluster):
    """On a 2-process LocalCluster, are statuses, reasons, points and messages those of the local pool?"""
    root, source, pool, cluster = pool_and_cluster
    local, remote = verdicts(root / "pool"), verdicts(root / "cluster")
    assert len(local) == 11 and remote == local
    assert re.search(r"\(\d running on 2 workers, ETA", cluster.stderr), cluster.stderr[-2000:]
    assert len({w.rsplit(":", 1)[1] for w in workers_of(root / "cluster")}) == 2, "both worker processes ran submissions"
    assert workers_of(root / "cluster").isdisjoint(workers_of(root / "pool"))
    assert {backend for _, _, backend, _, _ in remote.values()} == {"sandbox", None}  # None: the syntax error


def test_cluster_hostile_submissions(pool_and_cluster):
    """Does the hang stop at the wall budget on the worker, and does patched numpy earn only its honest work?"""
    root, *_ = pool_and_cluster
    remote = verdicts(root / "cluster")
    status, reason, _, _, tests = remote["zz-slow-import"]
    assert status == "timeout" and f"wall budget of {BUDGET} s" in reason and not any(t[2] for t in tests)
    status, _, _, _, tests = remote["zz-patch-numpy"]
    earned = {t[0]: t[2] for t in tests}
    assert status == "graded" and earned.pop("test_sigmoid_values") == 10 and not any(earned.values())


def test_cluster_survives_a_killed_worker(pool_and_cluster, tmp_path):
    """A worker SIGKILLed mid-run: is its submission re-run elsewhere, graded once, and the grades unchanged?

    zzz-held-a is held at the gate: the kill lands on the worker running it, while it runs.
    """
    root, *_ = pool_and_cluster
    source, out, gate = make_class(tmp_path, with_hang=False), tmp_path / "out", Gate(tmp_path / "gate")
    gate.release("zzz-held-b")
    process = subprocess.Popen(command(source, out, "--cluster", "local:2", budget=HELD_BUDGET), cwd=KIT,
                               env=gate.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    run = wait_until(lambda: gate.started("zzz-held-a") or process.poll() is not None, 120, "zzz-held-a held")
    assert run is not True, "the grader ended before zzz-held-a ran"
    family = descendants(process.pid)
    assert run in family, "the held run is not the grader's"
    victim = run  # the worker process the held pytest run is below (forked by that worker's zygote)
    while family[victim][0] != process.pid:
        victim = family[victim][0]
    assert victim != run and "grader.grading.forkserver" not in family[victim][1]
    os.kill(victim, signal.SIGKILL)
    gate.release("zzz-held-a")  # its run again, on a worker that lives
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr[-3000:]
    assert not alive(run), "the killed worker's pytest run outlived it"
    expected = {k: v for k, v in verdicts(root / "pool").items() if k != "zz-slow-import"}
    assert verdicts(out) == expected
    graded = [line.split(": ")[0].split(" ", 1)[1] for line in stderr.splitlines() if re.match(r"\d+/9 ", line)]
    assert sorted(graded) == sorted(set(graded)) and len(graded) == 9, stderr[-3000:]
    assert re.search(r"^9 submissions: \d+ graded, \d+ could not run.*; 0 from earlier runs;", stdout, re.M), stdout  # once each


def test_cluster_resumes_after_the_coordinator_is_killed(pool_and_cluster, tmp_path):
    """The coordinator SIGKILLed half way: are its workers gone, and does the same command keep exactly the
    results stored before the kill and grade the rest, with the same grades?

    Both held submissions (graded last) wait at the gate, one on each worker, when the kill lands: every
    other result is stored, and neither held one can be.
    """
    root, *_ = pool_and_cluster
    source, out, gate = make_class(tmp_path, with_hang=False), tmp_path / "out", Gate(tmp_path / "gate")
    process = subprocess.Popen(command(source, out, "--cluster", "local:2", budget=HELD_BUDGET), cwd=KIT,
                               env=gate.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    others = sorted(set(verdicts(root / "pool")) - {"_reference", "zz-slow-import", *HELD})

    def kept() -> list[str]:
        return sorted(p.stem for p in (out / "results").glob("*.json") if not p.name.startswith("_"))

    def half_way() -> bool:
        held = all(gate.started(name) for name in HELD)
        return (held and kept() == others) or process.poll() is not None

    wait_until(half_way, 180, "both held runs waiting and every other result stored")
    assert process.poll() is None, "the grader ended before the kill"
    family = descendants(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert kept() == others, "exactly the results stored before the kill are kept"
    # the workers notice their parent is gone; their pytest runs die with them
    wait_until(lambda: not [pid for pid in family if alive(pid)], 60, "no cluster process outlives the killed coordinator")
    for name in HELD:
        gate.release(name)
    resumed = grade(source, out, "--cluster", "local:2")
    assert f"; {len(others)} from earlier runs" in resumed.stdout, resumed.stdout
    expected = {k: v for k, v in verdicts(root / "pool").items() if k != "zz-slow-import"}
    assert verdicts(out) == expected
    assert not [p for p in (out / "results").iterdir() if "partial" in p.name]
