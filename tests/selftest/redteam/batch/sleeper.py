"""Issue 22 item 2, appended to the reference solution: every function and method of the submission
sleeps for an hour before it computes, so each call holds its grading slot without using CPU.

Before: each call ran into the wall-clock backstop (5 x its CPU limit + 30 s), the worker was
restarted and the next call slept again, until the run's budget (600 s) killed it; the stopped result
was never kept, so every run paid the whole budget again. Expected now: each call is stopped once the
submission has been idle (neither running nor waiting for a CPU) for a few seconds, and after a
short idle allowance for the whole run no further call is made; the verdict (no points for what
never answered) is kept for the unchanged file, and the next run serves it from the store.
"""
import functools as _functools
import time as _time


def _sleepy(function):
    @_functools.wraps(function)
    def asleep(*args, **kwargs):
        _time.sleep(3600)
        return function(*args, **kwargs)
    return asleep


for _name, _value in list(globals().items()):
    if _name.startswith("_") or getattr(_value, "__module__", None) != __name__:
        continue
    if isinstance(_value, type):
        for _method, _member in list(vars(_value).items()):
            if callable(_member) and (_method == "__init__" or not _method.startswith("_")):
                setattr(_value, _method, _sleepy(_member))
    elif callable(_value):
        globals()[_name] = _sleepy(_value)
