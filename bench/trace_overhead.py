#!/usr/bin/env python3
"""What tracing adds to an offline AG-UI run's total time (issue 21; target: at most 5 %).

    python3 bench/trace_overhead.py [--bin target/release/agui-dev] [--runs 20] [--warmup 3]

Brings up two copies of the repository's stack side by side, from the same templates and venv, on
free ports, with the tool-calling offline model (`LITELLM_MODEL=offline-tools`): one with `up`
(traces on: the receiver runs and every service exports to it), one with `up --no-traces`. Then the
same chat turn ("What is 6 times 7? Use a tool.": two model calls through LiteLLM and one MCP
`calculate` call) is POSTed to each AG-UI server in turn, `--warmup` times unmeasured and `--runs`
times measured, alternating traced and untraced so that drift in the machine's load hits both
alike. A run's time is from sending the request to reading `RUN_FINISHED` at the end of its SSE
stream. Prints the median and p90 of each, and what tracing adds to the median.

Python 3.11 standard library only. Every process it starts carries AGUI_BENCH_RUN=<id> in its
environment and is stopped by pid at exit (agui-dev with SIGINT first, so it stops its services).
Only 127.0.0.1 is used. The venv (`.venv`) and the templates' node_modules must exist: a first
`cargo run -- up` (or any test that runs the real stack) makes them.
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_TAG = "AGUI_BENCH_RUN"
RUN_ID = secrets.token_hex(8)
PROVIDER_KEYS = (
    "OPENAI_API_KEY ANTHROPIC_API_KEY DEEPSEEK_API_KEY GEMINI_API_KEY GOOGLE_API_KEY MISTRAL_API_KEY "
    "GROQ_API_KEY OPENROUTER_API_KEY XAI_API_KEY AZURE_API_KEY COHERE_API_KEY DASHSCOPE_API_KEY "
    "MOONSHOT_API_KEY LITELLM_MASTER_KEY LITELLM_MODEL AGUI_DEV_FILE OTEL_EXPORTER_OTLP_ENDPOINT "
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
).split()
PROMPT = "What is 6 times 7? Use a tool."
STARTED: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[trace-overhead {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_toml(proxy: int, mcp: int, agui: int) -> str:
    root = ROOT.as_posix()
    return f"""
[services.litellm]
kind = "litellm"
venv = "{root}/.venv"
config = "{root}/templates/litellm/config.yaml"
port = {proxy}

[services.mcp]
kind = "mcp"
cwd = "{root}/templates/mcp-server"
command = "npx tsx src/server.ts"
port = {mcp}

[services.agui]
kind = "agui"
cwd = "{root}/templates/agui-server"
command = "npx tsx src/server.ts"
port = {agui}
depends_on = ["mcp"]
env = {{ AGENT_MODE = "llm" }}
"""


class Stack:
    """One `agui-dev up` of the repository's stack in a folder of its own."""

    def __init__(self, binary: str, traced: bool, really: bool = True):
        self.traced = traced
        self.dir = tempfile.TemporaryDirectory(prefix="agui-trace-bench-")
        self.agui = free_port()
        Path(self.dir.name, "stack.toml").write_text(stack_toml(free_port(), free_port(), self.agui))
        env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
        env.update({"NO_COLOR": "1", RUN_TAG: RUN_ID, "LITELLM_MODEL": "offline-tools"})
        args = [binary, "up"] + ([] if traced and really else ["--no-traces"])
        self.proc = subprocess.Popen(
            args, cwd=self.dir.name, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        STARTED.append(self.proc)
        self.stderr: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "all 3 services are ready" in line:
                self.ready.set()

    def wait_ready(self, limit: float) -> None:
        if not self.ready.wait(limit):
            raise SystemExit(f"`up` ({'traced' if self.traced else '--no-traces'}) was not ready within {limit:.0f} s:\n"
                             + "".join(self.stderr[-30:]))

    def run_once(self) -> float:
        """One chat turn: ms from sending the request to reading RUN_FINISHED."""
        body = json.dumps({
            "threadId": str(uuid.uuid4()), "runId": str(uuid.uuid4()), "state": {}, "tools": [], "context": [],
            "forwardedProps": {}, "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": PROMPT}],
        })
        conn = http.client.HTTPConnection("127.0.0.1", self.agui, timeout=60)
        began = time.perf_counter_ns()
        conn.request("POST", "/agent", body, {"Content-Type": "application/json", "Accept": "text/event-stream"})
        response = conn.getresponse()
        text = response.read().decode()
        elapsed = (time.perf_counter_ns() - began) / 1e6
        conn.close()
        if response.status != 200 or "RUN_FINISHED" not in text or "TOOL_CALL_RESULT" not in text:
            raise SystemExit(f"a run did not finish with a tool call (HTTP {response.status}):\n{text[-2000:]}")
        return elapsed

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.dir.cleanup()


def tagged_pids() -> list[int]:
    me, found, needle = os.getpid(), [], f"{RUN_TAG}={RUN_ID}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            pass
    return found


def cleanup() -> None:
    for p in STARTED:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
    for pid in tagged_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(ROOT / "target/release/agui-dev"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--control", action="store_true",
                        help="an A/A run: both stacks with --no-traces, to see the noise of the difference")
    args = parser.parse_args()
    args.bin = str(Path(args.bin).resolve())
    if not Path(args.bin).is_file():
        raise SystemExit(f"no agui-dev at {args.bin}; hint: cargo build --release, or pass --bin")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        stacks = [Stack(args.bin, traced=True, really=not args.control), Stack(args.bin, traced=False)]
        for stack in stacks:
            stack.wait_ready(900)
        log(f"both stacks ready; {args.warmup} warm-up and {args.runs} measured runs each, alternating")
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(args.warmup + args.runs):
            order = stacks if i % 2 == 0 else stacks[::-1]
            for stack in order:
                ms = stack.run_once()
                if i >= args.warmup:
                    times[stack.traced].append(ms)
        for stack in stacks:
            stack.stop()
    finally:
        cleanup()

    figures = {
        name: {"median_ms": statistics.median(v), "p90_ms": percentile(v, 0.9), "min_ms": min(v), "max_ms": max(v), "n": len(v)}
        for name, v in (("traced", times[True]), ("untraced", times[False]))
    }
    added = figures["traced"]["median_ms"] - figures["untraced"]["median_ms"]
    figures["added_median_ms"] = added
    figures["added_median_pct"] = 100 * added / figures["untraced"]["median_ms"]
    if args.json:
        print(json.dumps(figures))
        return
    print("| offline AG-UI run (2 model calls, 1 MCP tool call) | median | p90 | min–max | n |")
    print("|---|---|---|---|---|")
    for name, label in (("untraced", "`up --no-traces`"), ("traced", "`up` (traced)")):
        f = figures[name]
        print(f"| {label} | {f['median_ms']:.1f} ms | {f['p90_ms']:.1f} ms | {f['min_ms']:.1f}–{f['max_ms']:.1f} ms | {f['n']} |")
    print(f"\ntracing adds {added:+.1f} ms to the median run ({figures['added_median_pct']:+.1f} %; target ≤ 5 %)")


if __name__ == "__main__":
    main()
