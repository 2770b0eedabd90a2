"""The sandbox runtime: untrusted code computes in a worker, trusted code judges.

Rooms: `student` (the student API both backends implement, as typing.Protocols), `client`
(`SandboxStudent`: the RPC client the tests call), `host` (`WorkerHost`, composed into it: start a
worker, one exchange within its limits, stop), `inprocess` (`InProcessStudent`: the submission
imported into the test process, for students' machines and `--no-sandbox`; no grader module imports
it), `rule` (the from-scratch rule: the allowed list, the import scan, the message), `layout` (where
the interpreter lives, the bubblewrap command, `probe`), `slot` (a uid per parallel worker, and
killing every process of it), `worker` (one worker process: start, output, stop), `protocol` (the
wire format), `boot` (the trusted bootstrap inside the sandbox), `mnist` (the trusted data reader),
`training` (the given train's steps, run next to the model for the learning tests), `activity` (how
long the submission waits without computing) and `staging` (private folders that never outlive their run).

This package ships in the student bundle (grader/authoring/release.py SANDBOX_RUNTIME) for the
public tests, in-process and `pytest --sandbox`: it imports only the standard library and NumPy,
and nothing else of the kit.
"""

__all__ = ["NPROC", "SandboxStudent", "SandboxUnavailable", "probe", "sandbox_refusal", "tasks_of_uid"]


def __getattr__(name: str):
    """The client's names, imported on first use: `from grader.sandbox import mnist` (say, for the
    trusted reader's cache) must not start the whole worker runtime (subprocess, threads, cgroups)."""
    if name in __all__:
        from grader.sandbox import client

        return getattr(client, name)
    raise AttributeError(f"module 'grader.sandbox' has no attribute {name!r}")
