"""Issue 22 item 6, appended to the reference solution: look for host paths in the sandbox's mount table.

A mount whose root (in its own file system) differs from where it is mounted names a folder of the
host: the kit's (its runtime files were bound from there) or the staging folder holding the copy of
the submission. The probe marks a find by breaking relu, so a leak shows as points lost against the
honest twin. Before: /proc/self/mountinfo named both (e.g. /work/kit/grader/sandbox/boot.py mounted
at /opt/exercise02/boot.py, /tmp/.../exercise02-sandbox-XXXX/sub at /opt/exercise02/sub), and the
probe scored below its twin. Expected now: the runtime and the submission are copies in a read-only
tmpfs, no host path appears, and the probe scores exactly as its twin.
"""


def _host_paths():
    found = []
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            root, point = line.split()[3:5]
            if root not in ("/", "/newroot") and root != point and not point.startswith(("/dev/", "/proc/")):
                found.append(root)
    return found


if _host_paths():
    _honest_relu = relu  # noqa: F821 (the solution's, above)

    def relu(z):
        return _honest_relu(z) + 1.0
