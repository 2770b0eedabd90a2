"""The trusted bootstrap of the worker: it runs inside the sandbox, imports the submission and serves calls.

Run as `python -I boot.py CONFIG_JSON` by grader.sandbox, never by hand. Why it exists: limits and
the RPC channel must be in place before a single line of submission code runs, and the parent has
threads, so it cannot use preexec_fn to do this after fork. Order:

1. arm the life pipe (`arm_life`: the kernel SIGKILLs this process group once the host's end
   closes) and exit at once if the host is gone already (worker.py's docstring says why); move it
   and the RPC pipes to high fds (close-on-exec) and close the originals, so `print` or a stray
   os.write(3, ...) cannot land in the reply stream; fds 1 and 2 are the output pipe;
   leave the kernel keyrings it inherited or its uid kept (`leave_keyrings`: the grader's session keyring,
   an earlier worker's keys); where it cannot, the submission is not imported and the ready reply says why;
2. set the rlimits (address space, CPU, processes, file size, open files, core);
3. import numpy (BLAS threads were pinned to 1 in the environment before Python started), install
   the import guard of the from-scratch rule (config "imports"; ImportGuard), then import the
   submission, and reply "ready" or the import error;
4. answer requests: call a module function or class, call a method of a kept object, get or set an
   attribute (or several in one request, in order; or set them on a new object in the request that made it),
   release objects, ping; with "keep" in a call/method/get request the result stays
   here and only its handle leaves ("read" copies it out later: aliasing tests); "epochs" runs
   training steps (grader/sandbox/training.py) on a kept model; "standin" rebinds the module's activations
   and losses to trusted ones (grader/sandbox/standin.py), compiled from the source sent with the
   request, or restores them. Every call is wrapped in
   `except BaseException`, so sys.exit, KeyboardInterrupt or pytest.exit in a submission become an
   error reply, not the end of the worker.

Return values leave as copies: base ndarrays, Python scalars, lists/tuples/dicts of those; any other
object stays here in a table and leaves as a handle. Nothing in here is a security boundary on its
own (the submission runs in this process and can undo anything); the parent validates every reply.
"""

import fcntl
import json
import os
import resource
import select
import signal
import sys
import traceback

RPC_FD_FLOOR = 900  # above RLIMIT_NOFILE, so the submission's own opens never get these numbers
HOST_GONE = 75  # the exit status of a worker that found its host gone before the submission was imported
KEYCTL = {"x86_64": 250, "i386": 288, "i686": 288, "aarch64": 219, "riscv64": 219, "armv7l": 311}  # keyctl(2)


def main() -> None:
    config = json.loads(sys.argv[1])
    arm_life(config["life"])
    rpc_in, rpc_out = moved_high(config["rpc_in"]), moved_high(config["rpc_out"])
    refusal = leave_keyrings(config.get("slot") is True)
    limit_resources(config)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import numpy  # noqa: F401  (before the submission: its import cost is not the submission's)

    import protocol
    import training

    try:
        import standin  # the grader's only (no formula in it: the stand-ins arrive as source with each request)
    except ImportError:
        standin = None

    sys.path.remove(here)
    if config.get("imports"):
        sys.meta_path.insert(0, ImportGuard(config["imports"]["allowed"], config["imports"]["message"]))
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, errors="backslashreplace")
    Worker(protocol, rpc_in, rpc_out, config, training, standin, refusal=refusal).run()


def moved_high(fd: int) -> int:
    """`fd` moved to a close-on-exec number from RPC_FD_FLOOR on (the original closed): out of the submission's way."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, RPC_FD_FLOOR)
    os.close(fd)
    return high


def arm_life(fd: int) -> None:
    """Die with the host: O_ASYNC on the life pipe's read end with F_SETSIG SIGKILL makes the kernel send
    SIGKILL to this process group (this process alone when it leads none) when the pipe's only write
    end, the host's, closes. Armed first, then checked, so a host that died before is not missed: the
    host never writes, so a readable pipe means it is gone. Defence in depth beside bwrap's
    --die-with-parent chain: the submission runs in this process and could disarm it."""
    life = moved_high(fd)
    group = os.getpgrp()
    fcntl.fcntl(life, fcntl.F_SETOWN, -group if group == os.getpid() else os.getpid())
    fcntl.fcntl(life, fcntl.F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(life, fcntl.F_SETFL, fcntl.fcntl(life, fcntl.F_GETFL) | os.O_ASYNC)
    if select.select([life], [], [], 0)[0]:
        os._exit(HOST_GONE)


def leave_keyrings(slot: bool) -> str | None:
    """Join a new, empty session keyring and, when this worker runs as a slot uid (`slot`), empty that uid's own
    keyrings, before any submission code runs; the reason the worker must not import the submission, or None.

    A process inherits its parent's session keyring through fork, exec and bwrap and, as its possessor, may read
    every key linked there whatever its uid or user namespace: without this the submission read the grader's
    (a tutor's login session keyring holds what their tools put there: a Kerberos ticket cache, say). A uid's
    user, user-session and persistent keyrings belong to the uid in its user namespace: without the sandbox's
    nested user namespace (and in the "process" fallback) they outlive the worker, so what an earlier worker of
    the slot left there (a stand-in's source, stashed before the restart that precedes the integration tests;
    another submission's data) is cleared. Never a uid's that is not a slot's: run as the grader's own uid (not
    root, or the "process" fallback) they are the tutor's. A kernel without keyrings (ENOSYS) has none to leave."""
    import errno

    try:
        import ctypes
    except ImportError:  # an interpreter built without _ctypes
        return "the worker could not leave the grader's kernel keyrings (this Python has no ctypes)"
    number = KEYCTL.get(os.uname().machine)
    if number is None:
        return (f"the sandbox does not know the keyctl system call number of this machine ({os.uname().machine}), "
                "so the worker could not leave the grader's kernel keyrings")
    libc = ctypes.CDLL(None, use_errno=True)

    def keyctl(operation: int, *args: int) -> int:
        result = libc.syscall(number, ctypes.c_long(operation), *(ctypes.c_long(a) for a in args))
        return result if result >= 0 else -ctypes.get_errno()

    def refuse(error: int) -> str:
        return f"the worker could not leave the grader's kernel keyrings ({os.strerror(-error)}), so the submission was not imported"

    if (joined := keyctl(1, 0)) == -errno.ENOSYS or not slot:  # KEYCTL_JOIN_SESSION_KEYRING, anonymous
        return None if joined >= 0 or joined == -errno.ENOSYS else refuse(joined)
    persistent = keyctl(22, -1, -3)  # KEYCTL_GET_PERSISTENT: this uid's, linked into the new session keyring
    cleared = [keyctl(7, ring) for ring in (-4, -5)]  # KEYCTL_CLEAR of the user and user-session keyrings
    if persistent >= 0:
        cleared += [keyctl(7, persistent), keyctl(9, persistent, -3)]  # cleared, then unlinked (KEYCTL_UNLINK)
    elif persistent not in (-errno.EOPNOTSUPP, -errno.ENOSYS):  # a kernel without persistent keyrings has none
        cleared.append(persistent)
    failed = [result for result in [joined] + cleared if result < 0]
    return refuse(failed[0]) if failed else None


def limit_resources(config: dict) -> None:
    """rlimits before any submission code; the parent's wall-clock timers are the real per-call bound."""
    mib = 1 << 20
    limits = [
        (resource.RLIMIT_AS, config["memory_mb"] * mib, config["memory_mb"] * mib),
        (resource.RLIMIT_CPU, config["cpu_seconds"], config["cpu_seconds"] + 1),
        (resource.RLIMIT_FSIZE, 8 * mib, 8 * mib),
        (resource.RLIMIT_NOFILE, 64, 64),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    # "no-fork": no cgroup caps the submission as a whole, so it may start no process or thread at
    # all (a limit below the current count only refuses new tasks; BLAS threads are pinned to 1).
    nproc = 1 if config.get("nproc") == "no-fork" else config.get("nproc")
    if nproc:
        limits.append((resource.RLIMIT_NPROC, nproc, nproc))
    for kind, soft, hard in limits:
        old_soft, old_hard = resource.getrlimit(kind)
        if old_hard != resource.RLIM_INFINITY:
            hard = min(hard, old_hard)
        resource.setrlimit(kind, (min(soft, hard), hard))


class ImportGuard:
    """The from-scratch rule: the submission may import the standard library and the allowed modules only.

    A finder first on sys.meta_path, so it is asked before a module is found (installed or not). An
    import of anything else is refused with an ImportError carrying the rule's message, unless it is
    requested by an allowed third-party package or by what such a package pulled in (matplotlib needs
    PIL, numpy its own parts): the requester is the innermost frame outside the standard library and
    the import machinery. A module already in sys.modules is not asked about again. Like the rest of
    this process this is no security boundary (the submission could remove the guard); the trusted
    process also lists forbidden imports found statically (grader/grading/imports.py).
    """

    def __init__(self, allowed: list, message: str):
        self.stdlib = sys.stdlib_module_names
        self.trusted = {str(name) for name in allowed} - self.stdlib  # grows with what they pull in
        self.message = str(message)

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.stdlib or top in self.trusted:
            return None
        frame = sys._getframe(1)
        owner = ""
        while frame is not None:
            name = frame.f_globals.get("__name__")
            owner = name.partition(".")[0] if isinstance(name, str) else ""
            if owner not in self.stdlib:
                break
            frame = frame.f_back
        if owner in self.trusted:
            self.trusted.add(top)
            return None
        raise ImportError(self.message.replace("{module}", top), name=fullname)


class Worker:
    def __init__(self, protocol, rpc_in: int, rpc_out: int, config: dict, training=None, standin=None, refusal=None):
        self.protocol, self.training, self.standin = protocol, training, standin
        self.refusal = refusal  # why the submission must not be imported here (leave_keyrings), or None
        self.standins: list = []  # undo records of the stand-ins installed now (op "standin")
        self.rpc_in, self.rpc_out = rpc_in, rpc_out
        self.path = config["submission"]
        self.objects: dict = {}  # handle id -> object
        self.ids: dict = {}  # id(object) -> handle id, so one object keeps one handle
        self.next_id = 1
        self.module = None
        # Bound now: a submission that patches numpy or json must not change how replies are built.
        self.encode, self.pack = protocol.encode, protocol.pack

    def run(self) -> None:
        self.send({"id": 0, **self.import_submission()})
        while True:
            try:
                body = self.protocol.read_message(self.rpc_in, self.protocol.MAX_REQUEST_BYTES)
            except EOFError:
                os._exit(0)
            header = {}
            try:
                header, arrays = self.protocol.unpack(body)
                del body
                reply = self.answer(header, arrays)
            except BaseException as error:  # noqa: BLE001 - the submission may raise anything
                reply = {"ok": False, "error": self.describe(error)}
            self.flush_output()
            self.send({"id": header.get("id") if isinstance(header, dict) else None, **reply})

    def import_submission(self) -> dict:
        import importlib.util

        name = os.path.splitext(os.path.basename(self.path))[0]
        if self.refusal is not None:  # nothing of the submission runs
            return {"ok": False, "error": {"kind": "import", "type": "SandboxError", "message": self.refusal}}
        try:
            spec = importlib.util.spec_from_file_location(name, self.path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as error:  # noqa: BLE001
            self.flush_output()
            described = self.describe(error)
            if isinstance(error, SyntaxError):
                described["lineno"] = error.lineno
                described["message"] = str(error.msg)
            return {"ok": False, "error": {**described, "kind": "import"}}
        self.module = module
        self.flush_output()
        return {"ok": True, "ready": True}

    def answer(self, header: dict, arrays: list) -> dict:
        for handle_id in header.get("release") or []:
            obj = self.objects.pop(handle_id, None)
            self.ids.pop(id(obj), None)
        op = header.get("op")
        if op == "ping":
            return {"ok": True, "value": "pong"}
        args = self.protocol.decode(header.get("args"), arrays, self.find)
        reply = self.hold if header.get("keep") is True else self.result
        if op == "call":
            target, name = self.module, header["name"]
            function = getattr(self.module, name, None)
            if not callable(function):
                return self.missing(f"{os.path.basename(self.path)} defines no function or class named {name!r}")
            if "set" in header:  # construct: then set attributes on the new object (args[2]: their values)
                return self.made(function(*args[0], **args[1]), header["set"], args[2])
            return reply(function(*args[0], **args[1]))
        if op == "method":
            target = self.find(header["handle"], None)
            function = getattr(target, header["name"], None)
            if not callable(function):
                return self.missing(f"{type(target).__name__} has no method {header['name']!r}")
            return reply(function(*args[0], **args[1]))
        if op == "get" and "names" in header:
            return self.result(attributes(self, self.find(header["handle"], None), header["names"]))
        if op == "get":
            target = self.find(header["handle"], None)
            try:
                value = getattr(target, header["name"])
            except AttributeError:
                return self.missing(f"{type(target).__name__} has no attribute {header['name']!r}")
            return reply(value)
        if op == "read":
            return self.result(self.find(header["handle"], None))
        if op == "epochs":
            return self.result(self.training.run_epochs(self.find(header["handle"], None), *args))
        if op == "set" and "names" in header:  # several, in order; an error says which one raised ("at")
            failed = self.assign(self.find(header["handle"], None), header["names"], args)
            return {"ok": True, "value": None} if failed is None else {"ok": False, "error": failed}
        if op == "set":
            setattr(self.find(header["handle"], None), header["name"], args)
            return {"ok": True, "value": None}
        if op == "standin":  # args: [names, their source] to rebind to trusted stand-ins, or None to restore
            if self.standin is None:
                return self.missing("the trusted stand-ins are not in this runtime (only the grader has them)")
            self.standin.restore(self.standins)
            self.standins = []
            if args:
                names = [str(n) for n in args[0]]
                self.standins = self.standin.install(self.module, names, self.standin.build(args[1], names))
            return {"ok": True, "value": len(self.standins)}
        return self.missing(f"unknown request {op!r}")

    def result(self, value) -> dict:
        try:
            tree, arrays = self.encode(value, handle_of=self.keep)
        except (TypeError, ValueError) as error:
            return {"ok": False, "error": {"kind": "unsupported", "message": f"returned {error}"}}
        size = sum(a.nbytes for a in arrays)
        if size > self.protocol.MAX_REPLY_BYTES - (1 << 20):
            return {
                "ok": False,
                "error": {"kind": "unsupported", "message": f"returned {size >> 20} MiB of data; at most 63 MiB can cross"},
            }
        return {"ok": True, "value": tree, "_arrays": arrays}

    def made(self, value, names: list, values: list) -> dict:
        """The reply for a constructed value, with the attributes `names` set on it first, one after the other,
        when it is an object that stays here; an error says which one raised ("at") and of what type ("of")."""
        outcome = self.result(value)
        tree = outcome.get("value")
        if outcome.get("ok") is True and type(tree) is dict and "handle" in tree:
            failed = self.assign(value, names, values)
            if failed is not None:
                return {"ok": False, "error": {**failed, "of": type(value).__name__}}
        return outcome

    def assign(self, target, names: list, values: list) -> dict | None:
        """Set the attributes `names` on `target` one after the other; at the first that raises, stop and return
        its error with the index of that name ("at"); None when every one was set."""
        for at, (name, value) in enumerate(zip(names, values)):
            try:
                setattr(target, name, value)
            except BaseException as error:  # noqa: BLE001 - the submission may raise anything
                return {**self.describe(error), "at": at}
        return None

    def hold(self, value) -> dict:
        """Keep a returned value here as it is (containers rebuilt one level at a time, arrays and
        objects by reference), so a later "read" shows whether the submission changed it since."""
        def rebuild(v):
            if type(v) in (list, tuple):
                return type(v)(rebuild(x) for x in v)
            if type(v) is dict:
                return {k: rebuild(x) for k, x in v.items()}
            return v

        handle_id, self.next_id = self.next_id, self.next_id + 1
        self.objects[handle_id] = rebuild(value)
        return {"ok": True, "value": {"handle": handle_id, "type": "kept"}}

    def missing(self, message: str) -> dict:
        return {"ok": False, "error": {"kind": "missing", "message": message}}

    def keep(self, obj):
        """The handle of an object that cannot be copied out; the object stays alive in the table."""
        handle_id = self.ids.get(id(obj))
        if handle_id is None:
            handle_id, self.next_id = self.next_id, self.next_id + 1
            self.objects[handle_id] = obj
            self.ids[id(obj)] = handle_id
        return self.protocol.Handle(handle_id, type(obj).__name__)

    def find(self, handle_id: int, type_name):
        if handle_id not in self.objects:
            raise LookupError(f"object #{handle_id} is not kept by this worker")
        return self.objects[handle_id]

    def describe(self, error: BaseException) -> dict:
        """What the parent needs to explain an exception: type, message, builtin base, own frames."""
        builtin = next(
            (k.__name__ for k in type(error).__mro__ if k.__module__ == "builtins" and k.__name__ in self.protocol.BUILTIN_ERRORS),
            None,
        )
        if isinstance(error, NotImplementedError):
            message = str(error.args[0]) if error.args else ""
        else:
            try:
                message = str(error)
            except BaseException:  # noqa: BLE001 - a hostile __str__
                message = "<message could not be shown>"
        frames = [
            [frame.lineno, frame.name, (frame.line or "").strip()[:200]]
            for frame in traceback.extract_tb(error.__traceback__)
            if frame.filename == self.path
        ]
        return {
            "kind": "raised",
            "type": type(error).__name__,
            "builtin": builtin,
            "message": message[:2000],
            "frames": frames[-8:],
        }

    def send(self, reply: dict) -> None:
        arrays = reply.pop("_arrays", [])
        try:
            message = self.pack(reply, arrays)
        except BaseException as error:  # noqa: BLE001 - e.g. a str subclass that json cannot take
            failure = {"kind": "unsupported", "message": f"returned a value that cannot be sent ({error!r:.200})"}
            message = self.pack({"id": reply.get("id"), "ok": False, "error": failure}, [])
        self.protocol.write_message(self.rpc_out, message)

    def flush_output(self) -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - the submission may have replaced or closed them
                pass


def attributes(worker: Worker, target, names: list) -> dict:
    """Several attributes of `target`, in order: {"values": those got, "error": what a get of the next one
    would have answered, or None}; none is asked for after a failed one."""
    values = []
    for name in names:
        try:
            value = getattr(target, name)
        except AttributeError:
            return {"values": values, "error": worker.missing(f"{type(target).__name__} has no attribute {name!r}")["error"]}
        except BaseException as error:  # noqa: BLE001 - the submission may raise anything
            return {"values": values, "error": worker.describe(error)}
        try:
            worker.encode(value, handle_of=worker.keep)  # a value that cannot cross stops here, as its own get would
        except (TypeError, ValueError) as error:
            return {"values": values, "error": {"kind": "unsupported", "message": f"returned {error}"}}
        values.append(value)
    return {"values": values, "error": None}


if __name__ == "__main__":
    main()
