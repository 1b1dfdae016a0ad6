#!/usr/bin/env python3
"""A local OTLP/HTTP loader for agui-dev's trace receiver (bench/run's `receiver` case).

    otlp_load.py PORT [--spans N] [--batch 512] [--per-trace 64] [--connections 4] [--json]
    otlp_load.py --dump FILE      one batch, protobuf, written to FILE (for profiling)

Builds batches of realistic spans (HTTP and GenAI attributes, a prompt-sized text, an event), as an
SDK's batch processor sends them: `--batch` spans per request, `--per-trace` spans per trace, every
trace id new. The bodies are encoded before the clock starts (the loader measures the receiver, not
its own encoder; each request only swaps the trace ids of one template), then POSTed over `--connections` keep-alive connections to 127.0.0.1:PORT.
Prints one JSON line: spans sent and acknowledged, seconds, spans/s, answers by status.

Python 3.11 standard library only: the protobuf wire format is written by hand below.
"""

import argparse
import http.client
import json
import struct
import sys
import threading
import time


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def fixed64(number: int, value: int) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<Q", value)


def vint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def any_string(s: str) -> bytes:
    return field(1, s.encode())  # AnyValue.string_value


def any_int(i: int) -> bytes:
    return vint(3, i)  # AnyValue.int_value


def kv(key: str, value: bytes) -> bytes:
    return field(1, key.encode()) + field(2, value)  # KeyValue{key, value}


# Every batch is one template with its trace ids replaced: token k of the template (8 bytes of
# the trace id, and its hex in the run id) becomes the request's k-th new trace number. Span ids
# need no change: they are unique within their trace.
TOKEN = 0xA5C3_96E1_0000_0000
PROMPT = ('[{{"role":"system","content":"You are a helpful assistant. Use tools when asked."}},'
          '{{"role":"user","content":"what is {k} times {n}? answer in one line"}}]')


def span(k: int, n: int) -> bytes:
    trace = TOKEN + k
    trace_id = struct.pack(">QQ", 0xB3, trace)
    span_id = struct.pack(">Q", 1 << 32 | n)
    parent = struct.pack(">Q", 1 << 32) if n else b""
    start = 1_764_800_000_000_000_000 + k * 1_000_000_000 + n * 1_000_000
    prompt = PROMPT.format(k=k, n=n)
    attributes = b"".join(field(9, a) for a in (
        kv("agui.run_id", any_string(f"run-{trace:016x}")),
        kv("http.request.method", any_string("POST")),
        kv("url.full", any_string("http://127.0.0.1:4000/v1/chat/completions")),
        kv("gen_ai.request.model", any_string("offline-tools")),
        kv("gen_ai.usage.input_tokens", any_int(120 + n % 7)),
        kv("gen_ai.usage.output_tokens", any_int(33)),
        kv("gen_ai.input.messages", any_string(prompt)),
    ))
    event = fixed64(1, start + 100_000) + field(2, b"gen_ai.content.first_token") + \
        field(3, kv("gen_ai.response.finish_reason", any_string("stop")))
    return (field(1, trace_id) + field(2, span_id) + (field(4, parent) if parent else b"") +
            field(5, (b"agui.run" if n == 0 else f"chat offline-tools #{n}".encode())) +
            vint(6, 2 if n == 0 else 3) + fixed64(7, start) + fixed64(8, start + 750_000) + attributes +
            field(11, event))


def template(size: int, per_trace: int) -> bytes:
    spans = b"".join(field(2, span(i // per_trace, i % per_trace)) for i in range(size))
    resource = field(1, field(1, kv("service.name", any_string("loader"))))  # Resource{attributes}
    scope_spans = field(2, spans)  # ResourceSpans.scope_spans = ScopeSpans{spans}
    return field(1, resource + scope_spans)  # ExportTraceServiceRequest.resource_spans


def json_template(size: int, per_trace: int) -> bytes:
    """The same batch as OTLP/JSON (hex ids, 64-bit numbers as strings)."""
    spans = []
    for i in range(size):
        k, n = i // per_trace, i % per_trace
        trace, start = TOKEN + k, 1_764_800_000_000_000_000 + k * 1_000_000_000 + n * 1_000_000
        spans.append({
            "traceId": f"{0xB3:016x}{trace:016x}", "spanId": f"{1 << 32 | n:016x}",
            "parentSpanId": f"{1 << 32:016x}" if n else "", "name": "agui.run" if n == 0 else f"chat offline-tools #{n}",
            "kind": 2 if n == 0 else 3, "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 750_000),
            "attributes": [{"key": key, "value": value} for key, value in (
                ("agui.run_id", {"stringValue": f"run-{trace:016x}"}),
                ("http.request.method", {"stringValue": "POST"}),
                ("url.full", {"stringValue": "http://127.0.0.1:4000/v1/chat/completions"}),
                ("gen_ai.request.model", {"stringValue": "offline-tools"}),
                ("gen_ai.usage.input_tokens", {"intValue": str(120 + n % 7)}),
                ("gen_ai.usage.output_tokens", {"intValue": "33"}),
                ("gen_ai.input.messages", {"stringValue": PROMPT.format(k=k, n=n)}))],
            "events": [{"timeUnixNano": str(start + 100_000), "name": "gen_ai.content.first_token",
                        "attributes": [{"key": "gen_ai.response.finish_reason", "value": {"stringValue": "stop"}}]}],
        })
    request = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "loader"}}]},
                                  "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(request).encode()


def patched(body: bytes, traces: int, first: int) -> bytes:
    """`body` (a template) with its `traces` trace tokens replaced by `first`, `first + 1`, …"""
    for k in range(traces):
        old, new = TOKEN + k, TOKEN + (1 << 28) + first + k
        body = body.replace(struct.pack(">Q", old), struct.pack(">Q", new))
        body = body.replace(f"{old:016x}".encode(), f"{new:016x}".encode())
    return body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int, nargs="?")
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--per-trace", type=int, default=64)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--json", action="store_true", help="OTLP/JSON bodies instead of protobuf")
    ap.add_argument("--first-trace", type=int, default=1)
    ap.add_argument("--dump", help="write one protobuf batch to this file and exit")
    cfg = ap.parse_args()
    if cfg.dump:
        with open(cfg.dump, "wb") as f:
            f.write(patched(template(cfg.batch, cfg.per_trace), cfg.batch // cfg.per_trace, 0))
        return 0
    requests = cfg.spans // cfg.batch
    traces_per = cfg.batch // cfg.per_trace
    body = (json_template if cfg.json else template)(cfg.batch, cfg.per_trace)
    content_type = "application/json" if cfg.json else "application/x-protobuf"
    answers: dict[int, int] = {}
    lock = threading.Lock()
    next_body = iter(range(requests))

    def lane():
        conn = http.client.HTTPConnection("127.0.0.1", cfg.port, timeout=60)
        headers = {"Content-Type": content_type, "Host": f"127.0.0.1:{cfg.port}"}
        while True:
            with lock:
                i = next(next_body, None)
            if i is None:
                break
            conn.request("POST", "/v1/traces", body=patched(body, traces_per, cfg.first_trace + i * traces_per),
                         headers=headers)
            answer = conn.getresponse()
            answer.read()
            with lock:
                answers[answer.status] = answers.get(answer.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=lane) for _ in range(cfg.connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    acked = answers.get(200, 0) * cfg.batch
    print(json.dumps({"spans": requests * cfg.batch, "acknowledged": acked, "seconds": round(seconds, 3),
                      "spans_per_s": round(acked / seconds), "answers": answers,
                      "body_bytes": len(body)}))
    return 0 if acked == requests * cfg.batch else 1


if __name__ == "__main__":
    sys.exit(main())
