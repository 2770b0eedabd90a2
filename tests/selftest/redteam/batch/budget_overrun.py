"""Issue 14 item 9, appended to the reference solution: a daemon in a new session, then an import that
never finishes, so the harness's wall budget kills the run. The import computes (an import that only
waited would be stopped for idling after 5 s, long before the budget).

Before: the private /tmp copy of the code survived the kill, readable by every local user. Expected
now: while grading runs no staged copy is readable by another local user; after the budget kill no
process, staged copy or private folder remains; the stopped result is graded again on the next run.
"""
import os as _os
import time as _time

if _os.fork() == 0:
    _os.setsid()
    while True:
        _time.sleep(1)
while True:  # CPU, not sleep: the budget (20 s in the test) comes before the 20 s CPU limit of the import
    pass
