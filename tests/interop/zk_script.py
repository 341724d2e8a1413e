"""One script of ZooKeeper operations through kazoo, printed as a transcript.

Run against kafka-rs's server and against Apache ZooKeeper by
tests/it/zk_interop.rs, which requires identical transcripts. Zxids are
printed relative to the first node the script creates, so the transcript
checks that both servers spend zxids the same way (sessions, failed writes
and multis each take one), while wall-clock times and session ids, which
differ by nature, are left out.

usage: zk_script.py HOST:PORT
"""
import json
import socket
import struct
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_acl, make_digest_acl

HOSTS = sys.argv[1]
OUT = []
BASE = [0]
EVENTS = []
LOCK = threading.Lock()


def log(*parts):
    OUT.append(" ".join(str(p) for p in parts))


def st(s):
    if s is None:
        return None
    return (
        f"czxid={s.czxid - BASE[0]} mzxid={s.mzxid - BASE[0]} pzxid={s.pzxid - BASE[0]} "
        f"version={s.version} cversion={s.cversion} aversion={s.aversion} "
        f"ephemeral={s.ephemeralOwner != 0} dataLength={s.dataLength} numChildren={s.numChildren}"
    )


def attempt(f):
    try:
        return f()
    except KazooException as e:
        return type(e).__name__


def watcher(event):
    with LOCK:
        EVENTS.append(f"{event.type} {event.path}")


def wait_events(n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with LOCK:
            if len(EVENTS) >= n:
                got = list(EVENTS)
                EVENTS.clear()
                return got
        time.sleep(0.01)
    with LOCK:
        got = list(EVENTS)
        EVENTS.clear()
    return got + ["<timed out>"]


def client(**kw):
    c = KazooClient(hosts=HOSTS, timeout=10, **kw)
    c.start(timeout=20)
    return c


class RawSession:
    """A bare-wire session, so the test controls exactly when it goes silent."""

    def __init__(self, timeout_ms, session_id=0, password=b"\0" * 16):
        self.sock = socket.create_connection(tuple_addr(HOSTS), timeout=10)
        body = struct.pack(">iqiqi", 0, 0, timeout_ms, session_id, len(password)) + password + b"\0"
        self.sock.sendall(struct.pack(">i", len(body)) + body)
        resp = self.read()
        _, self.timeout, self.session_id, pwlen = struct.unpack(">iiqi", resp[:20])
        self.password = resp[20:20 + pwlen]

    def read(self):
        head = recv_exact(self.sock, 4)
        (n,) = struct.unpack(">i", head)
        return recv_exact(self.sock, n)

    def create_ephemeral(self, path):
        p = path.encode()
        acl = struct.pack(">ii", 1, 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"
        body = struct.pack(">ii", 1, 1) + struct.pack(">i", len(p)) + p + struct.pack(">i", 0) + acl + struct.pack(">i", 1)
        self.sock.sendall(struct.pack(">i", len(body)) + body)
        xid, _zxid, err = struct.unpack(">iqi", self.read()[:16])
        return err


def tuple_addr(hosts):
    host, port = hosts.rsplit(":", 1)
    return host, int(port)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def main():
    zk1 = client()
    path, stat = zk1.create("/script", b"root", include_data=True)
    BASE[0] = stat.czxid
    log("create", path, st(stat))
    log("create again", attempt(lambda: zk1.create("/script", b"")))
    log("create no parent", attempt(lambda: zk1.create("/script/a/b", b"")))

    # Sequentials take the parent's cversion, which deletes also move.
    zk1.create("/script/seq", b"")
    names = [zk1.create("/script/seq/n-", b"", sequence=True) for _ in range(3)]
    zk1.delete(names[1])
    names.append(zk1.create("/script/seq/n-", b"", sequence=True))
    log("sequentials", names)
    log("seq stat", st(zk1.exists("/script/seq")))

    # Ephemerals die with their session and fire watches.
    zk2 = client()
    zk2.create("/script/eph", b"e", ephemeral=True)
    log("ephemeral child of ephemeral", attempt(lambda: zk2.create("/script/eph/x", b"")))
    log("eph stat", st(zk1.exists("/script/eph", watch=watcher)))
    zk1.get_children("/script", watch=watcher)
    zk2.stop()
    zk2.close()
    log("after close events", sorted(wait_events(2)))
    log("eph gone", zk1.exists("/script/eph"))

    # One-shot data watches.
    data, stat = zk1.get("/script", watch=watcher)
    zk1.set("/script", b"v1")
    zk1.set("/script", b"v2")
    log("data events", wait_events(1))
    log("set bad version", attempt(lambda: zk1.set("/script", b"x", version=99)))
    log("get", zk1.get("/script")[0], st(zk1.get("/script")[1]))

    # Null data is not empty data: ZooKeeper answers null, kazoo shows None.
    zk1.create("/script/null", None)
    zk1.create("/script/empty", b"")
    log("null vs empty", zk1.get("/script/null")[0], repr(zk1.get("/script/empty")[0]))
    zk1.set("/script/empty", None)
    log("set null", zk1.get("/script/empty")[0], st(zk1.exists("/script/empty")))
    zk1.delete("/script/null")
    zk1.delete("/script/empty")

    # Multi: atomic, per-op results.
    t = zk1.transaction()
    t.create("/script/m1", b"1")
    t.set_data("/script", b"m", version=2)
    t.check("/script/seq", 0)
    log("multi ok", [st(r) if hasattr(r, "czxid") else r for r in t.commit()])
    t = zk1.transaction()
    t.create("/script/m2", b"2")
    t.check("/script", 99)
    t.delete("/script/m1")
    log("multi fail", [type(r).__name__ if isinstance(r, Exception) else r for r in t.commit()])
    log("m2 absent", zk1.exists("/script/m2"), "m1 kept", st(zk1.exists("/script/m1")))

    # ACLs: digest honoured, world:anyone read-only.
    secret_acl = [make_digest_acl("alice", "pw", all=True)]
    zk1.create("/script/secret", b"s", acl=secret_acl)
    log("anonymous get", attempt(lambda: zk1.get("/script/secret")))
    zk3 = client(auth_data=[("digest", "alice:pw")])
    log("alice get", zk3.get("/script/secret")[0])
    acls, stat = zk3.get_acls("/script/secret")
    log("acls", [(a.perms, a.id.scheme, a.id.id) for a in acls], st(stat))
    ro = [make_acl("world", "anyone", read=True)]
    log("set acl bad version", attempt(lambda: zk3.set_acls("/script/secret", ro, version=5)))
    log("set acl", st(zk3.set_acls("/script/secret", ro, version=0)))
    log("write read-only", attempt(lambda: zk1.set("/script/secret", b"x")))
    log("delete secret", zk1.delete("/script/secret"))

    # Deletes.
    log("delete not empty", attempt(lambda: zk1.delete("/script/seq")))
    log("delete bad version", attempt(lambda: zk1.delete("/script/m1", version=4)))
    log("delete missing", attempt(lambda: zk1.delete("/script/none")))
    zk1.delete("/script/seq", recursive=True)
    log("children", sorted(zk1.get_children("/script")))
    children, stat = zk1.get_children("/script", include_data=True)
    log("children stat", st(stat))
    log("sync", zk1.sync("/script"))

    # Expiry: a session that goes silent loses its ephemeral after its timeout.
    raw = RawSession(1000)
    log("raw timeout", raw.timeout)
    log("raw create", raw.create_ephemeral("/script/raw"))
    zk1.exists("/script/raw", watch=watcher)
    raw.sock.close()
    log("expiry events", wait_events(1))
    log("raw gone", zk1.exists("/script/raw"))
    again = RawSession(1000, raw.session_id, raw.password)
    log("reconnect expired", again.timeout, again.session_id, again.password == b"\0" * 16)

    zk3.stop()
    zk1.stop()
    print(json.dumps(OUT, indent=1))


main()
