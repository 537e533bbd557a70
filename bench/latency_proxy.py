#!/usr/bin/env python3
"""A reverse proxy in front of moto that makes every AWS call slow, like a real network.

Each request is held for a fixed delay, then forwarded unchanged (method, path, headers
including Host, body) to the upstream, and its answer sent back. One JSON line per call
goes to the log: the action (IAM/STS `Action=` of the form body; other services as
`METHOD path`), its start and end (time.monotonic(), seconds) and the upstream status.
The line is written before the answer is sent, so once a client has its last answer,
the log holds all its calls.

    latency_proxy.py --upstream http://127.0.0.1:5000 --port 0 --delay-ms 50 --log calls.jsonl

Prints `listening on http://127.0.0.1:PORT` once it accepts connections. Stdlib only.
"""

import argparse
import http.client
import http.server
import json
import sys
import threading
import time
import urllib.parse

# Not forwarded as they are: they describe one connection, not the message.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "proxy-authenticate", "proxy-authorization"}


def action_of(method, path, body):
    if method == "POST" and body:
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        if "Action" in form:
            return form["Action"][0]
    return f"{method} {urllib.parse.urlsplit(path).path}"


def make_handler(upstream, delay, log_path):
    log_lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
        # Without it, Nagle's algorithm and the client's delayed ACK add ~40 ms to answers.
        disable_nagle_algorithm = True

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def forward(self):
            body = self.read_body()
            start = time.monotonic()
            time.sleep(delay)
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                status, reason, headers = resp.status, resp.reason, resp.getheaders()
            except (OSError, http.client.HTTPException) as e:
                status, reason, headers, data = 502, "Bad Gateway", [], str(e).encode()
            finally:
                conn.close()
            end = time.monotonic()
            record = {"action": action_of(self.command, self.path, body),
                      "start": start, "end": end, "status": status}
            with log_lock, open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
            self.send_response_only(status, reason)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            # Head and body in one write.
            self._headers_buffer.append(b"\r\n" + (data if self.command != "HEAD" else b""))
            self.flush_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = forward

        def log_message(self, *args):
            pass  # quiet: the JSONL log is the record

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--delay-ms", type=float, default=50.0)
    p.add_argument("--log", required=True, help="JSONL file the calls are appended to")
    a = p.parse_args()
    upstream = urllib.parse.urlsplit(a.upstream)
    handler = make_handler(upstream, a.delay_ms / 1000.0, a.log)
    http.server.ThreadingHTTPServer.request_queue_size = 128  # the listen backlog
    server = http.server.ThreadingHTTPServer((a.host, a.port), handler)
    server.daemon_threads = True
    print(f"listening on http://{a.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
