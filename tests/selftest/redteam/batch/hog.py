"""Issue 14 item 3, appended to the reference solution: a fork/memory/CPU hog at import.

Four children in new sessions each touch 700 MB and spin for 8 s of CPU; the import itself returns
at once, so the suite runs next to them. Before: every process had its own 2 GiB and its own CPU
(one submission reached 6.8 GB and slowed its neighbour 4.9x). Expected now: the submission's
processes together stay within ONE memory cap (2.5 GiB; the kernel kills a child past it) and ONE
CPU's worth of time, the honest neighbour keeps 100 points, the hog earns no more than its twin,
and nothing survives the batch.
"""
import os as _os
import time as _time

for _ in range(4):
    if _os.fork() == 0:
        _os.setsid()
        try:
            _block = bytearray(700 << 20)
            for _i in range(0, len(_block), 4096):
                _block[_i] = 1
        except MemoryError:
            pass
        _end = _time.process_time() + 8
        while _time.process_time() < _end:
            pass
        _os._exit(0)
