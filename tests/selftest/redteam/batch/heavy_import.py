"""Issue 14 item 5, appended to the reference solution: an HONEST submission whose import needs 8 s of
CPU (an experiment left at top level).

Before: import and call limits were wall-clock seconds, so the same file got 100 on an idle machine
and 0 on a busy one ("import did not finish within 20 s"). Expected now: the limits count the
submission's CPU time (20 s for the import), so it gets 100 points idle and with every core busy.
"""
import time as _time

_end = _time.process_time() + 8
while _time.process_time() < _end:
    pass
