#!/usr/bin/env python3
"""Password hashing cannot exhaust the machine: a flood measured against a real doorman.

  python3 tests/load/hash_flood.py [--bin target/release/doorman] [--parallel 200]

Starts doorman (registration open, 127.0.0.1 trusted as a proxy so every request can come
from its own X-Forwarded-For address and the per-client limits stay out of the way), then
fires N parallel registrations and N parallel password logins at once. Passes when every
answer is one of 200/201/409/400/401/429/503 (never another 5xx, never a hang or a dropped
connection) and the process's resident memory afterwards is under 150 MiB. Prints the
status counts and the RSS before, at peak (VmHWM) and after. Standard library only.
"""

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ALLOWED = {200, 201, 409, 400, 401, 429, 503}
RSS_LIMIT_MIB = 150
PASSWORD = "violet-Orbit-7-lantern"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")


def post(base, path, body, client_ip, timeout=60):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-forwarded-for": client_ip},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except Exception as err:  # connection reset, timeout: a failure of the bound
        return f"error: {type(err).__name__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/doorman")
    parser.add_argument("--parallel", type=int, default=200)
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    work = tempfile.mkdtemp(prefix="doorman-flood-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BIND_ADDR": f"127.0.0.1:{port}",
        "PUBLIC_URL": base,
        "DATABASE_URL": os.path.join(work, "doorman.db"),
        "ALLOW_REGISTRATION": "true",
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "RUST_LOG": "doorman=warn",
    }
    log = open(os.path.join(work, "doorman.log"), "w")
    server = subprocess.Popen([args.bin], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        else:
            print("doorman did not start", file=sys.stderr)
            return 2
        status = post(base, "/api/register", {"username": "flood_target", "email": "t@example.com",
                                               "password": PASSWORD, "name": "Target"}, "10.9.9.9")
        assert status == 201, f"setting up the target account: {status}"
        before = proc_status(server.pid, "VmRSS")

        results = []
        lock = threading.Lock()

        def register(i):
            name = "flood_target" if i % 4 == 0 else f"flood_{i}"  # a quarter are taken names
            s = post(base, "/api/register", {"username": name, "email": f"{name}@example.com",
                                             "password": PASSWORD, "name": name}, f"10.1.{i // 250}.{i % 250}")
            with lock:
                results.append(("register", s))

        def login(i):
            password = PASSWORD if i % 2 == 0 else "wrong-Password-99"
            s = post(base, "/api/login", {"username": "flood_target", "password": password},
                     f"10.2.{i // 250}.{i % 250}")
            with lock:
                results.append(("login", s))

        threads = [threading.Thread(target=register, args=(i,)) for i in range(args.parallel)]
        threads += [threading.Thread(target=login, args=(i,)) for i in range(args.parallel)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        time.sleep(1)
        after = proc_status(server.pid, "VmRSS")
        peak = proc_status(server.pid, "VmHWM")
        alive = server.poll() is None

        counts = collections.Counter(results)
        print(f"{len(results)} requests in {elapsed:.1f} s")
        for (kind, status), n in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            print(f"  {kind:8} {status}: {n}")
        print(f"RSS before {before:.1f} MiB, peak {peak:.1f} MiB, after {after:.1f} MiB (limit {RSS_LIMIT_MIB})")

        bad = [r for r in results if r[1] not in ALLOWED]
        ok = alive and not bad and after < RSS_LIMIT_MIB and len(results) == 2 * args.parallel
        if bad:
            print(f"FAIL: {len(bad)} answers outside {sorted(ALLOWED)}: {collections.Counter(bad)}")
        if not alive:
            print("FAIL: doorman exited")
        if after >= RSS_LIMIT_MIB:
            print("FAIL: resident memory stayed above the limit")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
