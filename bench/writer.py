"""Log writer for the throughput benchmark.

Usage: python3 writer.py NAME COUNT [--exit]

Writes COUNT lines of exactly 100 bytes (99 + newline), `NAME SEQ(9 digits) xxx…x`, in writes of
40 whole lines (4,000 bytes: below PIPE_BUF, so a write to a pipe is atomic, and whole lines, so
writers appending to one file never split each other's lines), then a marker line `DONE NAME`.
Without --exit it then becomes `sleep 600` (a service that stays up).
"""

import os
import sys

name, count = sys.argv[1], int(sys.argv[2])
pad = "x" * (99 - len(name) - 11)
BATCH = 40
for start in range(0, count, BATCH):
    os.write(1, "".join(f"{name} {i:09d} {pad}\n" for i in range(start, min(count, start + BATCH))).encode())
os.write(1, f"DONE {name}\n".encode())
if "--exit" not in sys.argv[3:]:
    os.execvp("sleep", ["sleep", "600"])
