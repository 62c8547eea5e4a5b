"""A session token doorman accepts, for the gateway benchmarks and scenarios: HS256 with its
SESSION_SECRET, issued by (and for) its PUBLIC_URL, valid 50 minutes, with the admin role; with
BENCH_GROUPS=N, also N provider groups (`team-000`, ... as a provider would name them).

    python3 mint_session.py SECRET PUBLIC_URL [--idp ISSUER] [--sub SUB] [--email EMAIL]

By default the session is a local account's (`idp` = PUBLIC_URL) of `bench-user`, with the
fixed `jti` and `sid` the benchmarks have always used. `--idp` makes it a session from the
provider with that issuer (a `[[provider]]` block's `issuer`), `--sub` and `--email` name
someone else; with either of the first two, `jti` and `sid` are random (each token its own
session), so that tokens of different people never share an id.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("secret")
parser.add_argument("public")
parser.add_argument("--idp", help="the issuer of the provider the session came from (default: PUBLIC_URL)")
parser.add_argument("--sub", help="the subject (default: bench-user)")
parser.add_argument("--email", help="the verified email (default: bench@example.com)")
args = parser.parse_args()
secret, public = args.secret, args.public


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


now = int(time.time())
claims = {"iss": public, "aud": public, "sub": args.sub or "bench-user", "idp": args.idp or public,
          "email": args.email or "bench@example.com", "email_verified": True, "name": "Bench",
          "roles": ["admin"], "iat": now, "exp": now + 3000, "jti": "b" * 32, "sid": "c" * 32}
if args.idp is not None or args.sub is not None:
    claims["jti"] = secrets.token_hex(16)
    claims["sid"] = secrets.token_hex(16)
groups = int(os.environ.get("BENCH_GROUPS", "0"))
if groups:
    claims["groups"] = [f"team-{i:03}" for i in range(groups)]
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps(claims, separators=(",", ":")).encode())
sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
