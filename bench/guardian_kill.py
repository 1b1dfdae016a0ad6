#!/usr/bin/env python3
"""After SIGKILL of `agui-dev up`: when is each service gone, and when does the guardian exit?

    bench/guardian_kill.py target/debug/agui-dev [--runs 5] [--grace 5]

Three services: `obey` (sh, exits on SIGTERM), `ignore` (sh, ignores SIGTERM: killed at the grace)
and `py` (Python, default SIGTERM). Once all are ready, `up` is SIGKILLed, and every 2 ms each
process is looked at in /proc. Two instants per process, in seconds after the SIGKILL:

- exited: it runs no more (a zombie, or gone);
- collected: its /proc entry is gone. Once `up` is dead the services' parent is pid 1 (or the
  nearest subreaper), so this instant is that process's, not agui-dev's.

Python 3.11 standard library only. Only this script's own processes are signalled, by pid.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

STACK = """
[services.obey]
command = ["sh", "-c", "echo $$$$ > pid-obey; trap 'exit 0' TERM; echo ready; sleep 600 & wait"]
ready = {{ log = "ready" }}
stop_grace = "{grace}s"

[services.ignore]
command = ["sh", "-c", "echo $$$$ > pid-ignore; trap '' TERM; echo ready; while true; do sleep 1; done"]
ready = {{ log = "ready" }}
stop_grace = "{grace}s"

[services.py]
command = ["python3", "-c", "import os,time; open('pid-py','w').write(str(os.getpid())); print('ready', flush=True); time.sleep(600)"]
ready = {{ log = "ready" }}
stop_grace = "{grace}s"
"""
NAMES = ("obey", "ignore", "py", "guardian")


def stat(pid: int):
    """(state, parent) of a process, or None when it has no /proc entry."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def guardian_of(up_pid: int):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        seen = stat(int(entry))
        if b"__guardian" in cmdline and seen and seen[1] == up_pid:
            return int(entry)
    return None


def one_run(binary: str, grace: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "stack.toml"), "w") as f:
            f.write(STACK.format(grace=grace))
        env = {**os.environ, "CI": "1", "NO_COLOR": "1"}
        up = subprocess.Popen([binary, "up"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        pids, exited, collected = {}, {}, {}
        try:
            seen = ""
            while "all 3 services are ready" not in seen:
                line = up.stderr.readline()
                if not line:
                    raise RuntimeError(f"`up` ended before ready:\n{seen}")
                seen += line
            for name in NAMES[:3]:
                with open(os.path.join(folder, f"pid-{name}")) as f:
                    pids[name] = int(f.read())
            pids["guardian"] = guardian_of(up.pid)
            killed = time.monotonic()
            up.send_signal(signal.SIGKILL)
            while len(collected) < len(pids) and time.monotonic() - killed < grace + 30:
                for name, pid in pids.items():
                    state = stat(pid)
                    now = time.monotonic() - killed
                    if name not in exited and (state is None or state[0] == "Z"):
                        exited[name] = now
                    if name not in collected and state is None:
                        collected[name] = now
                time.sleep(0.002)
            up.wait()
            return {"exited": exited, "collected": collected}
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()
            # Only what is still there (an error left it running): a collected pid may be reused.
            for name, pid in pids.items():
                if name in collected or pid is None:
                    continue
                try:
                    os.killpg(pid, signal.SIGKILL) if name != "guardian" else os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--grace", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for number in range(args.runs):
        run = one_run(args.binary, args.grace)
        runs.append(run)
        cells = [f"{n} {run['exited'].get(n, -1):.3f}/{run['collected'].get(n, -1):.3f}" for n in NAMES]
        print(f"run {number + 1} (exited/collected, s): " + "  ".join(cells), flush=True)
    print("\n| process | exited: median (min–max), s | collected: median (min–max), s |\n|---|---|---|")
    for name in NAMES:
        row = []
        for kind in ("exited", "collected"):
            values = [r[kind][name] for r in runs if name in r[kind]]
            row.append(f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})" if values else "–")
        print(f"| {name} | {row[0]} | {row[1]} |")


if __name__ == "__main__":
    sys.exit(main())
