"""The worker side of SandboxStudent: starting its worker process, one request's bytes there and
back within the time limit, and stopping it, with a one-line reason for every way it can end.

`WorkerHost` is a base class of `grader.sandbox.client.SandboxStudent`, split off by role so that
each class stays small; it uses the state that SandboxStudent.__init__ sets (_path, _mode, _reason,
_nested, _slot, _private, _sub_dir, _data_dir, _memory_mb, _cpu_seconds, _import_timeout,
_worker, _generation, _output, _import_error, _imports).
"""

from __future__ import annotations

import os
import shutil
import signal
import time

from grader.sandbox import protocol
from grader.sandbox.protocol import BadReply, CallTimeout, ImportFailed, ProtocolError, WorkerDied, clean_text
from grader.sandbox.worker import FLOOD_OUTPUT, Spec, Worker


class WorkerHost:
    """Start, talk to and stop the worker process of one submission."""

    def _exchange(self, worker: Worker, message: bytes, seconds: float, call: str):
        deadline = time.monotonic() + seconds
        try:
            protocol.write_message(worker.rpc_out, message, deadline)
            body = protocol.read_message(worker.rpc_in, protocol.MAX_REPLY_BYTES, deadline)
            return protocol.unpack(body)
        except TimeoutError:
            self._stop_worker()
            raise CallTimeout(f"{call} did not return within {seconds:g} s; the worker was stopped") from None
        except (EOFError, OSError):
            status = self._stop_worker(dying=True)
            raise WorkerDied(self._death(worker, status, call)) from None
        except ProtocolError as error:
            self._stop_worker()
            raise BadReply(f"{call}: the reply was rejected ({error}); the worker was stopped") from None

    def _ensure_worker(self) -> Worker:
        if self._import_error is not None:
            kind, message = self._import_error
            raise kind(message)
        if self._worker is not None:
            return self._worker
        self._generation += 1
        worker = Worker(self._generation, self._output)
        self._worker = worker
        try:
            note = worker.start(self._spec())
            if note and note not in self._reason:
                self._reason += note
            deadline = time.monotonic() + self._import_timeout
            body = protocol.read_message(worker.rpc_in, protocol.MAX_REPLY_BYTES, deadline)
            ready, _ = protocol.unpack(body)
        except TimeoutError:
            self._stop_worker()
            self._import_error = (ImportFailed, f"importing {self._path.name} did not finish within "
                                  f"{self._import_timeout:g} s; the worker was stopped")
        except (EOFError, OSError):
            status = self._stop_worker(dying=True)
            self._import_error = (ImportFailed, self._death(worker, status, f"importing {self._path.name}"))
        except ProtocolError as error:
            self._stop_worker()
            self._import_error = (ImportFailed, f"importing {self._path.name}: the worker's reply was rejected ({error})")
        else:
            if ready.get("ok") is True and ready.get("ready") is True:
                return worker
            self._stop_worker()
            self._import_error = (ImportFailed, self._import_message(ready.get("error")))
        kind, message = self._import_error
        raise kind(message)

    def _import_message(self, error) -> str:
        name = self._path.name
        if not isinstance(error, dict):
            return f"could not import {name}: the worker sent no reason"
        type_name = clean_text(error.get("type", "?"), 60)
        message = clean_text(error.get("message", ""))
        if type_name == "SyntaxError" or error.get("builtin") == "SyntaxError":
            return f"could not import {name}: SyntaxError at line {error.get('lineno')}: {message}"
        text = f"could not import {name}: {type_name}: {message}"
        if type_name in ("SystemExit", "KeyboardInterrupt"):
            text += " (the file must not exit or stop when it is imported; put such code under if __name__ == '__main__':)"
        frames = error.get("frames") or []
        if frames and isinstance(frames[-1], list) and len(frames[-1]) == 3:
            text += f" (at line {clean_text(frames[-1][0], 10)})"
        return text

    def _death(self, worker: Worker, status, call: str) -> str:
        if worker.flooded:
            return (f"{call}: the submission printed more than {FLOOD_OUTPUT >> 20} MiB of output; "
                    "the worker was stopped")
        code = status
        if code is None:
            return f"{call}: the worker stopped answering and was stopped"
        sig = -code if code < 0 else (code - 128 if self._mode == "bwrap" and 128 < code < 128 + 65 else None)
        if sig:
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
            hint = {
                "SIGKILL": f"; the CPU time budget ({self._cpu_seconds} s per worker) or the memory limit "
                           f"({self._memory_mb} MiB) may have been reached",
                "SIGXCPU": f"; the CPU time budget ({self._cpu_seconds} s per worker) was used up",
                "SIGSEGV": f"; this often means memory ran out inside numpy (limit {self._memory_mb} MiB)",
                "SIGABRT": f"; this often means memory ran out (limit {self._memory_mb} MiB)",
            }.get(name, "")
            return f"{call}: the worker was killed by {name}{hint}"
        return f"{call}: the worker exited with code {code} (os._exit or a fatal error in the submission)"

    def _stop_worker(self, dying: bool = False):
        """Kill the current worker and everything it started; reap it. Returns its exit status (or None)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        return worker.stop(self._slot.uid, dying=dying)

    def _spec(self) -> Spec:
        # data_dir=None: no data folder is mounted; data sets cross as arguments (see `data`).
        return Spec(mode=self._mode, nested=self._nested, slot_uid=self._slot.uid, sub_dir=self._sub_dir,
                    file_name=self._path.name, data_dir=None, private=self._private,
                    memory_mb=self._memory_mb, cpu_seconds=self._cpu_seconds, imports=self._imports)

    def _copy_submission(self) -> None:
        """A private copy of the ONE file, so nothing next to it (conftest.py, data, other files) is visible."""
        self._sub_dir = os.path.join(self._private, "sub")
        os.mkdir(self._sub_dir, 0o755)
        os.chmod(self._private, 0o755)  # the slot uid of the fallback must reach sub/
        if not self._path.is_file():
            self._import_error = (ImportFailed, f"submission file not found: {self._path}")
            return
        target = os.path.join(self._sub_dir, self._path.name)
        with open(self._path, "rb") as source, open(target, "wb") as copy:
            shutil.copyfileobj(source, copy)
        os.chmod(target, 0o644)
