"""The sandboxed backend of the `student` fixture: untrusted code computes, trusted code judges.

`SandboxStudent` implements the student API (grader/sandbox/student.py) as `inprocess.InProcessStudent`
does, but the submission runs in a worker process (grader/sandbox/boot.py, started by
grader/sandbox/worker.py inside the bubblewrap command of grader/sandbox/layout.py) behind a narrow
RPC (grader/sandbox/protocol.py).
Tests compare in this process; the worker never sees tests, references or solutions.
"""

from __future__ import annotations

import contextlib
import select
import time
from pathlib import Path

from grader.sandbox import cgroup, mnist, protocol, staging
from grader.sandbox.host import IDLE_CALL, IDLE_TOTAL, WorkerHost, copy_submission
from grader.sandbox.layout import SandboxUnavailable, nested_userns, probe, sandbox_refusal  # noqa: F401
from grader.sandbox.protocol import (
    BadReply,
    Handle,
    HandleExpired,
    StudentError,
    Unavailable,
    clean_text,
)
from grader.sandbox.slot import Slot, tasks_of_uid  # noqa: F401  (tasks_of_uid: re-exported for callers)
from grader.sandbox.student import check_api_name
from grader.sandbox.worker import NPROC, Spec  # noqa: F401  (NPROC: re-exported)

STAGING = "exercise02-sandbox-"  # the private folders' prefix in the temporary folder


class Remote:
    """An object of the submission (an MLP, say) that stayed in the worker, seen through copies
    (student.SubmissionObject)."""

    type_name: str  # the submission's class name, for messages

    def __init__(self, backend: "SandboxStudent", handle_id: int, generation: int, type_name: str):
        self._backend = backend
        self._handle_id = handle_id
        self._generation = generation
        self.type_name = type_name

    def get(self, attr: str):
        return self._ask({"op": "get", "name": attr}, None, f"{self.type_name}.{attr}")

    def set(self, attr: str, value) -> None:
        self._ask({"op": "set", "name": attr}, value, f"setting {self.type_name}.{attr}")

    def set_attrs(self, values: dict) -> None:
        """Set each attribute of `values` in the dict's order to a copy of its value, in one request: the worker
        sets them one after the other and stops at the first that raises, named as set's error would be."""
        names = [str(name) for name in values]
        self._ask({"op": "set", "names": names}, list(values.values()), f"setting {self.type_name}.{', '.join(names)}",
                  label=setter_label(names, self.type_name))

    def get_attrs(self, names):
        """Copies of the attributes `names` from one request, as an iterator in order: where an attribute could
        not be got it raises what a get of it would have (the worker asks for none after it)."""
        names = [str(name) for name in names]
        got = self._ask({"op": "get", "names": names}, None, f"{self.type_name}.{', '.join(names)}")
        return attributes_of(self._backend._host, self.type_name, names, got)

    def keep(self, name: str, *args, **kwargs) -> "Kept":
        """Call method `name`; its return value stays in the worker (see SandboxStudent.read)."""
        return self._ask({"op": "method", "name": name, "keep": True}, (list(args), dict(kwargs)), f"{self.type_name}.{name}")

    def keep_attr(self, attr: str) -> "Kept":
        """The attribute's value as it is now, kept in the worker (see SandboxStudent.read)."""
        return self._ask({"op": "get", "name": attr, "keep": True}, None, f"{self.type_name}.{attr}")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._ask({"op": "method", "name": name}, (list(args), dict(kwargs)),
                                                 f"{self.type_name}.{name}")

    def _ask(self, header: dict, args, call: str, label=None):
        """A request about this object: its handle first (HandleExpired once its worker has been stopped)."""
        handle = self._backend._handle_of(self)
        return self._backend._request({**header, "handle": handle.id}, args, call, label=label)

    def __repr__(self) -> str:
        return f"<{self.type_name} of the submission>"

    def __del__(self):
        with contextlib.suppress(Exception):
            self._backend._released.append((self._generation, self._handle_id))


class Kept(Remote):
    """A value the submission returned that stayed in the worker as it was returned (arrays by
    reference), so `student.read(kept)` later shows whether a later call changed it. It can be
    passed back as an argument: the submission then gets that very object, not a copy."""

    def __repr__(self) -> str:
        return f"<kept value #{self._handle_id} of the submission>"


class SandboxStudent:
    """The submission in a sandboxed worker (student.Student, as inprocess.InProcessStudent).

    It owns the submission's slot (a uid), cgroup and private folder; its `_host` (host.WorkerHost)
    starts, talks to and stops the worker process."""

    name_raises = True  # the worker always reports an exception of the submission as one line naming the call

    def __init__(self, path, *, data_dir=None, memory_mb: int = 2048, cpu_seconds: int = 600,
                 call_timeout: float = 60.0, import_timeout: float = 20.0, imports: dict | None = None,
                 wall_timeout: float | None = None, idle_call: float = IDLE_CALL, idle_total: float = IDLE_TOTAL):
        self._path = Path(path)
        # the folder the trusted reader (`data`) reads; nothing of it is mounted in the worker
        self._data_dir = str(Path(data_dir).resolve()) if data_dir is not None else str(mnist.DEFAULT_DIR)
        self._call_timeout = float(call_timeout)
        self._budget = None
        mode, reason = probe()
        if (refusal := sandbox_refusal()) is not None:
            raise SandboxUnavailable(refusal)
        self._released: list = []
        self._request_id = 0
        self._slot = Slot()
        self._group = cgroup.open_group(self._slot.uid, int(memory_mb))
        if self._group is None:
            reason += f"; no cgroup ({cgroup.find()[1]}), so the worker may not start processes or threads"
        self._private = staging.make(STAGING)  # mode 0700; removed on close, exit or SIGTERM, else swept later
        sub_dir = copy_submission(self._path, self._private)
        spec = Spec(mode=mode, nested=nested_userns(), slot_uid=self._slot.uid, sub_dir=sub_dir,
                    file_name=self._path.name, private=self._private, memory_mb=int(memory_mb),
                    cpu_seconds=int(cpu_seconds), group=self._group,
                    imports=imports)  # the from-scratch rule (rule.ImportRule.worker_config), or None
        self._host = WorkerHost(spec, self._path, reason, import_timeout=import_timeout, wall_timeout=wall_timeout,
                                idle_call=idle_call, idle_total=idle_total)

    backend = property(lambda self: self._host.spec.mode)
    path = property(lambda self: self._path)
    reason = property(lambda self: self._host.reason)
    slot_uid = property(lambda self: self._slot.uid)
    stops = property(lambda self: self._host.stops)  # limits that stopped a worker (cpu, idle, wall, killed)

    # -- the student API (grader/sandbox/student.py), shared with inprocess.InProcessStudent

    def __getattr__(self, name: str):
        check_api_name(self, name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs):
        return self._request({"op": "call", "name": name}, (list(args), kwargs), name)

    def construct(self, name: str, args, kwargs: dict, attrs: dict):
        """Call `name` (the submission's class), then set each attribute of `attrs` on the object it returned,
        in one request: the worker sets them only on an object that stays there (leaves as a handle), as
        `set_attrs` does. A constructor's error is named `name`, a setter's as set_attr's would be."""
        names = [str(attr) for attr in attrs]
        return self._request({"op": "call", "name": name, "set": names}, (list(args), dict(kwargs), list(attrs.values())),
                             name, label=setter_label(names))

    def keep(self, name: str, *args, **kwargs) -> Kept:
        """Call module function `name`; its return value stays in the worker (read it with `read`)."""
        return self._request({"op": "call", "name": name, "keep": True}, (list(args), kwargs), name)

    def read(self, kept: Kept):
        """A copy of a kept value as it is now (after whatever calls came since it was returned)."""
        if not isinstance(kept, Kept):
            raise TypeError(f"not a kept value: {kept!r}")
        handle = self._handle_of(kept)
        return self._request({"op": "read", "handle": handle.id}, None, "a value it returned earlier")

    def run_epochs(self, model, X, Y, order, batch_size: int, lr, x_divisor: float = 1.0) -> dict:
        """grader.sandbox.training.run_epochs on `model` in the worker: the steps of `train` with the
        batch order given here (a schedule: a list of orders and one of rates, X sent once for all);
        returns its losses and states (untrusted: tests/hidden/trajectory.py checks them)."""
        handle = self._handle_of(model)
        rates = [float(rate) for rate in lr] if isinstance(lr, (list, tuple)) else float(lr)
        return self._request({"op": "epochs", "handle": handle.id}, [X, Y, order, int(batch_size), rates,
                             float(x_divisor)], f"training {model.type_name} (forward, loss, backward, update)")

    def standin(self, names) -> None:
        """Rebind the submission's functions `names` to trusted stand-ins (grader/sandbox/standin.py) in the
        worker, or restore them (None). The worker has no formula: it gets the source of these stand-ins only.
        No request is made when the current worker has exactly this set installed already (a fresh worker
        has none), so a run of tests asking for one set costs one install."""
        wanted = tuple(sorted({str(n) for n in names})) if names else ()
        if standins_now(getattr(self, "_installed", ()), self._host.worker) == wanted:
            return
        held = frozenset()
        if names:
            from grader.sandbox import standin  # the grader's only (the bundle has no stand-ins)

            held = standin.closure(names)  # every function whose source goes with the request, helpers included
            names = [[str(n) for n in names], standin.source_of(names)]
        self._installed = None  # unknown while the request is out, and after it failed
        self._request({"op": "standin"}, names or None, "standing in for the activations", held=held)
        self._installed = (self._host.worker.generation, wanted)  # booked on the worker that answered

    @property
    def formulas_held(self) -> frozenset:
        """The functions whose trusted formula the current worker has been sent (none for a new worker)."""
        generation, names = getattr(self, "_held", (None, frozenset()))
        return names if self._host.worker is not None and self._host.worker.generation == generation else frozenset()

    def restart(self) -> None:
        """Stop the worker: the next call starts a new one, which imports the submission afresh."""
        self._host.stop()

    def data(self, name: str, rows: tuple[int, int] | None = None):
        """A data set read here by the trusted reader; it reaches the worker only as an argument (the
        worker has no data folder: it never sees data the suite judges with, e.g. the MNIST test split)."""
        if name not in mnist.NAMES:
            raise ValueError(f"unknown data set {name!r}; known: {', '.join(mnist.NAMES)}")
        return mnist.dataset(name, data_dir=self._data_dir, rows=rows)

    @contextlib.contextmanager
    def limits(self, seconds: float | None = None):
        """Raise the per-call wall budget for the calls in this block (e.g. training on MNIST)."""
        previous = self._budget
        self._budget = seconds if seconds is not None else previous
        try:
            yield self
        finally:
            self._budget = previous

    def take_output(self) -> str:
        """What the submission printed since the last take: at most 64 KiB, control characters escaped."""
        return self._host.take_output()

    def close(self) -> None:
        if getattr(self, "_host", None) is not None:  # None when __init__ stopped before it was made
            self._host.stop()
        if self._group is not None:  # once: a later close() (from __del__) must not touch a reused slot's group
            self._group.remove()
            self._group = None
        self._slot.release()
        staging.remove(self._private)

    def usage(self) -> dict:
        """The submission's idle seconds, and its CPU seconds and peak memory (MiB) as its cgroup counted them."""
        idle = {"idle_seconds": round(self._host.idle, 2)}  # waiting without computing, over all calls
        if self._group is None:
            return idle
        return {"cpu_seconds": round(self._group.cpu_seconds(), 2), "peak_mib": self._group.peak_bytes() >> 20, **idle}

    def ping(self) -> float:
        """Seconds for an empty round trip (starts the worker if needed)."""
        start = time.monotonic()
        self._request({"op": "ping"}, None, "ping")
        return time.monotonic() - start

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    # -- requests

    def _request(self, header: dict, args, call: str, held: frozenset = frozenset(), label=None):
        worker = self._host.ensure()
        if select.select([worker.rpc_in], [], [], 0)[0]:
            # Data or EOF while no request is outstanding: the submission killed or tampered with its
            # worker after the last reply. Not this call's fault: start afresh (old handles expire), with
            # the stand-ins the old worker had (a set is sent once per worker: the test was promised it).
            lost = standins_now(getattr(self, "_installed", ()), worker)  # None while a stand-in request is out
            self._host.stop(dying=True)
            if lost:
                self.standin(list(lost))
            worker = self._host.ensure()
        if held:  # formulas this request carries: held by the worker it goes to, from before it is sent
            self._held = (worker.generation, self.formulas_held | held)
        seconds = self._budget if self._budget is not None else self._call_timeout
        self._request_id += 1
        header = {**header, "id": self._request_id}
        released = [h for g, h in self._released if g == worker.generation]
        self._released.clear()
        if released:
            header["release"] = released
        tree, arrays = protocol.encode(args, handle_of=self._wire_handle)
        header["args"] = tree
        message = protocol.pack_parts(header, arrays)  # the arrays' data is written from where it lies
        del arrays
        kept = header.get("keep") is True
        reply, arrays = self._host.exchange(worker, message, seconds, call, self._kept if kept else self._remote)
        if reply.get("id") != self._request_id:
            self._host.stop()
            raise BadReply(f"{call}: the worker's reply does not belong to this request (the submission "
                           "tampered with the worker or its reply channel); the worker was stopped")
        if reply.get("ok") is True:
            value = reply["value"]
            if kept and not isinstance(value, Kept):
                self._host.stop()
                raise BadReply(f"{call}: the reply was rejected (a kept value was asked for but none came back); "
                               "the worker was stopped")
            return value
        error = reply.get("error")  # label: names the part of the request that failed (setter_label)
        raise error_of(self._host, (label(error) if label and isinstance(error, dict) else None) or call, error)

    def _wire_handle(self, value) -> Handle:
        if isinstance(value, Remote):
            return self._handle_of(value)
        raise TypeError(f"cannot send a value of type {type(value).__name__} to the submission")

    def _handle_of(self, target) -> Handle:
        if not isinstance(target, Remote) or target._backend is not self:
            raise TypeError(f"not an object of this submission: {target!r}")
        worker = self._host.worker
        if worker is None or target._generation != worker.generation:
            raise HandleExpired(
                f"this {target.type_name} object was made by a worker that has since been stopped "
                "(after a timeout or a crash); create it again"
            )
        return Handle(target._handle_id, target.type_name)

    def _remote(self, handle_id: int, type_name: str) -> Remote:
        return Remote(self, handle_id, self._host.worker.generation, type_name)

    def _kept(self, handle_id: int, type_name: str) -> Kept:
        return Kept(self, handle_id, self._host.worker.generation, "kept value")


def error_of(host: WorkerHost, call: str, error) -> StudentError:
    """The trusted-side exception for an error reply; a reply of no known kind stops the worker (`host`)."""
    if not isinstance(error, dict):
        host.stop()
        return BadReply(f"{call}: the error reply has no error description; the worker was stopped")
    kind = error.get("kind")
    if kind == "raised":
        return protocol.raised_error(call, error)
    if kind in ("missing", "unsupported"):
        return Unavailable(clean_text(error.get("message", ""), 300))
    host.stop()
    return BadReply(f"{call}: unknown error kind {clean_text(kind, 40)}; the worker was stopped")


def attributes_of(host: WorkerHost, type_name: str, names: list, got):
    """The iterator of Remote.get_attrs over the worker's reply `got` ({"values", "error"}), checked now: a reply
    of another shape, or with values for more attributes than asked, stops the worker (BadReply)."""
    values, error = (got.get("values"), got.get("error")) if type(got) is dict else (None, None)
    complete = type(values) is list and error is None and len(values) == len(names)
    if not complete and not (type(values) is list and type(error) is dict and len(values) < len(names)):
        host.stop()
        raise BadReply(f"{type_name}.{', '.join(names)}: the reply was rejected (not the attributes asked for); "
                       "the worker was stopped")

    def each():
        yield from values
        if error is not None:
            raise error_of(host, f"{type_name}.{names[len(values)]}", error)

    return each()


def setter_label(names: list, type_name: str | None = None):
    """For a request that sets the attributes `names` one after the other: the call name of a setter's error
    reply, as set_attr would name it. The reply's index ("at") only picks one of `names`; its type name
    ("of") is used only for an object the request made (`type_name` None); None for any other error."""
    def label(error: dict) -> str | None:
        at = error.get("at")
        if type(at) is not int or not 0 <= at < len(names):
            return None
        return f"setting {type_name or clean_text(error.get('of'), 80)}.{names[at]}"

    return label


def standins_now(installed, worker) -> tuple | None:
    """The stand-ins `worker` (the current one, or None) has installed, given the last install request
    (`installed`: (generation, sorted names), None when it failed): () for a worker that never got one (a
    fresh worker; with none, the next one starts fresh), None when unknown."""
    if installed is None or worker is None:
        return None if installed is None and worker is not None else ()
    return installed[1] if installed and installed[0] == worker.generation else ()
