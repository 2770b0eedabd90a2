"""Not an attack: reports what the worker can see and do, for the isolation checks."""
import os
import resource
import socket
import subprocess

import numpy as np


def relu(port, paths=()):
    facts = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups()}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key.startswith("Cap") or key == "NoNewPrivs":
                facts[key] = value.strip()
    facts["root"] = sorted(os.listdir("/"))
    facts["opt"] = sorted(os.listdir("/opt/exercise02"))
    facts["trees"] = {path: sorted(os.listdir(path)) if os.path.isdir(path) else None for path in paths}
    facts["cwd"] = os.getcwd()
    with open("/proc/self/mountinfo") as mounts:  # root in its file system, mount point
        facts["mounts"] = [line.split()[3:5] for line in mounts]
    try:  # writing into the runtime or the submission copy must fail (read-only)
        open("/opt/exercise02/training.py", "a").close()
        facts["runtime_writable"] = True
    except OSError:
        facts["runtime_writable"] = False
    facts["env"] = sorted(os.environ)
    facts["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)
    facts["as"] = resource.getrlimit(resource.RLIMIT_AS)
    facts["cpu"] = resource.getrlimit(resource.RLIMIT_CPU)
    facts["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)
    done = subprocess.run(["unshare", "-U", "true"], capture_output=True, text=True)
    facts["unshare"] = done.returncode
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        facts["loopback"] = "connected"
    except OSError as error:
        facts["loopback"] = error.strerror or str(error)
    facts["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    return facts


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
