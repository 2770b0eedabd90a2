"""The worker side of SandboxStudent: starting its worker process, one request's bytes there and
back within the time limit, and stopping it, with a one-line reason for every way it can end.

`WorkerHost` is composed into `grader.sandbox.client.SandboxStudent` (its `_host`), which owns the
submission's slot, cgroup and private folder and passes what the host needs explicitly: the worker's
`Spec` (where and how a worker starts), the submission's path (for messages) and the limits below. The
host owns what changes while the submission runs: the current worker and its generation, the import's
outcome, the idle time spent, and the limits that stopped a worker (`stops`).

Limits: a call's and the import's limits are CPU seconds of the submission's processes
(the cgroup's counter, else /proc); the wall clock is only a backstop (WALL_FACTOR x limit +
WALL_EXTRA). Time spent waiting without computing (grader.sandbox.activity: neither on a CPU nor waiting
for one) is bounded apart from that: IDLE_CALL seconds per call (the import included) and IDLE_TOTAL
seconds over all calls of the submission, after which no further call is made. Replies are checked for shape (protocol.unpack_reply) before their arrays are parsed,
and decoding counts against the call's deadline.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import time
from pathlib import Path

from grader.sandbox import protocol
from grader.sandbox.activity import STOP as IDLE_STOP
from grader.sandbox.protocol import BadReply, CallTimeout, ImportFailed, ProtocolError, WorkerDied, clean_text
from grader.sandbox.worker import FLOOD_OUTPUT, Output, Spec, Worker


WALL_FACTOR, WALL_EXTRA = 5.0, 30.0  # wall-clock backstop of a CPU-time limit: 5 x limit + 30 s
POLL = 0.05  # seconds between two looks at the submission's CPU time while a call runs
# Idle time (no task of the submission on a CPU or waiting for one) allowed per call and in all. An honest
# submission is idle for well under a second in a whole run (docs/security.md); these bound how long a
# submission that sleeps can hold its slot, whatever the machine's load.
IDLE_CALL, IDLE_TOTAL = 5.0, 15.0
REPLY_KEYS = {"id", "ok", "value", "error"}
READY_KEYS = {"id", "ok", "ready", "error"}
MAIN_HINT = ("; code that runs experiments or training when the file is imported belongs under "
             "if __name__ == \"__main__\": at the end of the file")


class _Overrun(Exception):
    """A limit of the current call was reached: "cpu" (its CPU time), "idle" (time waiting without
    computing) or "wall" (the backstop)."""


class WorkerHost:
    """Start, talk to and stop the worker process of one submission."""

    def __init__(self, spec: Spec, path: Path, reason: str, *, import_timeout: float, wall_timeout: float | None,
                 idle_call: float, idle_total: float):
        self.spec = spec  # how every worker of this submission starts (its copy of the file is in spec.sub_dir)
        self.path = Path(path)  # the submission as given, for messages
        self.reason = reason  # why the backend is what it is; a worker's start may add a note
        self.import_timeout = float(import_timeout)  # CPU seconds for importing the submission
        self.wall_timeout = wall_timeout  # None: WALL_FACTOR x the CPU limit + WALL_EXTRA
        self.idle_call, self.idle_total = float(idle_call), float(idle_total)  # seconds waiting without computing
        self.output = Output()  # what the submission printed, over all its workers
        self.worker: Worker | None = None
        self.generation = 0  # of the current worker: handles of an older one have expired
        self.stops: list[str] = []  # limits that stopped a worker (cpu, idle, wall, killed); see harness.reusable
        self.idle = 0.0  # seconds the submission waited without computing, over all calls (IDLE_TOTAL)
        self.idle_spent = None  # the refusal once that allowance is used up: no further call is made
        self.import_error = None  # (error class, message) once the import failed: every later call raises it
        if not os.path.isfile(os.path.join(spec.sub_dir, spec.file_name)):
            self.import_error = (ImportFailed, f"submission file not found: {self.path}")

    def wall(self, seconds: float) -> float:
        """The wall-clock backstop of a limit of `seconds` CPU seconds."""
        return self.wall_timeout if self.wall_timeout is not None else WALL_FACTOR * seconds + WALL_EXTRA

    def _await(self, worker: Worker, seconds: float, deadline: float, request=None) -> bytearray:
        """The next message once it starts to arrive, after `request` (pack_parts' buffers) is written; _Overrun
        when the submission has used `seconds` of CPU time since now (all its processes), has waited without
        computing for longer than its idle allowance (a worker that takes the request slowly too: the request
        pipe is non-blocking), or at the wall-clock `deadline` (a backstop).

        A reply within the first POLL costs no look at the submission's processes. The CPU counter is read
        now only where that is one read of the cgroup's counter; without a cgroup (a scan of /proc) it is
        first read after POLL, and the CPU time before that is charged as if the submission had used every
        CPU it can (Worker.cpus) all along: counted in full or more, never less (at most POLL x cpus more)."""
        began = time.monotonic()
        start = worker.cpu_seconds() if worker.cheap_cpu else None
        activity = worker.activity
        activity.start()
        allowance = min(self.idle_call, max(0.0, self.idle_total - self.idle))
        outgoing, checked = Outgoing(request) if request is not None else None, began
        incoming = None  # the reply once it starts to arrive: a reply begun and not finished is held to the limits too

        def used() -> float | None:
            return worker.cpu_seconds() - start if start is not None else None

        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Overrun("wall", used())
                if outgoing is not None and outgoing.left:  # the request first, as the pipe takes it
                    if select.select([], [worker.rpc_out], [], min(left, POLL))[1]:
                        outgoing.send(worker.rpc_out)
                        if time.monotonic() - checked < POLL:
                            continue
                elif select.select([worker.rpc_in], [], [], min(left, POLL))[0]:  # the reply, as the pipe gives it
                    incoming = incoming or Incoming(protocol.MAX_REPLY_BYTES)
                    if (body := incoming.receive(worker.rpc_in)) is not None:
                        return body
                    if time.monotonic() - checked < POLL:
                        continue
                checked = time.monotonic()
                if start is None:
                    now = worker.cpu_seconds()
                    start = now - worker.cpus * (time.monotonic() - began)
                if (spent := used()) > seconds:
                    raise _Overrun("cpu", spent)
                if activity.sample() > allowance:
                    raise _Overrun(IDLE_STOP, activity.idle)
        finally:
            self.idle += activity.idle

    def _overrun(self, overrun: "_Overrun", what: str, seconds: float) -> str:
        self.stop()
        kind, used = overrun.args if len(overrun.args) == 2 else ("wall", None)
        self.stops.append(kind)
        if kind == "cpu":
            return f"{what} used more than {seconds:g} s of CPU time; the worker was stopped"
        if kind == IDLE_STOP:
            return self._idle_message(what, used)
        spent = f"; it used {used:.1f} s of CPU meanwhile" if used is not None else ""
        return (f"{what} did not finish within {self.wall(seconds):g} s of wall-clock time (the backstop of "
                f"its {seconds:g} s CPU-time limit{spent}); the worker was stopped")

    def exchange(self, worker: Worker, message: bytes, seconds: float, call: str, handle):
        """Send a request, await the reply, check its shape and decode it; the limits cover decoding too."""
        deadline = time.monotonic() + self.wall(seconds)
        try:
            body = self._await(worker, seconds, deadline, request=message)
            reply, arrays = protocol.unpack_reply(body, REPLY_KEYS)
            del body
            if reply.get("ok") is True:
                reply["value"] = protocol.decode(reply.get("value"), arrays, handle=handle)
            if time.monotonic() > deadline:
                raise _Overrun("wall", None)
            return reply, arrays
        except TimeoutError:
            raise CallTimeout(self._overrun(_Overrun("wall", None), call, seconds)) from None
        except _Overrun as overrun:
            raise CallTimeout(self._overrun(overrun, call, seconds)) from None
        except (EOFError, OSError):
            status = self.stop(dying=True)
            raise WorkerDied(self._death(worker, status, call)) from None
        except ProtocolError as error:
            self.stop()
            raise BadReply(f"{call}: the reply was rejected ({error}); the worker was stopped") from None
        except BaseException:  # cut short (pytest-timeout's signal, Ctrl-C): the worker may still be computing this
            self.stop()  # request; the next call must get a fresh worker, not this one's late reply
            raise


    def _idle_message(self, what: str, idle: float) -> str:
        """The student's message for a call stopped for idling; once the run's allowance is spent, later
        calls are refused with the same explanation."""
        cause = ("the submission's processes were neither running nor waiting for a CPU: time.sleep, input(), "
                 "waiting for a lock, a pipe or a child process that never ends")
        if self.idle >= self.idle_total - 0.5:  # what is left would stop the next call for noise
            self.idle_spent = (f"not run: the submission has used up its allowance of {self.idle_total:g} s of "
                                f"waiting without computing ({cause}); nothing in the exercise needs to wait, so "
                                "no further call is made. Remove the waiting code")
        return (f"{what} waited {idle:.1f} s without computing ({cause}); a call may wait at most {self.idle_call:g} s "
                f"and a whole run {self.idle_total:g} s, and nothing in the exercise needs to wait; the worker was "
                "stopped. Remove the waiting code")

    def ensure(self) -> Worker:
        """The running worker, started (and the submission imported) if there is none; raises the import's
        error, or the idle refusal, for every call once either happened."""
        if self.idle_spent is not None:
            raise CallTimeout(self.idle_spent)
        if self.import_error is not None:
            kind, message = self.import_error
            raise kind(message)
        if self.worker is not None:
            return self.worker
        self.generation += 1
        worker = Worker(self.generation, self.output)
        self.worker = worker
        what = f"importing {self.path.name}"
        try:
            note = worker.start(self.spec)
            if note and note not in self.reason:
                self.reason += note
            deadline = time.monotonic() + self.wall(self.import_timeout)
            body = self._await(worker, self.import_timeout, deadline)
            ready, _ = protocol.unpack_reply(body, READY_KEYS)
        except (_Overrun, TimeoutError) as overrun:
            overrun = overrun if isinstance(overrun, _Overrun) else _Overrun("wall", None)
            self.import_error = (ImportFailed, self._overrun(overrun, what, self.import_timeout) + MAIN_HINT)
        except (EOFError, OSError):
            status = self.stop(dying=True)
            self.import_error = (ImportFailed, self._death(worker, status, what))
        except ProtocolError as error:
            self.stop()
            self.import_error = (ImportFailed, f"{what}: the worker's reply was rejected ({error})")
        else:
            if ready.get("ok") is True and ready.get("ready") is True:
                return worker
            self.stop()
            self.import_error = (ImportFailed, self._import_message(ready.get("error")))
        kind, message = self.import_error
        raise kind(message)

    def _import_message(self, error) -> str:
        name = self.path.name
        if not isinstance(error, dict):
            return f"could not import {name}: the worker sent no reason"
        type_name = clean_text(error.get("type", "?"), 60)
        message = clean_text(error.get("message", ""))
        if type_name == "SyntaxError" or error.get("builtin") == "SyntaxError":
            return f"could not import {name}: SyntaxError at line {clean_text(error.get('lineno'), 10)}: {message}"
        text = f"could not import {name}: {type_name}: {message}"
        if type_name in ("SystemExit", "KeyboardInterrupt"):
            text += " (the file must not exit or stop when it is imported; put such code under if __name__ == '__main__':)"
        frames = error.get("frames") or []
        if frames and isinstance(frames[-1], list) and len(frames[-1]) == 3:
            text += f" (at line {clean_text(frames[-1][0], 10)})"
        return text

    def _death(self, worker: Worker, status, call: str) -> str:
        mode, cpu_seconds, memory_mb = self.spec.mode, self.spec.cpu_seconds, self.spec.memory_mb
        if status is None or status < 0 or (mode == "bwrap" and status > 128):
            self.stops.append("killed")
        if worker.flooded:
            return (f"{call}: the submission printed more than {FLOOD_OUTPUT >> 20} MiB of output; "
                    "the worker was stopped")
        code = status
        if code is None:
            return f"{call}: the worker stopped answering and was stopped"
        sig = -code if code < 0 else (code - 128 if mode == "bwrap" and 128 < code < 128 + 65 else None)
        if sig:
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
            hint = {
                "SIGKILL": f"; the CPU time budget ({cpu_seconds} s per worker) or the memory limit "
                           f"({memory_mb} MiB) may have been reached",
                "SIGXCPU": f"; the CPU time budget ({cpu_seconds} s per worker) was used up",
                "SIGSEGV": f"; this often means memory ran out inside numpy (limit {memory_mb} MiB)",
                "SIGABRT": f"; this often means memory ran out (limit {memory_mb} MiB)",
            }.get(name, "")
            return f"{call}: the worker was killed by {name}{hint}"
        return f"{call}: the worker exited with code {code} (os._exit or a fatal error in the submission)"

    def stop(self, dying: bool = False):
        """Kill the current worker and everything it started; reap it. Returns its exit status (or None)."""
        worker, self.worker = self.worker, None
        if worker is None:
            return None
        return worker.stop(self.spec.slot_uid, dying=dying)

    def take_output(self) -> str:
        """What the submission printed since the last take (Output.take)."""
        return self.output.take(self.worker)


class Outgoing:
    """A request on its way out as the pipe takes it (the request pipe is non-blocking): protocol.write_message's
    writes one step at a time, so that _await checks the call's limits between them."""

    def __init__(self, message):
        parts = (message,) if isinstance(message, (bytes, bytearray)) else message
        self.chunks, self.at = [memoryview(p).cast("B") for p in parts], 0  # at: the first chunk not yet written

    left = property(lambda self: self.at < len(self.chunks))

    def send(self, fd: int) -> None:
        """One writev of what is left: partial writes kept, nothing when the pipe is full."""
        with contextlib.suppress(BlockingIOError):  # full again since select saw room
            written = os.writev(fd, self.chunks[self.at : self.at + 512])
            while self.at < len(self.chunks) and written >= len(self.chunks[self.at]):
                written, self.at = written - len(self.chunks[self.at]), self.at + 1
            if written:
                self.chunks[self.at] = self.chunks[self.at][written:]


class Incoming:
    """A message arriving as the pipe gives it: protocol.read_message one read at a time (its size checked
    against `limit` before anything is allocated), so that _await checks the call's limits between reads."""

    def __init__(self, limit: int):
        self.limit, self.head, self.body, self.got = limit, b"", None, 0

    def receive(self, fd: int) -> bytearray | None:
        """One read of what the pipe has (it has something: select said so); the body once it is complete."""
        if self.body is None:
            chunk = os.read(fd, protocol.LENGTH.size - len(self.head))
            self.head += chunk
            if chunk and len(self.head) == protocol.LENGTH.size:
                (size,) = protocol.LENGTH.unpack(self.head)
                if size > self.limit:
                    raise ProtocolError(f"message of {size} bytes is over the limit of {self.limit} bytes")
                self.body = bytearray(size)
        else:
            chunk = os.readv(fd, [memoryview(self.body)[self.got : self.got + (4 << 20)]])
            self.got += chunk
        if not chunk:
            raise EOFError("pipe closed")
        return self.body if self.body is not None and self.got == len(self.body) else None


def copy_submission(path: Path, private: str) -> str:
    """A private copy of the ONE file, so nothing next to it (conftest.py, data, other files) is visible.
    Returns its folder (inside the private 0700 folder, so other local users cannot reach it); the folder
    stays empty when `path` is not a file (the host then refuses every call)."""
    sub_dir = os.path.join(private, "sub")
    os.mkdir(sub_dir, 0o755)
    if not Path(path).is_file():
        return sub_dir
    target = os.path.join(sub_dir, Path(path).name)
    with open(path, "rb") as source, open(target, "wb") as copy:
        shutil.copyfileobj(source, copy)
    os.chmod(target, 0o644)
    return sub_dir
