"""A service for the shutdown benchmark.

Usage: python3 svc.py term|ignore

`term`: on SIGTERM it spends 5 ms "cleaning up", then exits 0 (a well-behaved service).
`ignore`: it ignores SIGTERM (only SIGKILL ends it).
It prints `ready` once its handler is installed, then waits.
"""

import signal
import sys
import time


def on_term(*_):
    time.sleep(0.005)
    sys.exit(0)


mode = sys.argv[1]
signal.signal(signal.SIGTERM, on_term if mode == "term" else signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(3600)
