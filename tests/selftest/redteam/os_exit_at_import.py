"""A02 + A05: print a fake pytest summary, then os._exit(0) at import."""
import os
import sys

print("============================== 4 passed in 0.02s ===============================")
sys.stdout.flush()
os._exit(0)
