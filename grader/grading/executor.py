"""The executor: where the suite's runs happen. A local thread pool by default, a Dask cluster on request.

    open_engine(None)                  a pool of threads on this machine (each starts one pytest process)
    open_engine("tcp://host:8786")     a running Dask scheduler and its workers
    open_engine("local:N")             a distributed.LocalCluster of N worker processes, one run each
    open_engine("slurm") / "slurm:N"   dask-jobqueue's SLURMCluster (N jobs, default 1), configured by
                                       the `jobqueue.slurm` section of the Dask config (docs/cluster.md)

An Engine hands grade_class a concurrent.futures executor; that is all the harness sees. Dask is an
optional extra (`pip install '.[cluster]'`) imported only here and only for a cluster. What travels to
a worker is `runner.run_code` with the runner's portable part and the submission's code bytes; what
comes back is the results.json content and the bounded log. A worker that dies mid-run has its runs
re-run elsewhere by the scheduler (`distributed.scheduler.allowed-failures` times at most); the
coordinator stores each submission when its future finishes, so nothing is lost or counted twice.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from grader.grading import harness
from grader.grading.runner import Runner, stop_travelled
from grader.sandbox.error import GraderError


WORKER_WAIT = 60  # seconds a running scheduler may take to show its first worker


class ClusterError(GraderError):
    """The cluster could not be reached or started, or Dask is not installed."""


class Engine:
    """An executor and what the progress line shows about it; a context manager that releases it."""

    def __init__(self, executor, *, client=None, cluster=None, name: str = "local pool"):
        self.executor, self.client, self.cluster, self.name = executor, client, cluster, name

    def slots(self) -> int:
        """Runs that fit at once: the default of --jobs (cores here; worker threads on a cluster)."""
        if self.client is None:
            return os.cpu_count() or 1
        return max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))

    def workers(self) -> int | None:
        """Worker processes connected now (None for the local pool)."""
        return None if self.client is None else len(self.client.scheduler_info()["workers"])

    def stop_runs(self, runner: Runner) -> None:
        """End this coordinator's runners on the workers: kill the runs they still have (after Ctrl-C; the futures
        are cancelled) and end their zygotes (also after a class is done: a running cluster's workers outlive
        this grader, and each rebuilt runner keeps a zygote process until it is closed)."""
        if self.client is not None:
            try:
                self.client.run(stop_travelled, runner.token, on_error="ignore")
            except Exception:  # the cluster is gone: the runs' own wall budget ends them there
                pass

    def close(self) -> None:
        if self.client is None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            return
        for closing in (self.client, self.cluster):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # a lost scheduler: nothing left to release
                    pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def grade_class(cluster: str | None, submissions, *, runner: Runner, store, jobs: int | None, progress=None,
                **options):  # fmt: skip
    """harness.grade_class on the engine for `cluster` (jobs: runs in flight, default its slots).

    progress also gets `workers=` (connected now; None for the local pool). On an interruption the
    runs still on the workers are killed; any other failure of a cluster (not of the kit) becomes a
    ClusterError that says the finished results are kept.
    """
    engine = open_engine(cluster, jobs)
    report = None if progress is None else lambda *args: progress(*args, workers=engine.workers())
    try:
        batch = harness.grade_class(submissions, runner=runner, store=store, jobs=jobs or engine.slots(),
                                    executor=engine.executor, progress=report, **options)  # fmt: skip
        engine.stop_runs(runner)  # every run is over: the workers' runners of this class end with their zygotes
        return batch
    except harness.Interrupted:
        engine.stop_runs(runner)
        raise
    except Exception as error:
        if engine.client is None or isinstance(error, harness.HarnessError):
            raise
        raise ClusterError(f"the cluster failed ({type(error).__name__}: {error}); finished results are kept in "
                           f"{store.folder}: fix it and run the same command again") from None
    finally:
        engine.close()


def open_engine(cluster: str | None, jobs: int | None = None) -> Engine:
    """The engine for --cluster (None: the local pool of `jobs` threads)."""
    if not cluster:
        return Engine(ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1), thread_name_prefix="grade"))
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install '.[cluster]' (in the kit's folder)") from None
    started = None
    try:
        if cluster.startswith("local:"):
            count = _count(cluster, "local:N")
            # No memory limit: the pytest processes are the workers' children; bwrap caps the submission.
            # No fixed port: without a dashboard the scheduler still serves HTTP, by default on 8787, where a
            # second grader's cluster collides; a free port on this machine only (scheduler_port is free already).
            started = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, memory_limit=0,
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=40)  # fmt: skip
            client = Client(started)
        elif cluster == "slurm" or cluster.startswith("slurm:"):
            try:
                from dask_jobqueue import SLURMCluster
            except ImportError:
                raise ClusterError("--cluster slurm needs dask-jobqueue: pip install '.[cluster]'") from None
            count = _count(cluster, "slurm:N") if ":" in cluster else 1
            try:
                started = SLURMCluster()  # everything from the `jobqueue.slurm` section of the Dask config
            except ValueError as error:
                raise ClusterError(f"--cluster slurm: the Dask config's jobqueue.slurm section is incomplete "
                                   f"({error}); see docs/cluster.md") from None
            started.scale(jobs=count)
            client = Client(started)
            client.wait_for_workers(1)  # the jobs may queue for a while; Ctrl-C stops waiting
        elif "://" in cluster:
            client = Client(cluster, timeout=30)
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT)
            except TimeoutError:
                client.close()
                raise ClusterError(f"the scheduler at {cluster} has no workers after {WORKER_WAIT} s: start "
                                   f"`dask worker {cluster}` on the worker machines (docs/cluster.md)") from None
        else:
            raise ClusterError(f"--cluster {cluster!r}: give tcp://HOST:PORT, local:N or slurm[:N]")
    except ClusterError:
        raise
    except (OSError, TimeoutError) as error:
        if started is not None:
            started.close()
        raise ClusterError(f"could not reach the cluster {cluster}: {error}") from None
    name = f"{type(started).__name__ if started else 'scheduler'} {client.scheduler.address}"
    return Engine(client.get_executor(pure=False), client=client, cluster=started, name=name)


def _count(cluster: str, form: str) -> int:
    text = cluster.partition(":")[2]
    if not text.isdigit() or int(text) < 1:
        raise ClusterError(f"--cluster {cluster!r}: expected {form} with N >= 1")
    return int(text)
