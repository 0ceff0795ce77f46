#!/usr/bin/env python3
"""receiver.py: a tiny HTTP endpoint for the webhook tests (Python standard library only).

    python3 receiver.py PORT_FILE LOG_FILE

Binds 127.0.0.1 on a free port (port 0), writes the port number to PORT_FILE once it listens,
and appends one JSON object per received request to LOG_FILE (one line each, flushed at once):
{"method", "path", "headers": {lower-cased name: value}, "body_b64": the exact body bytes}.
The reply comes from the path: /status/NNN answers status NNN with an ApiError-like JSON body,
any other path answers 200 with {}. SIGTERM or SIGINT stops it.
"""
import base64
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 << 20
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = ""

    def _handle(self):
        body = self._read_body()
        if body is None:
            self.send_error(413)
            return
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_b64": base64.b64encode(body).decode("ascii"),
        }
        with LOCK, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
        status = 200
        reply = b"{}"
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
            status = int(parts[1])
            reply = json.dumps({"error": "receiver answers %d" % status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _read_body(self):
        """The request body (Content-Length or chunked), or None when it is too large."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle

    def log_message(self, format, *args):  # keep the test output quiet
        pass


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: receiver.py PORT_FILE LOG_FILE\n")
        return 2
    port_file, log_file = sys.argv[1], sys.argv[2]
    Handler.log_path = log_file
    open(log_file, "a").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    # Rename so a reader never sees a half-written port number.
    os.replace(tmp, port_file)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
