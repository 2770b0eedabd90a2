"""Where the sandbox's parts live and the bubblewrap command that isolates a worker; `probe()`.

Isolation decision (the root / mode-0700 interpreter problem)
-------------------------------------------------------------
The grader often runs as root (here, and on CI), with the interpreter in /root/.pyenv/versions/X
under /root (mode 0700). The sandbox must run as a non-root kernel uid, one per parallel slot,
because RLIMIT_NPROC is ignored for kuid 0 and because kuid 0 still reads root-owned 0600 files.
Options, as measured on this machine (bwrap 0.8.0, kernel 6.18, Python 3.11.7 under /root):

1. setpriv to the slot uid, then bwrap (the notes' command): bwrap cannot reach the interpreter
   through /root ("execvp ...: Permission denied"); it would need a world-readable copy of the
   1.3 GB prefix (or a trimmed 190 MB one) that someone keeps in sync, plus LD_LIBRARY_PATH because
   the binary's RUNPATH points into /root. Rejected: slow to set up, easy to get stale.
2. bwrap as root, no user namespace, `--cap-drop ALL --cap-add CAP_SETUID,CAP_SETGID,CAP_SETPCAP`:
   root does the mounts (so it can bind the prefix at its own path; bwrap's parent dirs are made
   0755 with --perms), then the trusted `setpriv --reuid/--regid=<slot uid> --clear-groups
   --inh-caps=-all --bounding-set=-all --no-new-privs` drops to the slot uid INSIDE the sandbox
   before anything else runs. Works; but unprivileged user namespaces are enabled on the host, so
   the submission could still `unshare -U` (kernel attack surface, notes A37).
3. = 2, plus a nested unprivileged bwrap as the slot uid: `bwrap --unshare-user --disable-userns
   --cap-drop ALL --dev-bind / /` around python (--dev-bind: a plain --bind remounts nodev, and
   then even /dev/null cannot be opened). CHOSEN. Verified inside (tests/selftest/test_sandbox.py
   asserts each): uid/gid = slot uid, no supplementary groups; CapInh/Prm/Eff/Bnd/Amb all 0;
   NoNewPrivs 1; `unshare -U` refused (ENOSPC from max_user_namespaces=0); network unreachable;
   `/` holds only bin dev lib lib64 opt proc root sbin tmp usr (+ etc/ld.so.cache); RLIMIT_NPROC
   stops a fork bomb. Without the nested layer `unshare -U -r` succeeds in the sandbox (measured).
   Cost: lost in the noise (spawn-to-ready medians 172 vs 175 ms, 12 interleaved runs at load 3.6
   on 2 cores; about 120 ms on an idle machine). If the nested bwrap cannot run
   (user namespaces disabled for unprivileged users), nested `unshare -U` is impossible too, so
   the probe falls back to option 2 and says so in `probe()`'s reason.
When the grader is not root, bwrap runs as the grader's own uid with `--unshare-user
--disable-userns --cap-drop ALL` (the interpreter is then readable by that uid by definition);
RLIMIT_NPROC is then set to the uid's current task count + 32, since it is counted per uid.

Everything else follows the course's sandbox design notes (section 4): the interpreter is bound at its
own path (sys.base_prefix, and sys.prefix too when a venv is in use; never the pyenv shim), the
runtime files (KIT_FILES) and ONE submission file under /opt/exercise02, a size-capped private /tmp,
--clearenv with threads pinned to 1, `python -I -B`. The runtime files and the submission are copied
(bwrap --file) into a tmpfs at /opt/exercise02 that is then remounted read-only, not bound: a bind
mount names its source in /proc/self/mountinfo, which would show the kit's folder and the staging
folder inside. The interpreter's folders, /usr and the other system folders are bound at their own
paths, so the mount table names only paths the worker sees anyway (sys.prefix is the interpreter's
own path: the binary's RUNPATH and its stdlib point there, so it cannot move). Parallel pytest processes take a slot with an flock on
/tmp/exercise02-grader-slots/<k>.lock (uid 61000+k), so they never share a uid.

"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

from grader.sandbox import bytecode
from grader.sandbox.error import GraderError
from grader.sandbox.kit import KIT
from grader.sandbox.protocol import clean_text

KIT_FILES = ("boot.py", "error.py", "npy.py", "protocol.py", "training.py")  # the runtime files mounted into the sandbox
GRADER_FILES = ("standin.py",)  # mounted too where present: the grader's kit has them, the student bundle does not
RUNTIME_DIR = Path(__file__).resolve().parent  # grader/sandbox/
KIT_DIR = KIT  # the kit's top folder: must never be visible inside
INSIDE = "/opt/exercise02"  # where the runtime files and the submission appear in the sandbox
# the runtime modules' bytecode, compiled once per process and copied next to them (grader/sandbox/bytecode.py)
RUNTIME_PYC = bytecode.precompile([name for name in KIT_FILES + GRADER_FILES if name != "boot.py"], INSIDE)
SLOT_UID_BASE = 61000
SLOT_COUNT = 64
TMPFS_BYTES = 64 << 20
UNSANDBOXED_ENV = "EXERCISE02_UNSANDBOXED"  # "1": run the worker without bwrap (trusted submissions only)
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "GOTO_NUM_THREADS", "BLIS_NUM_THREADS")


# --------------------------------------------------------------------------- where things are


def interpreter() -> str:
    """The real interpreter binary: resolved (never a pyenv shim), except in a venv, whose
    bin/python symlink must be kept so that the venv's site-packages are used."""
    if sys.prefix != sys.base_prefix:
        return sys.executable
    return os.path.realpath(sys.executable)


def interpreter_trees() -> list[str]:
    """Folders the worker's Python needs: the base prefix, the venv prefix and numpy's site dir."""
    import numpy

    trees = []
    for path in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(numpy.__file__))):
        path = os.path.realpath(path)
        if not any(path == t or path.startswith(t + os.sep) for t in trees + ["/usr"]):
            trees.append(path)
    kit = str(KIT_DIR)
    for tree in trees:
        if kit == tree or kit.startswith(tree + os.sep):
            raise RuntimeError(f"the kit ({kit}) lies inside the interpreter folder {tree}; it would be visible")
    return trees


def site_folders() -> list[str]:
    """The folders a `pip install` of this interpreter (its venv and its base) puts packages in."""
    import site
    import sysconfig

    folders = set(site.getsitepackages())
    for base in {sys.prefix, sys.base_prefix}:
        paths = sysconfig.get_paths(vars={"base": base, "platbase": base})
        folders |= {paths["purelib"], paths["platlib"]}
    return sorted(folders)


def installed_copies(bound: list[str], folders: list[str] | None = None) -> list[str]:
    """Copies of the grader package (formula.py, the grading code) that a `pip install .` left in a folder
    the sandbox binds (`bound`): the checkout in use is never bound (interpreter_trees), but a copy
    installed next to it without -e is, and would hand the worker every formula."""
    found = []
    for folder in (site_folders() if folders is None else folders) + [str(RUNTIME_DIR.parents[1])]:
        package = os.path.join(os.path.realpath(folder), "grader")
        if package not in found and os.path.isfile(os.path.join(package, "sandbox", "formula.py")) and \
                any(package.startswith(root.rstrip("/") + "/") for root in bound):
            found.append(package)
    return found


def reachable_by_others(path: str) -> bool:
    """Whether a uid that is neither owner nor in the group can read `path` (every parent searchable)."""
    parts = Path(os.path.realpath(path)).parts
    for i in range(1, len(parts) + 1):
        mode = os.stat(os.path.join(*parts[:i])).st_mode
        if i < len(parts) and not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


# --------------------------------------------------------------------------- probe


_probed: tuple | None = None
_PROBING = threading.Lock()
PROBED_ENV = "EXERCISE02_PROBED"  # the grader's own probe of this machine, handed to its pytest processes


def probe() -> tuple[str, str]:
    """("bwrap", how) when the strong path works here, else ("process", why not). Cached per process.

    A pytest process the grader starts on this machine is handed the grader's probe (probe_record) in
    PROBED_ENV instead of starting a trial worker of its own (about 0.2 s a submission). It is only
    ever a "bwrap" record: without it the probe runs, so a worker that cannot start still fails closed.
    """
    global _probed
    with _PROBING:  # one trial worker per process, however many threads ask at once
        if _probed is None:
            _probed = _handed() or _probe()
    return _probed[0], _probed[1]


def probe_record() -> str:
    """This process's probe as PROBED_ENV's value ("" unless the strong path works here)."""
    probe()
    return json.dumps(list(_probed)) if _probed[0] == "bwrap" else ""


def _handed() -> tuple | None:
    try:
        mode, how, nested = json.loads(os.environ.get(PROBED_ENV) or "null")
    except (TypeError, ValueError):
        return None
    return ("bwrap", str(how), bool(nested)) if mode == "bwrap" else None


def _probe() -> tuple:
    bwrap = bwrap_path()
    if bwrap is None:
        return "process", "bubblewrap (bwrap) is not installed", False
    root = os.geteuid() == 0
    if root and shutil.which("setpriv", path="/usr/bin:/bin") is None:
        return "process", "running as root but setpriv (util-linux) is missing, so the sandbox cannot drop to a slot uid", False
    try:
        trees = interpreter_trees()
    except RuntimeError as error:
        return "process", str(error), False
    check = "import numpy, os; print(os.getuid())"
    tries = [True, False] if root else [True]
    failure = ""
    for nested in tries:
        layout = Layout(bwrap, trees, nested=nested, uid=SLOT_UID_BASE + SLOT_COUNT if root else None)
        command = layout.command(None, [interpreter(), "-I", "-B", "-c", check])
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=host_env(), timeout=30, start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as error:
            return "process", f"bwrap could not be started ({error})", False
        if done.returncode == 0:
            if not nested:
                return "bwrap", f"bwrap as root, dropping to a slot uid inside; nested bwrap failed ({failure}), " \
                                "so user namespaces are unavailable to the sandbox anyway", False
            how = "bwrap as root, setpriv to a slot uid, nested bwrap --disable-userns" if root else \
                "bwrap as this user with --unshare-user --disable-userns"
            return "bwrap", how, nested
        failure = clean_text(done.stdout.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"], 200)
    return "process", f"bwrap is installed but cannot run the worker here: {failure}", False


class SandboxUnavailable(GraderError, RuntimeError):
    """The sandbox cannot run on this machine and running without it was not asked for."""


def sandbox_refusal() -> str | None:
    """Why submissions must not be run here (the sandbox cannot start and EXERCISE02_UNSANDBOXED is not
    set), with what to do; None when they may."""
    mode, reason = probe()
    if mode == "bwrap" or os.environ.get(UNSANDBOXED_ENV) == "1":
        return None
    return (f"the sandbox cannot run on this machine: {reason}. Fix it: install bubblewrap and util-linux "
            "(Debian/Ubuntu: apt-get install bubblewrap util-linux), allow unprivileged user namespaces when "
            "not root (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), and use an "
            "interpreter the grader's user can read. Or, for trusted submissions only, run without it: "
            f"`grader grade --no-sandbox`, `pytest --in-process`, or {UNSANDBOXED_ENV}=1 for a worker "
            "process without isolation")


def host_env() -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def sandbox_env(home: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": home, "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({name: "1" for name in THREAD_ENV})
    return env


class Layout:
    """The bwrap command line: which namespaces, which binds, which uid."""

    def __init__(self, bwrap: str, trees: list[str], nested: bool, uid: int | None):
        self.bwrap, self.trees, self.nested, self.uid = bwrap, trees, nested, uid

    def command(self, sub_file: str | None, argv: list[str], info_fd: int | None = None,
                fds: list[int] | None = None) -> list[str]:
        """bwrap's argv. The runtime files and the submission file `sub_file` are copied into a read-only
        tmpfs at INSIDE from descriptors opened here and appended to `fds` (the caller passes them to the
        child and closes them): bound from the host, each mount would name its host path (the kit's
        folder, the staging folder) in /proc/self/mountinfo."""
        cmd = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session"]
        if info_fd is not None:
            cmd += ["--info-fd", str(info_fd)]
        if self.uid is not None:  # root: keep only what setpriv needs to drop to the slot uid
            cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        else:
            cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
            path = "/" + name
            if os.path.islink(path):
                cmd += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                cmd += ["--ro-bind", path, path]
        if os.path.exists("/etc/ld.so.cache"):
            cmd += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        # The private /tmp first: bwrap mounts in order, so a later --tmpfs /tmp would hide an
        # interpreter that lives under /tmp (a tutor's venv); the interpreter's folders go on top.
        cmd += ["--perms", "01777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
        made = {"/", "/usr", "/tmp", "/proc", "/dev"}
        for tree in self.trees:
            for parent in reversed(Path(tree).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", tree, tree]
        # A copy of the grader package installed without -e (formula.py, the grading code) lies in a folder
        # bound here: hide it under an empty read-only tmpfs; the worker's runtime files are the copies under INSIDE.
        for package in installed_copies(["/usr", *self.trees]):
            cmd += ["--size", "4096", "--tmpfs", package, "--remount-ro", package]
        cmd += ["--perms", "0755", "--dir", "/opt", "--perms", "0755", "--tmpfs", INSIDE]
        names = KIT_FILES + tuple(name for name in GRADER_FILES if (RUNTIME_DIR / name).is_file())
        sources = [(str(RUNTIME_DIR / name), f"{INSIDE}/{name}") for name in names] if fds is not None else []
        if sub_file is not None and fds is not None:
            cmd += ["--perms", "0755", "--dir", f"{INSIDE}/sub"]
            sources.append((sub_file, f"{INSIDE}/sub/{os.path.basename(sub_file)}"))
        for source, target in sources:
            fds.append(os.open(source, os.O_RDONLY | os.O_CLOEXEC))
            cmd += ["--perms", "0444", "--file", str(fds[-1]), target]
        if fds is not None and RUNTIME_PYC:
            cmd += ["--perms", "0755", "--dir", f"{INSIDE}/__pycache__"]
            for name in names:
                if name in RUNTIME_PYC and (fd := bytecode.memory_file(RUNTIME_PYC[name])) is not None:
                    fds.append(fd)
                    cmd += ["--perms", "0444", "--file", str(fd), f"{INSIDE}/__pycache__/{bytecode.pyc_name(name)}"]
        cmd += ["--remount-ro", INSIDE]
        cmd += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--clearenv"]
        for key, value in sandbox_env("/tmp").items():
            cmd += ["--setenv", key, value]
        cmd.append("--")
        if self.uid is not None:
            cmd += ["/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
            if self.nested:
                cmd += [self.bwrap, "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                        "--cap-drop", "ALL", "--dev-bind", "/", "/", "--"]
        return cmd + argv



def nested_userns() -> bool:
    """Whether the probe found that the nested, unprivileged bwrap layer works here."""
    probe()
    return _probed[2]


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
