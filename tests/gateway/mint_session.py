"""A session token doorman accepts, for the gateway benchmarks: HS256 with its SESSION_SECRET,
issued by (and for) its PUBLIC_URL, valid 50 minutes, with the admin role; with
BENCH_GROUPS=N, also N provider groups (`team-000`, ... as a provider would name them).

    python3 mint_session.py SECRET PUBLIC_URL
"""
import os
import base64
import hashlib
import hmac
import json
import sys
import time

secret, public = sys.argv[1], sys.argv[2]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


now = int(time.time())
claims = {"iss": public, "aud": public, "sub": "bench-user", "idp": public, "email": "bench@example.com",
          "email_verified": True, "name": "Bench", "roles": ["admin"], "iat": now, "exp": now + 3000,
          "jti": "b" * 32, "sid": "c" * 32}
groups = int(os.environ.get("BENCH_GROUPS", "0"))
if groups:
    claims["groups"] = [f"team-{i:03}" for i in range(groups)]
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps(claims, separators=(",", ":")).encode())
sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
