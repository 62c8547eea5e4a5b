"""An OpenID provider that only says where it is: its discovery document and an empty key set,
so that doorman discovers it and sends sign-ins to its authorization endpoint, which the
gateway suite checks without ever completing one. Its issuer is http://127.0.0.1:PORT.

    python3 discovery.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
issuer = f"http://127.0.0.1:{port}"
documents = {
    "/.well-known/openid-configuration": {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    },
    "/jwks": {"keys": []},
}


class Discovery(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        document = documents.get(self.path.split("?", 1)[0])
        body = json.dumps(document).encode() if document is not None else b'{"error":"not_found"}'
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("discovery: " + (format % args) + "\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", port), Discovery)
    print(f"discovery ready at {issuer}", flush=True)
    server.serve_forever()
