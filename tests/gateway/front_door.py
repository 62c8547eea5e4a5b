"""doorman as the front door before a real, normalising nginx: the path and host shapes of the
security audit (findings 1, 2 and 6), sent byte for byte over a raw socket (an HTTP library would
tidy them up). nginx resolves dot segments, decodes and merges slashes, so any shape that slipped
past doorman's admins-only route would be served as nginx's ADMIN-AREA.

    python3 front_door.py DOORMAN_ADDR SECRET PUBLIC_URL RESULTS_TSV [USERNAME PASSWORD]

With a local admin's USERNAME and PASSWORD, also a device grant (what `doorman login` does):
/device is doorman's even under the catch-all route, and the grant's token, as Bearer, passes
the admins route with the identity headers while the upstream never sees the Authorization header.
Writes one PASS/FAIL line per case to RESULTS_TSV and exits non-zero on any failure.
"""
import http.client
import re
import urllib.parse
import base64
import hashlib
import hmac
import json
import socket
import sys
import time

addr, secret, public, results = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
local_user, local_password = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
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



def call(method: str, target: str, headers: dict, body: str = "") -> tuple:
    """(status, headers by lower-cased name, body) of one request with an HTTP client."""
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, target, body=body.encode() if body else None, headers={"Host": addr, **headers})
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    seen = {k.lower(): r.getheader(k) for k, _ in r.getheaders()}
    conn.close()
    return r.status, seen, data


FORM = "application/x-www-form-urlencoded"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_grant() -> None:
    # The person's session: a local admin signs in with the password form (under /auth/).
    form = urllib.parse.urlencode({"username": local_user, "password": local_password})
    status, headers, body = call("POST", "/auth/password", {"Origin": public, "Content-Type": FORM}, form)
    cookie = re.search(r"(?:^|[\s,])access_token=([^;,\s]+)", headers.get("set-cookie") or "")
    record(status == 303 and cookie is not None, "device grant: a local admin signs in at /auth/password",
           f"{status} {headers.get('set-cookie')!r} {body[:200]!r}")
    if cookie is None:
        return
    session = [f"Cookie: access_token={cookie.group(1)}"]
    # The terminal starts, as doorman login does.
    status, _, body = call("POST", "/auth/device", {"Content-Type": FORM, "User-Agent": "doorman-cli/front-door-test"},
                           "client_id=doorman-cli")
    grant = json.loads(body) if status == 200 else {}
    record(status == 200 and grant.get("verification_uri") == f"{public}/device", "device grant: POST /auth/device",
           f"{status} {body[:200]!r}")
    if not grant:
        return
    code = grant["user_code"]
    # /device is doorman's, whatever the routes say: the catch-all route never gets it.
    for target in ["/device", f"/device?code={code}", "/%64evice", "//device"]:
        status, body = send(target, anyone)
        shown = target.replace(code, "<code>")
        record(status == 303 and not body.startswith("APP"), f"device grant: anonymous {shown} is doorman's (303 to sign in)",
               f"{status} {body[:200]!r}")
    status, body = send(f"/device?code={code}", session)
    record(status == 200 and 'id="device-confirm"' in body and f'id="device-code">{code}<' in body,
           "device grant: /device?code= with the session is doorman's confirm page", f"{status} {body[:300]!r}")
    form = urllib.parse.urlencode({"code": code, "action": "approve"})
    status, _, body = call("POST", "/device", {"Origin": public, "Content-Type": FORM, "Cookie": session[0][8:]}, form)
    record(status == 200 and 'id="device-approved"' in body, "device grant: Approve (POST /device)", f"{status} {body[:300]!r}")
    poll = urllib.parse.urlencode({"grant_type": DEVICE_GRANT, "device_code": grant["device_code"]})
    status, _, body = call("POST", "/auth/device/token", {"Content-Type": FORM}, poll)
    pair = json.loads(body) if status == 200 else {}
    record(status == 200 and pair.get("token_type") == "Bearer" and bool(pair.get("access_token")),
           "device grant: the poll gives a token pair", f"{status} {body[:200]!r}")
    if not pair:
        return
    token = pair["access_token"]
    bearer = [f"Authorization: Bearer {token}"]
    status, body = send("/admin/x", bearer)
    user = re.search(r" user=(\S*) auth=(.*)$", body.strip())
    record(status == 200 and body.startswith("ADMIN-AREA uri=/admin/x") and user is not None and user.group(1) != ""
           and user.group(2) == "" and token not in body,
           "device grant: its token as Bearer reaches the admin area with X-Doorman-User, and no Authorization",
           f"{status} {body!r}")
    status, body = send("/admin/x", [f"Authorization: Basic {base64.b64encode(b'u:p').decode()}"])
    record(status == 401 and "ADMIN-AREA" not in body, "device grant: control: Basic alone is refused at the admin area (401)",
           f"{status} {body!r}")
    status, body = send("/anything/x", bearer)
    record(status == 200 and body.startswith("APP") and body.strip().endswith("auth=") and token not in body,
           "device grant: the catch-all route, public, never gets the Bearer token either", f"{status} {body!r}")
    # What `doorman token` (refreshing) and `doorman logout` send: all under /auth/, which the
    # front door keeps for doorman, so they work through it (its /api/ is the app's).
    form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"],
                                   "client_id": "doorman-cli"})
    status, _, body = call("POST", "/auth/device/token", {"Content-Type": FORM}, form)
    renewed = json.loads(body) if status == 200 else {}
    record(status == 200 and renewed.get("token_type") == "Bearer" and renewed.get("refresh_token") not in (None, pair["refresh_token"]),
           "device grant: doorman token's refresh (grant_type=refresh_token at /auth/device/token) gives a new pair",
           f"{status} {body[:200]!r}")
    if not renewed:
        return
    status, body = send("/admin/x", [f"Authorization: Bearer {renewed['access_token']}"])
    record(status == 200 and body.startswith("ADMIN-AREA"), "device grant: the renewed token reaches the admin area",
           f"{status} {body!r}")
    form = urllib.parse.urlencode({"token": renewed["refresh_token"], "client_id": "doorman-cli"})
    status, _, body = call("POST", "/auth/revoke", {"Content-Type": FORM}, form)
    record(status == 200 and json.loads(body or "{}").get("revoked") is True and not body.startswith("APP"),
           "device grant: doorman logout's POST /auth/revoke is answered by doorman (200 revoked)", f"{status} {body[:200]!r}")
    status, body = send("/admin/x", [f"Authorization: Bearer {renewed['access_token']}"])
    record(status == 401 and "ADMIN-AREA" not in body, "device grant: after the revoke its token is refused at the admin area (401)",
           f"{status} {body!r}")


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

if local_user:
    device_grant()

sys.exit(1 if failures else 0)
