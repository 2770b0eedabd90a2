"""The root of every error the kit raises on purpose: `GraderError`, with the exit code the CLI returns.

It lives in the sandbox room (stdlib only) because every room may import it, and the sandbox runtime's
own errors (the wire format's, the data reader's, the sandbox's refusal) derive from it too. Inside
the sandbox, boot.py imports its siblings by bare name, so `protocol` and `mnist` import this module
as `error` there.
"""


class GraderError(Exception):
    """An error of the kit with a message for its user; `grader` prints the message and exits with exit_code."""

    exit_code = 1


class InputError(GraderError):
    """What the user gave (a path, a file, an option) cannot be used; nothing was done."""

    exit_code = 2
