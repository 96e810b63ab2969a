"""pghelp.py - helpers for the PostgreSQL-protocol tests: running psql and pgbench against a litecached Server.

psql(srv, *args, input=None, user="postgres", port=None, host="127.0.0.1", env=None, check=True) -> CompletedProcess (text)
sql(srv, query) -> rows as lists of str (psql -At, '|' separated; NULL as the string "NULL")
line_stats(srv) -> STATS of the line protocol, for cache counters
PgRaw(srv), pg_query, pg_parse, pg_bind, ... -> the wire protocol by hand, for what no client library sends
"""
import os
import pathlib
import shutil
import socket
import struct
import subprocess

import pytest

PSQL = shutil.which("psql")
NODE = shutil.which("node")
NPM = shutil.which("npm")
PGCLIENTS = pathlib.Path(__file__).resolve().parent / "pgclients"
PGBENCH = shutil.which("pgbench")

needs_psql = pytest.mark.skipif(not PSQL, reason="psql is not installed (scripts/install-deps installs it)")
needs_pgbench = pytest.mark.skipif(not PGBENCH, reason="pgbench is not installed (scripts/install-deps)")


def pg_env(extra=None):
    env = dict(os.environ)
    # No ~/.psqlrc, no PG* variables from the caller's shell, no pager, a fixed locale.
    for k in list(env):
        if k.startswith("PG"):
            del env[k]
    env.update({"PGCONNECT_TIMEOUT": "5", "PAGER": "cat", "LC_ALL": "C.UTF-8", "PGCLIENTENCODING": "UTF8"})
    if extra:
        env.update(extra)
    return env


def psql(srv, *args, input=None, user="postgres", port=None, host="127.0.0.1", env=None, check=True, timeout=60):
    """host: an address, or a directory holding the Unix-domain socket .s.PGSQL.<port>."""
    cmd = [PSQL, "-X", "-h", str(host), "-p", str(port or srv.port), "-U", user, "-d", "postgres",
           "-v", "ON_ERROR_STOP=1", *[str(a) for a in args]]
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=pg_env(env),
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"{cmd} -> {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def sql(srv, query, **kw):
    out = psql(srv, "-At", "-P", "null=NULL", "-c", query, **kw).stdout
    return [line.split("|") for line in out.splitlines()]


def pgbench(srv, *args, timeout=120):
    cmd = [PGBENCH, "-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres", *[str(a) for a in args], "postgres"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=pg_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{cmd} -> {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout + r.stderr


def line_stats(srv):
    with srv.client() as c:
        return c.stats()


def run_node(script, *args, timeout=60):
    """Run pgclients/<script> with node-postgres installed (npm ci from the lock file on first use);
    skips when node/npm are missing. Returns the CompletedProcess (text)."""
    if not NODE or not NPM:
        pytest.skip("node/npm are not installed (scripts/install-deps installs nodejs and npm)")
    if not (PGCLIENTS / "node_modules" / "pg").is_dir():
        # The lock file pins every package; ci installs exactly that.
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=PGCLIENTS, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return subprocess.run([NODE, script, *[str(a) for a in args]], cwd=PGCLIENTS, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- the raw wire protocol
# For what no client library sends (or sends only by accident): each helper builds one frontend
# message; PgRaw reads backend messages back as (type, body).

def _cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def pg_msg(t, body=b""):
    return t.encode() + struct.pack("!I", len(body) + 4) + body


def pg_query(q):
    return pg_msg("Q", _cstr(q))


def pg_parse(sql, name="", types=()):
    return pg_msg("P", _cstr(name) + _cstr(sql) + struct.pack("!h", len(types))
                  + b"".join(struct.pack("!I", t) for t in types))


def pg_bind(params=(), rfmts=(), portal="", stmt="", pfmts=()):
    b = _cstr(portal) + _cstr(stmt) + struct.pack("!h", len(pfmts)) + b"".join(struct.pack("!h", f) for f in pfmts)
    b += struct.pack("!h", len(params))
    for p in params:
        if p is None:
            b += struct.pack("!i", -1)
        else:
            p = p.encode() if isinstance(p, str) else p
            b += struct.pack("!i", len(p)) + p
    return pg_msg("B", b + struct.pack("!h", len(rfmts)) + b"".join(struct.pack("!h", f) for f in rfmts))


def pg_describe_portal(portal=""):
    return pg_msg("D", b"P" + _cstr(portal))


def pg_execute(portal="", maxrows=0):
    return pg_msg("E", _cstr(portal) + struct.pack("!i", maxrows))


def pg_copy_data(data):
    return pg_msg("d", data.encode() if isinstance(data, str) else data)


PG_SYNC = pg_msg("S")
PG_COPY_DONE = pg_msg("c")


def pg_fields(body):
    """An ErrorResponse/NoticeResponse body as {field code: text}."""
    return {chr(p[0]): p[1:].decode(errors="replace") for p in body.split(b"\0") if p}


def pg_datarow(body):
    n = struct.unpack("!h", body[:2])[0]
    off, vals = 2, []
    for _ in range(n):
        ln = struct.unpack("!i", body[off:off + 4])[0]
        off += 4
        vals.append(None if ln < 0 else body[off:off + ln])
        off += max(ln, 0)
    return vals


class PgRaw:
    """A PostgreSQL connection (trust auth) that speaks the protocol by hand."""

    def __init__(self, srv, user="postgres", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        body = struct.pack("!I", 196608) + _cstr("user") + _cstr(user) + _cstr("database") + _cstr("postgres") + b"\0"
        self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
        self.buf = b""
        msgs = self.until("Z")
        assert msgs[-1][0] == "Z", msgs

    def send(self, *msgs):
        self.sock.sendall(b"".join(msgs))

    def recv(self):
        """The next backend message; ('EOF', b'') once the server closed."""
        while True:
            if len(self.buf) >= 5:
                ln = struct.unpack("!I", self.buf[1:5])[0]
                if len(self.buf) >= ln + 1:
                    t, body, self.buf = chr(self.buf[0]), self.buf[5:ln + 1], self.buf[ln + 1:]
                    return t, body
            d = self.sock.recv(65536)
            if not d:
                return "EOF", b""
            self.buf += d

    def until(self, stop="Z"):
        """Messages up to and including the first of type stop (or EOF); a timeout raises."""
        out = []
        while True:
            t, b = self.recv()
            out.append((t, b))
            if t in (stop, "EOF"):
                return out

    def query(self, q):
        self.send(pg_query(q))
        return self.until("Z")

    def ok(self, q):
        msgs = self.query(q)
        errs = [pg_fields(b) for t, b in msgs if t == "E"]
        assert not errs, (q, errs)
        return msgs

    def rows(self, q):
        return [[v.decode() if v is not None else None for v in pg_datarow(b)] for t, b in self.ok(q) if t == "D"]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pg_errors(msgs):
    """(SQLSTATE, message) of each ErrorResponse in msgs."""
    return [(f.get("C"), f.get("M")) for f in (pg_fields(b) for t, b in msgs if t == "E")]
