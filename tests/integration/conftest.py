"""conftest.py - fixtures and helpers for litecached's integration tests.

Every test talks to the real binary ($LITECACHED_BIN, default ./litecached) over real TCP sockets.
A server runs on a free port with a fresh database in a tmp dir; its stderr goes to a file there and
is attached to the report of any failing test. Stopping a server sends SIGTERM and asserts it exited
with status 0: that checks graceful shutdown, and under ASan that no leak or error was reported.

Fixtures:
  server          one server per test module; a module may set SERVER_ARGS = [...] for extra options
  client          a fresh connection to the module's server, closed after the test
  server_factory  start(*args, db_path=None) -> Server; every server it started is stopped (and
                  checked for exit status 0) after the test
Helpers (import them from conftest): Client, Server, unescape_field, parse_result, result_sets, ...
"""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("LITECACHED_BIN") or str(REPO / "litecached")
# The load generator of the same build (make passes litecached-bench-asan under test-asan).
BENCH_BIN = os.environ.get("LITECACHED_BENCH_BIN") or str(REPO / "litecached-bench")

SOCK_TIMEOUT = 10.0      # one request/response on a socket
START_TIMEOUT = 30.0     # ASan start-up is slower
STOP_TIMEOUT = 30.0

# Status lines. The contract lets more key=value fields follow; readers ignore unknown ones.
READ_OK = re.compile(r"^\+OK (\d+) rows(?= )(?=.* ms=\d+(?:\.\d+)?(?: |$))(?: [a-z_]+=\S*)+$")
WRITE_OK = re.compile(r"^\+OK (\d+) changed last_id=(-?\d+)(?=.* ms=\d+(?:\.\d+)?(?: |$))(?: [a-z_]+=\S*)+$")
ERR = re.compile(r"^-ERR ([0-9A-Z]{5}) (.+)$")

# Servers started during the current test (or module), for the failure report.
_report_servers = []


# ---------------------------------------------------------------- helpers

def make_env():
    """The environment for a make of our own from a test: without the variables of the make that
    runs the tests (under `make test-asan` they would turn a plain build into a sanitizer one)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_data(sock):
    """Is a byte ready to read right now (without consuming it)?"""
    sock.setblocking(False)
    try:
        return len(sock.recv(1, socket.MSG_PEEK)) > 0
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def wait_until(pred, timeout=SOCK_TIMEOUT, what="condition", interval=0.01):
    """Poll pred() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def unescape_text(s):
    """Undo the TSV escaping: \\\\ \\t \\n \\r \\0. Any other escape is a protocol error."""
    if "\\" not in s:
        return s
    out = []
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        assert i + 1 < n, f"dangling backslash in field {s!r}"
        e = s[i + 1]
        mapped = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "0": "\0"}.get(e)
        assert mapped is not None, f"unknown escape \\{e} in field {s!r}"
        out.append(mapped)
        i += 2
    return "".join(out)


def unescape_field(f):
    """One TSV field: None for NULL (\\N), bytes for a blob (\\x...), else the unescaped text."""
    if f == "\\N":
        return None
    if f.startswith("\\x"):
        return bytes.fromhex(f[2:])
    return unescape_text(f)


def split_tsv(line):
    return [unescape_field(f) for f in line.split("\t")]


def result_sets(data, fmt="tsv"):
    """Split data lines into result sets: [(columns, rows)], each starting at a '#' line."""
    sets = []
    for line in data:
        if line.startswith("#"):
            body = line[1:]
            cols = json.loads(body) if fmt == "json" else [unescape_text(c) for c in body.split("\t")]
            sets.append((cols, []))
        else:
            assert line.startswith("="), f"unexpected data line {line!r}"
            assert sets, f"row before any header: {line!r}"
            body = line[1:]
            row = json.loads(body) if fmt == "json" else split_tsv(body)
            assert len(row) == len(sets[-1][0]), f"row width {len(row)} != header width: {line!r}"
            sets[-1][1].append(row)
    return sets


def parse_result(data, fmt="tsv"):
    """Exactly one result set: (columns, rows)."""
    sets = result_sets(data, fmt)
    assert len(sets) == 1, f"expected one result set, got {len(sets)}: {data!r}"
    return sets[0]


def status_kind(status):
    if READ_OK.match(status):
        return "read"
    if WRITE_OK.match(status):
        return "write"
    if ERR.match(status):
        return "error"
    return "other"


def err_state(status):
    m = ERR.match(status)
    assert m, f"expected an -ERR status, got {status!r}"
    return m.group(1)


def strip_ms(text):
    """Make a transcript comparable: elapsed times vary, and cache fields are tested elsewhere."""
    text = re.sub(r" cache=(hit|miss|off)( age=\d+)?", "", text)
    return re.sub(r"ms=\d+(\.\d+)?", "ms=X", text)


# ---------------------------------------------------------------- client

class ServerClosed(Exception):
    pass


class Client:
    """A line-protocol connection. request(line) -> (data_lines, status_line)."""

    def __init__(self, port, timeout=SOCK_TIMEOUT, connect=True, rcvbuf=None, source=None):
        """rcvbuf: a fixed, small receive buffer (turns off autotuning, which on loopback lets the
        kernel soak up tens of MB a non-reading client never reads). source: connect from this
        address (any 127.x.y.z works on Linux loopback: a distinct client address for a test)."""
        self.port = port
        self.buf = b""
        self.sock = None
        if connect:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            if source:
                self.sock.bind((source, 0))
            self.sock.connect(("127.0.0.1", port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.settimeout(timeout)

    # -- sending
    @staticmethod
    def _enc(line):
        return line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape")

    def send(self, *lines):
        self.sock.sendall(b"".join(self._enc(l) + b"\n" for l in lines))

    def send_raw(self, data):
        self.sock.sendall(self._enc(data))

    # -- receiving
    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ServerClosed(f"server closed the connection; unparsed {self.buf[:200]!r}")
        self.buf += chunk

    def read_line(self):
        """One line without its '\\n' (as str)."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 1:]
                return line.decode("utf-8", "surrogateescape")
            start = len(self.buf)
            self._fill()

    def read_response(self):
        """Read data lines ('#'/'=') up to and including the status line ('+'/'-')."""
        data = []
        while True:
            line = self.read_line()
            if line[:1] in ("#", "="):
                data.append(line)
            elif line[:1] in ("+", "-"):
                return data, line
            else:
                raise AssertionError(f"malformed response line {line!r} after {data!r}")

    def read_until_eof(self):
        """Everything until the server closes (bytes); fails on timeout."""
        out = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(262144)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def at_eof(self):
        """True if the server has closed (EOF or reset) and nothing is left to read."""
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        if chunk:
            self.buf += chunk
            return False
        return True

    # -- conveniences
    def request(self, line):
        self.send(line)
        return self.read_response()

    def ok(self, line, fmt="tsv"):
        """A successful read: (columns, rows) of its single result set."""
        data, status = self.request(line)
        m = READ_OK.match(status)
        assert m, f"{line[:200]!r}: expected +OK ... rows, got {status!r}"
        cols, rows = parse_result(data, fmt) if data else ([], [])
        assert int(m.group(1)) == len(rows), f"status {status!r} but {len(rows)} rows"
        return cols, rows

    def rows(self, line, fmt="tsv"):
        return self.ok(line, fmt)[1]

    def scalar(self, line):
        rows = self.rows(line)
        assert len(rows) == 1 and len(rows[0]) == 1, f"{line!r}: expected one value, got {rows!r}"
        return rows[0][0]

    def count(self, table_where):
        return int(self.scalar(f"SELECT count(*) FROM {table_where}"))

    def write(self, line):
        """A successful write: (changed, last_id, data_lines)."""
        data, status = self.request(line)
        m = WRITE_OK.match(status)
        assert m, f"{line[:200]!r}: expected +OK ... changed, got {status!r} (data {data!r})"
        return int(m.group(1)), int(m.group(2)), data

    def error(self, line, state):
        """A failing request: asserts its SQLSTATE, returns the message."""
        data, status = self.request(line)
        m = ERR.match(status)
        assert m, f"{line[:200]!r}: expected -ERR {state}, got {status!r} (data {data!r})"
        assert m.group(1) == state, f"{line[:200]!r}: expected -ERR {state}, got {status!r}"
        assert data == [], f"an error carries no data lines, got {data!r}"
        return m.group(2)

    def ping(self):
        data, status = self.request("PING")
        assert (data, status) == ([], "+PONG")

    def assert_usable(self):
        """The connection still serves requests normally."""
        self.ping()
        assert self.scalar("SELECT 6*7") == "42"

    def stats(self):
        data, status = self.request("STATS")
        assert status == "+OK", status
        out = {}
        for line in data:
            assert line.startswith("="), line
            name, value = line[1:].split("\t")
            out[name] = float(value) if "." in value else int(value)
        return out

    def create_user(self, email, password_hash="h", full_name=None, meta=None):
        args = " ".join(json.dumps(a) for a in (email, password_hash, full_name, meta))
        changed, last_id, data = self.write(f"CALL createUser {args}")
        cols, rows = parse_result(data)
        assert cols == ["id"] and len(rows) == 1
        assert changed == 1 and last_id == int(rows[0][0])
        return last_id

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- server

class Server:
    def __init__(self, workdir, args=(), db_path=None, name="server", stop_timeout=STOP_TIMEOUT):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = pathlib.Path(db_path) if db_path else self.dir / "data.db"
        self.args = [str(a) for a in args]
        self.stderr_path = self.dir / f"{name}.stderr"
        self.proc = None
        self.port = None
        self.exit_status = None
        self.stop_timeout = stop_timeout

    def argv(self, port):
        # No HTTP endpoint unless a test asks for one (its default port would clash between servers).
        return [BIN, "--port", str(port), "--db_path", str(self.db_path), "--workers", "2", "--http_port", "0",
                *self.args]

    def start(self):
        """Start on a free port; ready once a TCP connect succeeds. Retries if the port was taken."""
        for attempt in range(5):
            port = free_port()
            with open(self.stderr_path, "ab") as f:
                f.write(f"=== starting: {' '.join(self.argv(port))}\n".encode())
                f.flush()
                self.proc = subprocess.Popen(self.argv(port), stdin=subprocess.DEVNULL,
                                             stdout=f, stderr=f)
            self.port = port
            self.exit_status = None
            if self._wait_ready():
                if self not in _report_servers:
                    _report_servers.append(self)
                return self
            if "cannot listen" not in self.stderr():
                break
        raise AssertionError(f"litecached did not start (exit {self.proc.poll()}):\n{self.stderr()}")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.01)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"litecached not accepting connections after {START_TIMEOUT}s:\n{self.stderr()}")

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        return Client(self.port, **kw)

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def terminate(self, sig=signal.SIGTERM, timeout=None):
        """Signal and wait; returns the exit status (negative: killed by a signal)."""
        timeout = timeout or self.stop_timeout
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_status = self.proc.returncode
                raise AssertionError(f"litecached did not exit within {timeout}s of {sig!r}:\n{self.stderr()}")
        self.exit_status = self.proc.returncode
        return self.exit_status

    def stop(self):
        """SIGTERM; assert a graceful exit with status 0."""
        status = self.terminate()
        assert status == 0, f"litecached exited with status {status}; stderr:\n{self.stderr()}"

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_connections(client, n, timeout=SOCK_TIMEOUT, accepted_since=None):
    """Poll STATS until the server counts exactly n open connections (the caller's included).
    accepted_since: a connections_total seen earlier; also wait until the server has accepted a
    connection since then (a client that connects and closes at once may not be accepted yet when
    the count is first read, and the count would already say n)."""
    last = {}

    def check():
        last.update(client.stats())
        return last["connections"] == n and (accepted_since is None or last["connections_total"] > accepted_since)
    try:
        wait_until(check, timeout, f"STATS connections == {n}")
    except AssertionError:
        raise AssertionError(f"STATS connections stayed {last.get('connections')}, expected {n}")


# Every derived counter minus its recomputation from the base tables: all zero when consistent.
STATS_CHECK = " ".join("""SELECT
 (SELECT count(*) FROM users) - (SELECT users FROM global_stats),
 (SELECT count(*) FROM posts) - (SELECT posts FROM global_stats),
 (SELECT count(*) FROM items WHERE status = 'active') - (SELECT items_active FROM global_stats),
 (SELECT count(*) FROM items WHERE status = 'archived') - (SELECT items_archived FROM global_stats),
 (SELECT count(*) FROM items WHERE status = 'deleted') - (SELECT items_deleted FROM global_stats),
 (SELECT count(*) FROM users) - (SELECT count(*) FROM user_stats),
 (SELECT count(*) FROM user_stats s WHERE
    s.post_count != (SELECT count(*) FROM posts p WHERE p.user_id = s.user_id)
    OR s.total_views != (SELECT coalesce(sum(views), 0) FROM posts p WHERE p.user_id = s.user_id)
    OR s.total_likes != (SELECT coalesce(sum(likes), 0) FROM posts p WHERE p.user_id = s.user_id)
    OR s.item_count != (SELECT count(*) FROM items i WHERE i.user_id = s.user_id)
    OR s.active_items != (SELECT count(*) FROM items i WHERE i.user_id = s.user_id AND i.status = 'active'))
""".split())


def assert_stats_consistent(c):
    assert c.rows(STATS_CHECK) == [["0"] * 7], "user_stats/global_stats disagree with a recomputation"


def run_litecached(*args, timeout=20):
    """Run the binary to completion (config errors, --help): CompletedProcess with text output."""
    return subprocess.run([BIN, *[str(a) for a in args]], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def write_users_file(path, users):
    """users: (name, role, password) triples -> a users_file at path (verifiers from --make-verifier)."""
    lines = ["# user role verifier", ""]
    for user, role, pw in users:
        r = run_litecached("--make-verifier", pw)
        assert r.returncode == 0, r.stderr
        v = r.stdout.strip()
        assert v.startswith("SCRAM-SHA-256$4096:")
        lines.append(f"{user} {role} {v}")
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    args = getattr(request.module, "SERVER_ARGS", [])
    name = request.module.__name__.rsplit(".", 1)[-1]
    srv = Server(tmp_path_factory.mktemp(name), args).start()
    yield srv
    try:
        srv.stop()
    finally:
        srv.kill()
        if srv in _report_servers:
            _report_servers.remove(srv)


@pytest.fixture
def client(server):
    c = server.client()
    yield c
    c.close()


@pytest.fixture
def server_factory(tmp_path):
    started = []
    counter = [0]

    def start(*args, db_path=None, workdir=None, start=True, stop_timeout=STOP_TIMEOUT):
        counter[0] += 1
        srv = Server(workdir or tmp_path / f"srv{counter[0]}", args, db_path=db_path,
                     name=f"server{counter[0]}", stop_timeout=stop_timeout)
        started.append(srv)
        return srv.start() if start else srv

    yield start
    errors = []
    for srv in started:
        try:
            if srv.proc is not None and srv.exit_status is None:
                srv.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            srv.kill()
            if srv in _report_servers:
                _report_servers.remove(srv)
    assert not errors, "\n".join(errors)


def pytest_configure(config):
    """An assert that fails in a thread a test started is only a warning to pytest: the test would
    pass. Make it fail the test."""
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(_report_servers):
            text = srv.stderr()
            lines = text.splitlines()
            if len(lines) > 300:
                text = "\n".join(["[... earlier lines cut ...]"] + lines[-300:])
            rep.sections.append((f"litecached stderr ({srv.stderr_path})", text))


def pytest_collection_modifyitems(session, config, items):
    """LITECACHED_TEST_ORDER=reverse runs each file's tests last to first (make test-asan does), so
    a test that only passes after the one before it has run fails somewhere."""
    if os.environ.get("LITECACHED_TEST_ORDER") != "reverse":
        return
    out, start = [], 0
    for i in range(1, len(items) + 1):
        if i == len(items) or items[i].path != items[start].path:
            out.extend(reversed(items[start:i]))
            start = i
    items[:] = out
