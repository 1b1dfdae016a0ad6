"""A minimal AG-UI server for the console benchmarks: `POST /agent` answers one valid AG-UI 1.0
run at once, `GET /health` answers 200.

Usage: python3 agui_burst.py PORT

The user message says how many text events to send: "burst 5000" sends 5,000
`TEXT_MESSAGE_CONTENT` events between `TEXT_MESSAGE_START` and `TEXT_MESSAGE_END`, written as fast
as the socket takes them (one write per 256 events); any other message sends 5. The first content
event is written and flushed on its own, so a client's time to it measures the path, not batching.
"""

import http.server
import json
import re
import sys
import uuid

port = int(sys.argv[1])


def frame(event: dict) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def do_GET(self):
        ok = self.path == "/health"
        body = b"ok\n" if ok else b"not found\n"
        self.send_response(200 if ok else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        run = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        text = str((run.get("messages") or [{}])[-1].get("content", ""))
        match = re.search(r"burst (\d+)", text)
        count = int(match.group(1)) if match else 5
        thread, run_id, message = run.get("threadId", "t"), run.get("runId", "r"), str(uuid.uuid4())
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        out = self.wfile
        out.write(frame({"type": "RUN_STARTED", "threadId": thread, "runId": run_id}))
        out.write(frame({"type": "TEXT_MESSAGE_START", "messageId": message, "role": "assistant"}))
        out.write(frame({"type": "TEXT_MESSAGE_CONTENT", "messageId": message, "delta": "w0 "}))
        out.flush()
        batch = []
        for i in range(1, count):
            batch.append(frame({"type": "TEXT_MESSAGE_CONTENT", "messageId": message, "delta": f"w{i} "}))
            if len(batch) == 256:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
        out.write(frame({"type": "TEXT_MESSAGE_END", "messageId": message}))
        out.write(frame({"type": "RUN_FINISHED", "threadId": thread, "runId": run_id}))
        out.flush()
        self.close_connection = True


http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
