"""The service behind the gateway in tests/gateway: answers every request with what it received
(method, path, headers) as JSON, so the tests can see exactly what the proxy passed on:
`headers` by lower-cased name (the last line of a repeated one), `lines` every header line as
[name, value] in order.

    python3 upstream.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "lines": [[k, v] for k, v in self.headers.items()],
            },
            indent=1,
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = answer

    def log_message(self, format, *args):
        sys.stderr.write("upstream: " + (format % args) + "\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
    print(f"upstream ready on {server.server_address[1]}", flush=True)
    server.serve_forever()
