"""BIRD 2's control socket, spoken directly (bench/gateway_*.sh helpers).

A birdc process per poll costs a fork and exec; a kept connection costs one
write and one read, so polling every few tens of milliseconds stays cheap.
Reply lines: 4 digits then '-' (more follows) or ' ' (last line); a line
starting with a single space continues the previous code
(docs: /work/shared/notes/bird-sidecar.md).
"""
import re
import socket


class Bird:
    def __init__(self, path, timeout=30.0):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self._reply()   # 0001 BIRD x.y ready.

    def _line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("BIRD closed the control socket")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def _reply(self):
        lines = []
        while True:
            ln = self._line()
            if ln.startswith("+"):
                continue   # unsolicited
            lines.append(ln)
            if len(ln) >= 5 and ln[:4].isdigit() and ln[4] == " ":
                return lines

    def cmd(self, text):
        """The reply as (codes, lines without their code)."""
        self.s.sendall(text.encode() + b"\n")
        codes, out = [], []
        for ln in self._reply():
            if len(ln) >= 5 and ln[:4].isdigit():
                codes.append(int(ln[:4]))
                out.append(ln[5:])
            else:
                out.append(ln[1:] if ln.startswith(" ") else ln)
        return codes, out

    def close(self):
        self.s.close()


def failed(codes):
    return any(c >= 8000 for c in codes)


_ROUTES = re.compile(r"Routes:\s+(\d+) imported,(?: (\d+) filtered,)? (\d+) exported")


def protocols(bird):
    """{name: {"proto": type, "state": ..., "info": ..., "imported": n, "exported": n}}
    from `show protocols all` (constant time in the table size)."""
    codes, lines = bird.cmd("show protocols all")
    out, cur = {}, None
    for ln in lines:
        f = ln.split()
        if not f:
            continue
        if len(f) >= 4 and f[1] in ("BGP", "Static", "Kernel", "Device", "BFD", "Direct") and not ln.startswith(" "):
            cur = f[0]
            out[cur] = {"proto": f[1], "state": f[3], "info": " ".join(f[5:]) if len(f) > 5 else "",
                        "imported": 0, "exported": 0}
            continue
        m = _ROUTES.search(ln)
        if m and cur:
            out[cur]["imported"] += int(m.group(1))
            out[cur]["exported"] += int(m.group(3))
        if cur and ln.strip().startswith("BGP state:"):
            out[cur]["bgp_state"] = ln.split(":", 1)[1].strip()
    return out


def route_count(bird):
    """Routes in master4, from `show route count` (walks the table: slow at 1M)."""
    codes, lines = bird.cmd("show route count")
    for ln in lines:
        m = re.search(r"(\d+) of (\d+) routes", ln)
        if m:
            return int(m.group(1))
    return -1
