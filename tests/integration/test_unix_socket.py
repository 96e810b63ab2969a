"""test_unix_socket.py - unix_socket_dir: both protocols on <dir>/.s.PGSQL.<port>, reached by nc -U, psql, psycopg2, node-postgres and litecached-bench; stale, foreign and live socket files; removal at exit."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

import pytest

import conftest
from conftest import BENCH_BIN, BIN, Client, free_port, run_litecached, write_users_file
from pghelp import needs_psql, run_node, sql


@pytest.fixture
def sockdir():
    """A short directory: a socket path must fit in 107 bytes, and pytest's tmp_path can be long."""
    d = tempfile.mkdtemp(prefix="lc-sock-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def sock_path(d, port):
    return os.path.join(d, f".s.PGSQL.{port}")


class UnixClient(Client):
    """A line-protocol connection over the Unix-domain socket."""

    def __init__(self, path):
        super().__init__(None, connect=False)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(conftest.SOCK_TIMEOUT)
        self.sock.connect(path)


def start_on(server_factory, monkeypatch, port, *args, **kw):
    """A server on a given TCP port (the socket's name carries it): Server.start asks free_port()."""
    monkeypatch.setattr(conftest, "free_port", lambda: port)
    try:
        return server_factory(*args, **kw)
    finally:
        monkeypatch.undo()


def test_line_protocol_through_nc_and_the_same_data_as_tcp(server_factory, sockdir):
    srv = server_factory("--unix_socket_dir", sockdir)
    path = sock_path(sockdir, srv.port)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o777, "as PostgreSQL's: the directory's permissions decide"
    # The real netcat, as a person would type it.
    r = subprocess.run(["nc", "-q", "1", "-U", path], input="PING\nSET greeting hello\nGET greeting\n",
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.splitlines() == ["+PONG", "+OK", "=hello", "+OK 1 rows"], r.stdout + r.stderr
    # One server: a write over the socket is read over TCP, and the other way round, through one cache.
    with UnixClient(path) as u, srv.client() as t:
        u.write("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
        u.write("INSERT INTO notes VALUES (1, 'from the socket')")
        assert t.rows("SELECT body FROM notes WHERE id = 1") == [["from the socket"]]
        t.write("UPDATE notes SET body = 'from tcp' WHERE id = 1")
        assert u.rows("SELECT body FROM notes WHERE id = 1") == [["from tcp"]]
        assert t.scalar("SELECT body FROM notes WHERE id = 1") == "from tcp"


@needs_psql
def test_postgresql_clients_find_the_socket_by_directory_and_port(server_factory, sockdir):
    psycopg2 = pytest.importorskip("psycopg2", reason="python3-psycopg2 is not installed (scripts/install-deps)")
    pg_port = free_port()
    srv = server_factory("--unix_socket_dir", sockdir, "--pg_port", pg_port)
    # psql -h <dir> -p <port>: libpq's own way to a Unix-domain socket.
    assert sql(srv, "SELECT 40 + 2", host=sockdir) == [["42"]]
    assert sql(srv, "SELECT 'pg_port has its socket too'", host=sockdir, port=pg_port) == \
        [["pg_port has its socket too"]]
    c = psycopg2.connect(host=sockdir, port=srv.port, user="app", dbname="app", connect_timeout=5)
    try:
        cur = c.cursor()
        cur.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER)")
        cur.execute("INSERT INTO kv VALUES (%s, %s)", ("a", 1))
        c.commit()
        cur.execute("SELECT v FROM kv WHERE k = %s", ("a",))
        assert cur.fetchall() == [(1,)]
        c.commit()
    finally:
        c.close()
    with srv.client() as t:
        assert t.rows("SELECT k, v FROM kv") == [["a", "1"]]
    r = run_node("node_pg_unix.js", sockdir, srv.port)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert r.stdout.split("\n")[:2] == ["ok parameters", "ok transaction"], r.stdout


def test_the_socket_does_not_bypass_authentication(server_factory, sockdir, tmp_path):
    users = write_users_file(tmp_path / "users", [("ann", "readwrite", "s3cret pass")])
    srv = server_factory("--unix_socket_dir", sockdir, "--auth", "password", "--users_file", users)
    with UnixClient(sock_path(sockdir, srv.port)) as u:
        assert u.error("SELECT 1", "28000")
        assert u.error("AUTH ann wrong", "28P01")
        assert u.request("AUTH ann s3cret pass")[1].startswith("+OK authenticated as ann role=readwrite")
        assert u.scalar("SELECT 1") == "1"
    assert "(from [local])" in srv.stderr(), "a socket peer is logged as PostgreSQL logs it"


def test_removed_at_exit_and_a_stale_one_replaced_after_kill_9(server_factory, sockdir, monkeypatch):
    port = free_port()
    path = sock_path(sockdir, port)
    srv = start_on(server_factory, monkeypatch, port, "--unix_socket_dir", sockdir)
    with UnixClient(path) as u:
        u.write("CREATE TABLE t(x INTEGER)")
        u.write("INSERT INTO t VALUES (1)")
    assert srv.terminate(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(os.stat(path).st_mode), "SIGKILL leaves the file behind"
    # Nobody listens on it any more: the next server replaces it.
    srv2 = start_on(server_factory, monkeypatch, port, "--unix_socket_dir", sockdir, db_path=srv.db_path)
    with UnixClient(path) as u:
        assert u.scalar("SELECT count(*) FROM t") == "1"
    srv2.stop()
    assert not os.path.exists(path), "a clean shutdown removes the socket file"


def run_refused(sockdir, port, tmp_path, *extra):
    r = run_litecached("--port", port, "--http_port", 0, "--db_path", tmp_path / "refused.db",
                       "--unix_socket_dir", sockdir, *extra, timeout=60)
    assert r.returncode != 0, f"the server should not have started:\n{r.stderr}"
    return r.stderr


def test_a_foreign_file_or_a_live_socket_is_never_replaced(sockdir, tmp_path):
    port = free_port()
    path = sock_path(sockdir, port)
    with open(path, "w") as f:
        f.write("not a socket\n")
    assert "exists and is not a socket" in run_refused(sockdir, port, tmp_path)
    with open(path) as f:
        assert f.read() == "not a socket\n"
    os.unlink(path)
    # Someone listens there (another server, bound to another address on the same port).
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(1)
    try:
        assert "another server is listening on " + path in run_refused(sockdir, port, tmp_path)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)   # still the listener's
        c.close()
    finally:
        live.close()


def test_a_path_too_long_is_refused_at_start(tmp_path):
    deep = tempfile.mkdtemp(prefix="lc-" + "d" * 100, dir="/tmp")
    try:
        err = run_refused(deep, free_port(), tmp_path)
        assert "too long for a Unix-domain socket" in err, err
    finally:
        shutil.rmtree(deep, ignore_errors=True)


def test_litecached_bench_over_the_socket(server_factory, sockdir):
    srv = server_factory("--unix_socket_dir", sockdir)
    r = subprocess.run([BENCH_BIN, "--host", sockdir, "--port", str(srv.port), "--no-progress",
                        "--json", "--connections", "4", "--threads", "1", "--duration", "1", "--warmup", "0",
                        "write", "--call"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    res = res[0] if isinstance(res, list) else res
    assert res["errors"] == 0 and res["requests"] > 0, res
    with srv.client() as t:
        assert int(t.scalar("SELECT count(*) FROM bench_w")) >= res["requests"]


def test_the_main_tcp_port_listens_last(sockdir, tmp_path):
    """A bug fixed: the main port (which clients, tests and health checks wait for) listened before
    the HTTP endpoint and the Unix socket, so a client that connected at once could find them not
    yet there (test_ops' /health test once got 'connection refused'). The syscalls' order shows it."""
    port, pg_port, http_port = free_port(), free_port(), free_port()
    trace = tmp_path / "listen.trace"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=bind,listen", "-o", str(trace), BIN,
                               "--port", str(port), "--pg_port", str(pg_port), "--http_port", str(http_port),
                               "--db_path", str(tmp_path / "d.db"), "--unix_socket_dir", sockdir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conftest.wait_until(lambda: os.path.exists(trace) and f"htons({port})" in trace.read_text()
                            and "listen(" in trace.read_text().split(f"htons({port})", 1)[1],
                            timeout=30, what="the main port's listen")
        with socket.create_connection(("127.0.0.1", http_port), timeout=5):
            pass   # listening already, without any retry
    finally:
        server = subprocess.run(["pgrep", "-P", str(tracer.pid)], capture_output=True, text=True).stdout.split()
        for pid in server:
            os.kill(int(pid), signal.SIGTERM)
        tracer.wait(timeout=30)
    fd_of, listened = {}, []
    for line in trace.read_text().splitlines():
        call = line.split(None, 1)[1] if line[:1].isdigit() else line
        if call.startswith("bind("):
            fd = int(call[5:call.index(",")])
            if f"htons({port})" in call:
                fd_of[fd] = "main"
            elif f"htons({pg_port})" in call:
                fd_of[fd] = "pg_port"
            elif f"htons({http_port})" in call:
                fd_of[fd] = "http"
            elif "sun_path=" in call:
                fd_of[fd] = "unix " + call.split("sun_path=", 1)[1].split('"')[1].rsplit(".", 1)[1]
        elif call.startswith("listen(") and call.rstrip().endswith("= 0"):
            fd = int(call[7:call.index(",")])
            if fd in fd_of:
                listened.append(fd_of.pop(fd))
    assert listened[-1] == "main", listened
    assert sorted(listened) == sorted(["http", f"unix {port}", f"unix {pg_port}", "pg_port", "main"]), listened
