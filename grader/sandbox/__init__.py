"""The sandbox runtime: untrusted code computes in a worker, trusted code judges.

Rooms: `layout` (where the interpreter lives, the bubblewrap command, `probe`), `slot` (a uid per
parallel worker, and killing every process of it), `worker` (one worker process: start, output,
stop), `client` (`SandboxStudent`: the RPC client the tests call), `protocol` (the wire format),
`boot` (the trusted bootstrap inside the sandbox), `mnist` (the trusted data reader), `training`
(the given train's steps, run next to the model for the learning tests), `activity` (how long the
submission waits without computing) and `staging` (private folders that never outlive their run).

This package ships in the student bundle for `pytest --sandbox`: it imports only the standard
library and NumPy, and nothing else of the kit.
"""

__all__ = ["NPROC", "SandboxStudent", "SandboxUnavailable", "probe", "sandbox_refusal", "tasks_of_uid"]


def __getattr__(name: str):
    """The client's names, imported on first use: `from grader.sandbox import mnist` (say, for the
    trusted reader's cache) must not start the whole worker runtime (subprocess, threads, cgroups)."""
    if name in __all__:
        from grader.sandbox import client

        return getattr(client, name)
    raise AttributeError(f"module 'grader.sandbox' has no attribute {name!r}")
