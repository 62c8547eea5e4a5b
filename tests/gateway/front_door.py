"""doorman as the front door before a real, normalising nginx: the path and host shapes of the
security audit (findings 1, 2 and 6), sent byte for byte over a raw socket (an HTTP library would
tidy them up). nginx resolves dot segments, decodes and merges slashes, so any shape that slipped
past doorman's admins-only route would be served as nginx's ADMIN-AREA.

    python3 front_door.py DOORMAN_ADDR SECRET PUBLIC_URL RESULTS_TSV

Writes one PASS/FAIL line per case to RESULTS_TSV and exits non-zero on any failure.
"""
import base64
import hashlib
import hmac
import json
import socket
import sys
import time

addr, secret, public, results = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
host, port = addr.rsplit(":", 1)
failures = 0


def record(ok: bool, name: str, detail: str = "") -> None:
    global failures
    with open(results, "a", encoding="utf-8") as out:
        out.write(f"PASS\tfront door: {name}\n" if ok else f"FAIL\tfront door: {name}\t{detail}\n")
    print(("ok   " if ok else "FAIL ") + f"front door: {name}" + ("" if ok else f"\n     {detail}"))
    if not ok:
        failures += 1


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session(sub: str, roles: list) -> str:
    now = int(time.time())
    claims = {"iss": public, "aud": public, "sub": sub, "idp": public, "email": f"{sub}@example.com",
              "email_verified": True, "name": sub, "roles": roles, "iat": now, "exp": now + 3000,
              "jti": hashlib.sha256(f"j{sub}{now}".encode()).hexdigest()[:32],
              "sid": hashlib.sha256(f"s{sub}{now}".encode()).hexdigest()[:32]}
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def send(target: str, headers: list) -> tuple:
    """(status, body) of `GET target` with `headers`, as raw bytes on the wire."""
    lines = [f"GET {target} HTTP/1.1"]
    if not any(h.lower().startswith("host:") for h in headers):
        lines.append(f"Host: {addr}")
    lines += headers + ["Connection: close", "", ""]
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall("\r\n".join(lines).encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode("utf-8", "replace")


anyone = []
plain = [f"Cookie: access_token={session('eve', [])}"]
admin = [f"Cookie: access_token={session('ada', ['admin'])}"]

status, body = send("/anything/x", anyone)
record(status == 200 and body.startswith("APP"), "control: the public catch-all reaches nginx", f"{status} {body!r}")
status, body = send("/admin/x", admin)
record(status == 200 and "ADMIN-AREA uri=/admin/x" in body, "control: an admin reaches the admin area",
       f"{status} {body!r}")

shapes = ["/admin/x", "/%61dmin/x", "//admin/x", "/x/../admin/x", "/x/%2e%2e/admin/x", "/./admin/x",
          "/%2e/admin/x", "/../admin/x", "/adm%69n/x", "/admin//x", "/admin/./x"]
for shape in shapes:
    status, body = send(shape, anyone)
    record(status == 401 and "ADMIN-AREA" not in body, f"anonymous {shape} meets the admins policy (401)",
           f"{status} {body!r}")
    status, body = send(shape, plain)
    record(status == 403 and "ADMIN-AREA" not in body, f"a plain user's {shape} is forbidden (403)",
           f"{status} {body!r}")
    status, body = send(shape, admin)
    record(status == 200 and "ADMIN-AREA uri=/admin/x request_uri=/admin/x" in body,
           f"an admin's {shape} reaches nginx as /admin/x", f"{status} {body!r}")

for shape in ["/admin%2fx", "/admin%2Fx", "/x/..%2fadmin/x", "/admin%5cx", "/admin\\x", "/admin%00x",
              "/admin;x/y", "/x/..;/admin/x", "/ADMIN%zz"]:
    status, body = send(shape, anyone)
    record(status == 400 and "invalid_path" in body, f"{shape} is refused (400)", f"{status} {body!r}")

status, body = send("/x/%2e%2e/pub/a%3fb?q=%2e%2e", anyone)
record(status == 200 and "request_uri=/pub/a%3Fb?q=%2e%2e" in body,
       "nginx receives the normal form, the query untouched", f"{status} {body!r}")

for bad in ["app.local@secret.local", "secret.local?", "secret.local#x", "secret.local\\@app.local"]:
    status, body = send("/page", plain + [f"Host: {bad}"])
    record(status == 400 and "invalid_host" in body, f"Host {bad!r} is refused (400)", f"{status} {body!r}")
status, body = send("/page", plain + ["Host: secret.local"])
record(status == 403, "a plain user is not admitted to the secret host", f"{status} {body!r}")
status, body = send("/page", plain + ["Host: app.local", "Host: secret.local"])
record(status == 400, "two Host headers are refused (400)", f"{status} {body!r}")
status, body = send("http://secret.local/page", plain + ["Host: app.local"])
record(status == 400, "an absolute target naming another host is refused (400)", f"{status} {body!r}")

sys.exit(1 if failures else 0)
