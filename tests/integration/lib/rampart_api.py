"""Start a real rampart-api on loopback and talk to it over HTTP (stdlib only).

Used by the API integration tests. The server gets its own config, token
and store in a temporary directory; stop() kills it (SIGTERM, then SIGKILL).
"""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
API_BIN = os.environ.get("RAMPART_API", os.path.join(ROOT, "build/asan/rampart-api"))
TOKEN = "test-token-0123456789"


class Api:
    def __init__(self, workdir=None, backend="sqlite", zk=None, chroot="/rampart", rate=0, burst=0,
                 max_body=1 << 20, db=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="rampart-api-")
        self.db = db or os.path.join(self.dir, "rampart.db")
        self.backend, self.zk, self.chroot = backend, zk, chroot
        self.rate, self.burst, self.max_body = rate, burst, max_body
        self.proc = None
        self.port = None

    def conf_text(self):
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        store = f'backend = "{self.backend}"; path = "{self.db}";'
        if self.backend == "zookeeper":
            store += f' zookeeper = "{self.zk}"; chroot = "{self.chroot}";'
        return (f'api: {{ listen = "127.0.0.1"; port = 0; token_file = "{token_file}";'
                f' max_body = {self.max_body}; rate = {self.rate}; burst = {self.burst}; }};\n'
                f'store: {{ {store} }};\n')

    def start(self, timeout=30):
        conf = os.path.join(self.dir, "rampart.conf")
        with open(conf, "w") as f:
            f.write(self.conf_text())
        self.log = open(os.path.join(self.dir, "api.log"), "ab")
        self.proc = subprocess.Popen([API_BIN, "-c", conf], stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"listening "):
                self.port = int(line.split(b":")[-1])
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"rampart-api did not start: {line!r}; log in {self.dir}/api.log")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def request(self, method, path, body=None, token=TOKEN, raw=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return resp.status, parsed

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)


class Checker:
    """Counts checks; prints 'ok'/'FAIL' lines and a closing summary."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what} {detail}")
        return cond

    def done(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 and self.passed > 0 else 1
