#!/usr/bin/env python3
"""What LiteLLM's OpenTelemetry callback adds to `up`'s cold start (issue 21).

    bench/litellm_traces.py BIN [RUNS [OLD_VENV OLD_REQUIREMENTS]]

`BIN up --no-setup` of the LiteLLM proxy alone (the repository's .venv and template config,
offline), timed from spawn to agui-dev's `is ready` line, in three set-ups taken in turn:
  traces       the template config (`callbacks: ["otel"]`), spans sent to up's receiver
  no-traces    the same with `up --no-traces` (agui-dev sets OTEL_SDK_DISABLED=true)
  no callback  a copy of the template config without the callback, `--no-traces`
  before       with OLD_VENV made from OLD_REQUIREMENTS (the pins before the OpenTelemetry SDK,
               e.g. `git show 337fdfc:templates/litellm/requirements.txt`): the config without
               the callback, `--no-traces`, as agui-dev ran the proxy before issue 21
Then `python -X importtime` of the proxy's import: the OpenTelemetry and protobuf modules' own
time against the whole. Python 3.11 standard library only; every process it starts is a
process-group leader and is stopped by pid.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("traces", "no-traces", "no callback")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict:
    drop = ("LITELLM_MASTER_KEY", "LITELLM_MODEL", "AGUI_DEV_FILE")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in drop}
    env["NO_COLOR"] = "1"
    return env


def time_to_ready(binary: str, config: Path, traced: bool, venv: Path = ROOT / ".venv") -> float:
    with tempfile.TemporaryDirectory(prefix="agui-bench-litellm-") as d:
        Path(d, "stack.toml").write_text(
            f'[services.litellm]\nkind = "litellm"\nvenv = "{venv}"\n'
            f'config = "{config}"\nport = {free_port()}\n'
        )
        args = [binary, "up", "--no-setup"] + ([] if traced else ["--no-traces"])
        t0 = time.monotonic()
        p = subprocess.Popen(args, cwd=d, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            for line in p.stderr:
                if b"is ready" in line:
                    return (time.monotonic() - t0) * 1000
            raise RuntimeError(f"agui-dev ended before the proxy was ready (exit {p.wait()})")
        finally:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def import_times(runs: int, venv: Path = ROOT / ".venv") -> list[tuple[float, float]]:
    """(ms of OpenTelemetry/protobuf modules' own import time, ms of the whole proxy import)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    python = str(venv / "bin/python")
    line = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")
    out = []
    for _ in range(runs):
        err = subprocess.run([python, "-X", "importtime", "-c", "import litellm.proxy.proxy_server"], env=env,
                             capture_output=True, text=True, check=True).stderr
        own, whole = 0, 0
        for m in line.finditer(err):
            if re.search(r"opentelemetry|google\.protobuf|googleapis", m.group(3)):
                own += int(m.group(1))
            if m.group(3) == "litellm.proxy.proxy_server":
                whole = int(m.group(2))
        out.append((own / 1000, whole / 1000))
    return out


def main() -> None:
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    old_venv = Path(sys.argv[3]) if len(sys.argv) > 4 else None
    modes = MODES + (("before",) if old_venv else ())
    template = ROOT / "templates/litellm/config.yaml"
    plain = Path(tempfile.mkdtemp(prefix="agui-bench-nocallback-"))
    try:
        shutil.copy(ROOT / "templates/litellm/offline_tools.py", plain)
        text = template.read_text()
        assert '  callbacks: ["otel"]\n' in text, "the template config lost its otel callback"
        (plain / "config.yaml").write_text(text.replace('  callbacks: ["otel"]\n', ""))
        configs = {"traces": template, "no-traces": template, "no callback": plain / "config.yaml"}
        venvs = {mode: ROOT / ".venv" for mode in MODES}
        if old_venv:
            # Its own folder: the old pins beside the config, so `--no-setup` finds the venv set up.
            before = plain / "before"
            before.mkdir()
            shutil.copy(plain / "config.yaml", before)
            shutil.copy(plain / "offline_tools.py", before)
            shutil.copy(sys.argv[4], before / "requirements.txt")
            configs["before"], venvs["before"] = before / "config.yaml", old_venv
        results = {mode: [] for mode in modes}
        for i in range(runs):
            n = len(modes)
            for mode in modes[i % n:] + modes[: i % n]:
                results[mode].append(time_to_ready(binary, configs[mode], mode == "traces", venvs[mode]))
                print(f"run {i + 1} {mode}: {results[mode][-1]:.0f} ms", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(plain)
    for mode, values in results.items():
        print(f"{mode:12} median {statistics.median(values):6.0f} ms  min {min(values):.0f}  max {max(values):.0f}  "
              f"n={len(values)}  {[round(v) for v in values]}")
    for base in modes[1:]:
        # On a shared machine the other load lands on some runs only: the minimum is each
        # set-up's own cost, the median says how noisy the run was.
        median = statistics.median(results["traces"]) / statistics.median(results[base]) - 1
        least = min(results["traces"]) / min(results[base]) - 1
        print(f"traces vs {base}: {least * 100:+.1f} % (minimums), {median * 100:+.1f} % (medians)")
    imports = import_times(runs)
    own = statistics.median(i[0] for i in imports)
    whole = statistics.median(i[1] for i in imports)
    print(f"importtime: OpenTelemetry+protobuf own time {own:.0f} ms of {whole:.0f} ms for litellm.proxy.proxy_server "
          f"({own / whole * 100:.1f} %), median of {runs}")
    if old_venv:
        imports = import_times(runs, old_venv)
        own = statistics.median(i[0] for i in imports)
        whole = statistics.median(i[1] for i in imports)
        print(f"importtime before: OpenTelemetry+protobuf own time {own:.0f} ms of {whole:.0f} ms, median of {runs}")


if __name__ == "__main__":
    main()
