"""test_hostile.py - hostile input over both protocols: each attack gets its exact error, and then another
client is served, PRAGMA integrity_check is ok and the server's RSS stays within a stated bound.

One server for the module, with small limits so every attack is quick (see SERVER_ARGS). Each row of
CASES is (id, function); the function performs the attack on the server and asserts the reply it must
get (its SQLSTATE, or what it must not get). A statement that must fail is one row:
("id", sql_case("line" | "pg", sql, sqlstate)); anything else, write a function and add a row. Cases
for one role or another go in ROLE_CASES (empty until AUTH lands; the same checks run after each).
"""
import os
import pathlib
import socket
import sqlite3
import struct
import tempfile
import time

import pytest

from conftest import BIN, ERR, READ_OK, Client, ServerClosed, err_state, wait_until, write_users_file

# Users for the per-role cases. auth stays trust, so the other cases run as before: a line client is
# admin until it AUTHs, and a PostgreSQL client logs in by name ("hostile", the admin, by default).
ROLE_USERS = (("hostile", "admin", "h0stile"), ("viewer", "readonly", "v1ew"), ("app", "readwrite", "app-pw"))
USERS_FILE = write_users_file(pathlib.Path(tempfile.mkdtemp(prefix="litecached-hostile-")) / "users", ROLE_USERS)

MAX_CONNECTIONS = 40
REQUEST_TIMEOUT_MS = 1500
SERVER_ARGS = [
    "--max_connections", MAX_CONNECTIONS, "--max_line", "64k", "--max_batch", 100, "--max_params", 64,
    "--max_result_bytes", "4m", "--max_result_rows", 100000, "--statement_timeout", 3000,
    "--max_statement_memory", "16m", "--request_timeout_ms", REQUEST_TIMEOUT_MS,
    "--output_soft_limit", "64k", "--output_hard_limit", "1m", "--cache_mode", "off",
    "--users_file", USERS_FILE,
]

# The bound: RSS after any attack is at most this far above the RSS measured once the module's
# server had served a first round of ordinary requests. ASan keeps freed memory in quarantine
# (256 MB by default) and its allocator keeps freed chunks per size class: there RSS levels off
# near 600 MB, so its bound is wider.
ASAN = "asan" in os.path.basename(BIN)
RSS_BOUND_KB = (1024 if ASAN else 96) * 1024

# ---------------------------------------------------------------- a raw PostgreSQL client


def pg_msg(kind, body=b""):
    return kind + struct.pack("!i", len(body) + 4) + body


def pg_startup(user=b"hostile"):
    body = struct.pack("!i", 196608) + b"user\0" + user + b"\0database\0" + user + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


class Pg:
    """Just enough PostgreSQL to send malformed traffic and read what comes back."""

    def __init__(self, port, login=True, timeout=10, user=b"hostile"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if login:
            self.sock.sendall(pg_startup(user))
            self.until_ready()

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ServerClosed(f"closed; unparsed {self.buf[:100]!r}")
            self.buf += chunk

    def message(self):
        self._need(5)
        kind, length = self.buf[:1], struct.unpack("!i", self.buf[1:5])[0]
        self._need(1 + length)
        body, self.buf = self.buf[5:1 + length], self.buf[1 + length:]
        return kind, body

    def until_ready(self):
        """Messages up to ReadyForQuery: (kinds, sqlstate of the first ErrorResponse or None)."""
        kinds, state = [], None
        while True:
            kind, body = self.message()
            kinds.append(kind)
            if kind == b"E" and state is None:
                state = error_fields(body)["C"]
            if kind == b"Z":
                return kinds, state

    def fatal(self):
        """The one ErrorResponse before the server closes: its SQLSTATE (FATAL checked), then EOF."""
        kind, body = self.message()
        assert kind == b"E", f"expected an ErrorResponse, got {kind!r} {body[:100]!r}"
        f = error_fields(body)
        assert f["S"] == "FATAL", f
        assert self.at_eof(), "the server kept the connection open after FATAL"
        return f["C"]

    def query(self, sql):
        self.sock.sendall(pg_msg(b"Q", sql.encode() + b"\0"))
        return self.until_ready()

    def at_eof(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def error_fields(body):
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return out


def pg_error(srv, sql):
    p = Pg(srv.port)
    try:
        kinds, state = p.query(sql)
        return state
    finally:
        p.close()


def pg_fatal_after(srv, data, login=True):
    p = Pg(srv.port, login=login)
    try:
        p.sock.sendall(data)
        return p.fatal()
    finally:
        p.close()

# ---------------------------------------------------------------- line-protocol attacks


def line_error(srv, line, state):
    with srv.client() as c:
        c.send(line)
        data, status = c.read_response()
        assert ERR.match(status) and err_state(status) == state, f"{line[:80]!r}: want {state}, got {status!r}"
        c.assert_usable()


def closed_with(c, state, within):
    """The server sends -ERR state and closes, within `within` seconds."""
    t0 = time.monotonic()
    out = c.read_until_eof().decode("utf-8", "replace")
    assert time.monotonic() - t0 < within, "closed too late"
    assert out.startswith(f"-ERR {state} ") and out.endswith("\n"), out
    return out


def oversized_line(srv):
    with srv.client() as c:
        c.send("SELECT '" + "x" * 70000 + "'", "PING")
        assert err_state(c.read_response()[1]) == "54000"
        assert c.read_response() == ([], "+PONG")


def oversized_line_no_newline(srv):
    # Far past max_line and never ended: refused at once, its rest discarded while it streams in.
    with srv.client() as c:
        c.send_raw(b"x" * 300000)
        assert err_state(c.read_response()[1]) == "54000"
        c.send_raw(b"\n")
        c.assert_usable()


def invalid_utf8_literal(srv):
    with srv.client() as c:
        assert c.rows(b"SELECT '\xff\xfe' AS v") == [["\udcff\udcfe"]]   # bytes returned as sent


def invalid_utf8_argument(srv):
    with srv.client() as c:
        c.send(b'CALL getUserById "\xff\xfe"')
        assert READ_OK.match(c.read_response()[1])


def too_many_prepared_args(srv):
    with srv.client() as c:
        assert c.request("PREPARE p70 AS SELECT " + ", ".join("?" for _ in range(70)))[1].startswith("+OK prepared")
        c.error("CALL p70 " + " ".join(["1"] * 70), "54023")
        c.assert_usable()


def batch_never_finished(srv):
    with srv.client() as c:
        c.send("BATCH 3", "SELECT 1")
        closed_with(c, "08P01", REQUEST_TIMEOUT_MS / 1000 + 3)


def slowloris_partial_line(srv):
    with srv.client() as c:
        c.send_raw("SELECT 1\nSELECT 2")          # one complete request, then a half
        assert READ_OK.match(c.read_response()[1])
        closed_with(c, "08P01", REQUEST_TIMEOUT_MS / 1000 + 3)


def slowloris_trickle(srv):
    # A byte every 0.3 s: each arrival is activity, but the line never ends in time.
    with srv.client() as c:
        t0 = time.monotonic()
        try:
            for ch in "SELECT 1234567890123456789":
                c.send_raw(ch)
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed_with(c, "08P01", REQUEST_TIMEOUT_MS / 1000 + 10)
        assert time.monotonic() - t0 < REQUEST_TIMEOUT_MS / 1000 + 3


def send_never_read(sock, payload, what, reply_end):
    """Send payload on sock without reading any reply: the server stops reading at
    output_soft_limit, then drops the client once its output sat unread for request_timeout_ms.
    (When the server is slow enough, an ASan build on a busy machine, the kernel's buffers may take
    every reply it made before it had to hold any: then it holds nothing and the client may stay,
    answered to the last request it read, which is what reply_end checks.)"""
    sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + 20
    while sent < len(payload) and time.monotonic() < deadline:
        try:
            sent += sock.send(payload[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            break
    sock.setblocking(True)
    sock.settimeout(REQUEST_TIMEOUT_MS / 1000 + 10)
    time.sleep(REQUEST_TIMEOUT_MS / 1000 + 0.5)
    got = b""
    try:
        while True:   # what the kernel still holds, then EOF: the server dropped it
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got = (got + chunk)[-64:]
    except ConnectionResetError:
        pass
    except socket.timeout:
        assert got.endswith(reply_end), f"the server kept a {what} client that never read its replies"


def pipelined_never_read(srv):
    # ~1 KB each: 10 MB of replies, more than the kernel's socket buffers take for the server.
    c = Client(srv.port, rcvbuf=32768)
    try:
        send_never_read(c.sock, b"SELECT hex(zeroblob(500)) AS x\n" * 10000, "line", b" cache=off\n")
    finally:
        c.close()


def half_open_partial(srv):
    # Half-closed after a partial line: the complete request is answered, the half never runs.
    with srv.client() as c:
        c.send_raw("SELECT 41+1\nINSERT INTO users(email, password_hash) VALUES ('half@x', 'h')")
        c.sock.shutdown(socket.SHUT_WR)
        out = c.read_until_eof().decode()
        assert out.startswith("#41+1\n=42\n+OK 1 rows") and out.count("\n") == 3, out
    with srv.client() as c:
        assert c.scalar("SELECT count(*) FROM users WHERE email = 'half@x'") == "0"


def half_open_silent(srv):
    with srv.client() as c:
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_until_eof() == b""


def reset_mid_reply(srv):
    # A big reply requested, then a reset (SO_LINGER 0) before reading any of it.
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"SELECT hex(zeroblob(1000000))\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def connect_flood(srv):
    socks, refused = [], 0
    try:
        for _ in range(MAX_CONNECTIONS + 100):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            socks.append(s)
        for s in socks:
            s.settimeout(0.5)
            try:
                data = s.recv(100)
            except socket.timeout:
                continue
            assert data in (b"-ERR 53300 too many connections\n", b""), data
            refused += data != b""
        assert refused >= 100, f"only {refused} of {MAX_CONNECTIONS + 100} were refused"
    finally:
        for s in socks:
            s.close()
    # The slots come back as the server notices the closes.
    wait_until(lambda: _served(srv), 10, "a connection after the flood")


def _served(srv):
    try:
        with srv.client(timeout=2) as c:
            c.ping()
            return True
    except (ServerClosed, AssertionError, OSError):
        return False


def vacuum_into(srv):
    # Refused when prepared, to everyone (it would write a file anywhere the server may write).
    line_error(srv, "VACUUM INTO '/tmp/hostile-vacuum-copy.db'", "42501")
    assert not os.path.exists("/tmp/hostile-vacuum-copy.db")


def temp_shadow_table(srv):
    # A temporary object would stay on the writer's connection, which every client shares: a TEMP
    # table named like a main one took the next clients' writes (acknowledged, never in the file),
    # and a TEMP trigger would run on them. Refused to every role, in and out of a transaction.
    with srv.client() as a:
        a.write("CREATE TABLE IF NOT EXISTS hostile_shadow(v TEXT)")
        for sql in ("CREATE TEMP TABLE hostile_shadow(v TEXT)", "CREATE TEMPORARY TABLE hostile_t(v)",
                    "CREATE TABLE temp.hostile_shadow(v TEXT)", "CREATE TEMP VIEW hostile_v AS SELECT 1",
                    "CREATE VIEW temp.hostile_v AS SELECT 1",
                    "CREATE TEMP TRIGGER hostile_tt AFTER INSERT ON hostile_shadow BEGIN SELECT 1; END",
                    "CREATE VIRTUAL TABLE temp.hostile_vt USING json_each"):
            assert "TEMP" in a.error(sql, "42501"), sql
        assert a.request("BEGIN")[1] == "+OK BEGIN"
        a.error("CREATE TEMP TABLE hostile_shadow(v TEXT)", "42501")
        assert a.request("ROLLBACK")[1] == "+OK ROLLBACK"
    with srv.client() as b:
        before = b.count("hostile_shadow")
        assert b.write("INSERT INTO hostile_shadow VALUES ('acked')")[0] == 1
        assert b.count("hostile_shadow") == before + 1


def trigger_recursion(srv):
    with srv.client() as c:
        c.write("CREATE TABLE IF NOT EXISTS hostile_r(x)")
        c.write("CREATE TRIGGER IF NOT EXISTS hostile_rt AFTER INSERT ON hostile_r "
                "BEGIN INSERT INTO hostile_r VALUES (new.x + 1); END")
        c.error("INSERT INTO hostile_r VALUES (1)", "54001")
        assert c.scalar("SELECT count(*) FROM hostile_r") == "0"


# ---------------------------------------------------------------- PostgreSQL attacks


def pg_startup_huge_length(srv):
    # The largest length that still starts with a zero byte (so it is PostgreSQL): over the limit.
    assert pg_fatal_after(srv, struct.pack("!i", 0x00FFFFFF) + b"\0\3\0\0", login=False) == "08P01"


def startup_length_7fffffff(srv):
    # 2 GB as a startup length: its first byte is not zero, so on the shared port it is a line
    # that never ends: refused at request_timeout_ms like any unfinished line.
    with srv.client() as c:
        c.send_raw(struct.pack("!i", 0x7FFFFFFF) + b"\0\3\0\0")
        closed_with(c, "08P01", REQUEST_TIMEOUT_MS / 1000 + 3)


def pg_startup_length_zero(srv):
    assert pg_fatal_after(srv, struct.pack("!i", 0) + b"\0\3\0\0", login=False) == "08P01"


def pg_startup_partial(srv):
    p = Pg(srv.port, login=False)
    try:
        p.sock.sendall(pg_startup()[:11])
        t0 = time.monotonic()
        assert p.fatal() == "08P01"
        assert time.monotonic() - t0 < REQUEST_TIMEOUT_MS / 1000 + 3
    finally:
        p.close()


def pg_message_length_zero(srv):
    assert pg_fatal_after(srv, b"Q" + struct.pack("!i", 0)) == "08P01"


def pg_message_length_negative(srv):
    assert pg_fatal_after(srv, b"Q" + struct.pack("!i", -1)) == "08P01"


def pg_message_oversized(srv):
    assert pg_fatal_after(srv, b"Q" + struct.pack("!i", 100 << 20)) == "54000"


def pg_message_partial(srv):
    p = Pg(srv.port)
    try:
        p.sock.sendall(pg_msg(b"Q", b"SELECT 1\0")[:7])
        assert p.fatal() == "08P01"
    finally:
        p.close()


def pg_unknown_message(srv):
    assert pg_fatal_after(srv, pg_msg(b"z", b"\xff\xfe junk")) == "08P01"


def pg_binary_junk_first(srv):
    # A zero first byte picks PostgreSQL; the rest is no startup packet: protocol 0xdead.0xbeef.
    assert pg_fatal_after(srv, b"\0\0\0\x10\xde\xad\xbe\xef" + b"\xff" * 8, login=False) == "0A000"


def pg_query_with_nul(srv):
    p = Pg(srv.port)
    try:
        p.sock.sendall(pg_msg(b"Q", b"SELECT 1\0DROP TABLE users\0"))
        assert p.fatal() == "08P01"
    finally:
        p.close()


def pg_bind_too_many(srv):
    n = 65
    p = Pg(srv.port)
    try:
        sql = "SELECT " + ", ".join(f"${i + 1}::int" for i in range(n))
        params = b"".join(struct.pack("!i", 1) + b"1" for _ in range(n))
        bind = b"\0\0" + struct.pack("!h", 0) + struct.pack("!h", n) + params + struct.pack("!h", 0)
        p.sock.sendall(pg_msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0)) + pg_msg(b"B", bind)
                       + pg_msg(b"E", b"\0" + struct.pack("!i", 0)) + pg_msg(b"S"))
        kinds, state = p.until_ready()
        assert state == "54023", (kinds, state)
        assert p.query("SELECT 1")[1] is None
    finally:
        p.close()


def pg_pipelined_never_read(srv):
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    try:
        s.sendall(pg_startup())
        send_never_read(s, pg_msg(b"Q", b"SELECT hex(zeroblob(500)) AS x\0") * 10000, "PostgreSQL", b"Z\0\0\0\5I")
    finally:
        s.close()


def sql_case(proto, sql, state):
    """The simplest case: one statement that must fail with state, over one protocol."""
    if proto == "line":
        return lambda srv: line_error(srv, sql, state)
    return lambda srv: _pg_state(srv, sql, state)


def _pg_state(srv, sql, state):
    got = pg_error(srv, sql)
    assert got == state, f"{sql[:80]!r}: want {state}, got {got}"


CASES = [
    ("line_oversized", oversized_line),
    ("line_oversized_no_newline", oversized_line_no_newline),
    ("line_binary_junk", sql_case("line", b"\xff\xfe\x80\x01\x02\x03junk\x7f", "42601")),
    ("line_nul_byte", sql_case("line", b"SELECT 1\x00; DROP TABLE users", "22021")),
    ("line_invalid_utf8_literal", invalid_utf8_literal),
    ("line_invalid_utf8_argument", invalid_utf8_argument),
    ("line_unterminated_quote", sql_case("line", "SELECT 'abc", "42601")),
    ("line_unterminated_json", sql_case("line", 'CALL getUserById "abc', "22023")),
    ("line_deep_json", sql_case("line", "CALL getUserById " + "[" * 100 + "]" * 100, "22023")),
    ("line_too_many_call_args", sql_case("line", "CALL getUserById " + " ".join(["1"] * 65), "54023")),
    ("line_too_many_prepared_args", too_many_prepared_args),
    ("line_two_statements", sql_case("line", "SELECT 1; SELECT 2", "42601")),
    ("line_batch_too_big", sql_case("line", "BATCH 101", "54000")),
    ("line_batch_never_finished", batch_never_finished),
    ("line_slowloris_partial_line", slowloris_partial_line),
    ("line_slowloris_trickle", slowloris_trickle),
    ("line_10000_pipelined_never_read", pipelined_never_read),
    ("line_half_open_partial", half_open_partial),
    ("line_half_open_silent", half_open_silent),
    ("line_reset_mid_reply", reset_mid_reply),
    ("connect_flood", connect_flood),
    ("sandbox_attach", sql_case("line", "ATTACH DATABASE '/tmp/hostile-attach.db' AS x", "42501")),
    ("sandbox_detach", sql_case("line", "DETACH DATABASE main", "42501")),
    ("sandbox_vacuum_into", vacuum_into),
    ("sandbox_writable_schema", sql_case("line", "PRAGMA writable_schema = 1", "42501")),
    ("sandbox_pragma_sets_value", sql_case("line", "PRAGMA query_only = 0", "42501")),
    ("sandbox_load_extension", sql_case("line", "SELECT load_extension('/tmp/hostile.so')", "42501")),
    ("sandbox_temp_table", temp_shadow_table),
    ("sandbox_update_sqlite_master", sql_case("line", "UPDATE sqlite_master SET sql = 'CREATE TABLE users(x)' WHERE name = 'users'", "42501")),
    ("sandbox_insert_sqlite_master", sql_case("line", "INSERT INTO sqlite_master VALUES ('table', 'evil', 'evil', 0, 'CREATE TABLE evil(a)')", "42501")),
    ("trigger_recursion", trigger_recursion),
    ("zeroblob_1g", sql_case("line", "SELECT zeroblob(1000000000)", "54000")),
    # 1 GB of rows asked for: stopped at max_result_bytes.
    ("one_gb_result", sql_case("line", "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1000) SELECT hex(zeroblob(500000)) FROM r", "54000")),
    # The string stops growing at the length limit (max_result_bytes); the endless input is then
    # consumed until statement_timeout.
    ("group_concat_endless", sql_case("line", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT length(group_concat(hex(zeroblob(100000)))) FROM r", "57014")),
    ("too_many_rows", sql_case("line", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 200000) SELECT x FROM r", "54000")),
    ("endless_cte", sql_case("line", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT max(x) FROM r", "57014")),
    # Sorting it (or keeping it DISTINCT) would take all the memory there is before statement_timeout;
    # 200-byte rows reach max_statement_memory (16m here) in well under a second.
    ("endless_cte_sorted", sql_case("line", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
                                            "SELECT printf('%0200d', x) FROM r ORDER BY 1 DESC", "53200")),
    ("endless_cte_distinct", sql_case("line", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
                                              "SELECT count(DISTINCT printf('%0200d', x)) FROM r", "53200")),
    ("pg_endless_cte_sorted", sql_case("pg", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
                                             "SELECT printf('%0200d', x) FROM r ORDER BY 1 DESC", "53200")),
    ("huge_randomblob", sql_case("line", "SELECT length(randomblob(2000000000))", "54000")),
    # SQLite's own printf loops once per copy of a %c, out of statement_timeout's reach (18 s here);
    # litecached's printf (proxy/sqlfn.c) refuses it at once.
    ("printf_huge_char_precision", sql_case("line", "SELECT length(printf('%.*c', 2000000000, 'x'))", "54000")),
    ("pg_format_huge_char_precision", sql_case("pg", "SELECT length(format('%.*c', 2000000000, 'x'))", "54000")),
    ("pg_startup_huge_length", pg_startup_huge_length),
    ("startup_length_7fffffff", startup_length_7fffffff),
    ("pg_startup_length_zero", pg_startup_length_zero),
    # -8 starts with 0xff: a line on the shared port, and one holding NUL bytes.
    ("pg_startup_length_negative", sql_case("line", struct.pack("!i", -8) + b"\0\3\0\0", "22021")),
    ("pg_startup_partial", pg_startup_partial),
    ("pg_message_length_zero", pg_message_length_zero),
    ("pg_message_length_negative", pg_message_length_negative),
    ("pg_message_oversized", pg_message_oversized),
    ("pg_message_partial", pg_message_partial),
    ("pg_unknown_message", pg_unknown_message),
    ("pg_binary_junk_first", pg_binary_junk_first),
    ("pg_query_with_nul", pg_query_with_nul),
    ("pg_unterminated_quote", sql_case("pg", "SELECT 'abc", "42601")),
    ("pg_attach", sql_case("pg", "ATTACH DATABASE '/tmp/hostile-attach.db' AS x", "42501")),
    ("pg_pragma", sql_case("pg", "PRAGMA writable_schema = 1", "42501")),
    ("pg_temp_table", sql_case("pg", "CREATE TEMP TABLE pg_tmp (a int)", "42501")),
    ("pg_endless_cte", sql_case("pg", "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT max(x) FROM r", "57014")),
    ("pg_zeroblob_1g", sql_case("pg", "SELECT zeroblob(1000000000)", "54000")),
    ("pg_bind_too_many", pg_bind_too_many),
    ("pg_10000_pipelined_never_read", pg_pipelined_never_read),
]

def role_case(proto, user, sql, state="42501"):
    """A statement beyond user's role: refused with state, the connection still usable after it."""
    pw = {u: p for u, _, p in ROLE_USERS}[user]

    def line(srv):
        with srv.client() as c:
            assert c.request(f"AUTH {user} {pw}")[1].startswith(f"+OK authenticated as {user}")
            for one in sql if isinstance(sql, list) else [sql]:
                c.send(one)
                data, status = c.read_response()
            assert err_state(status) == state, f"{user}: {sql!r}: want {state}, got {status!r}"
            c.ping()

    def pg(srv):
        p = Pg(srv.port, user=user.encode())
        try:
            kinds, got = p.query(sql)
            assert got == state, f"{user}: {sql[:80]!r}: want {state}, got {got}"
            kinds, got = p.query("SELECT 1")
        finally:
            p.close()
    return line if proto == "line" else pg


# Each role's forbidden statements, over both protocols (tests/integration/test_auth.py tries every
# statement as every role; these add the hostile suite's after-checks: RSS, integrity, others served).
ROLE_CASES = [
    ("role_readonly_insert", role_case("line", "viewer", "INSERT INTO users(email, password_hash) VALUES ('r@x', 'h')")),
    ("role_readonly_delete_all", role_case("line", "viewer", "DELETE FROM users")),
    ("role_readonly_named_write", role_case("line", "viewer", 'CALL createUser "r2@x" "h" "R" {}')),
    ("role_readonly_in_transaction", role_case("line", "viewer", ["BEGIN", "UPDATE users SET full_name = 'x'"])),
    ("role_readonly_kv_set", role_case("line", "viewer", "SET k v")),
    ("role_readonly_backup", role_case("line", "viewer", "BACKUP stolen")),
    ("role_readonly_cache_query", role_case("line", "viewer", "CACHE QUERY SELECT * FROM entries")),
    ("role_readwrite_drop_table", role_case("line", "app", "DROP TABLE users")),
    ("role_readwrite_create_trigger", role_case("line", "app",
                                                "CREATE TRIGGER t_evil AFTER INSERT ON users BEGIN DELETE FROM users; END")),
    ("role_readwrite_database_list", role_case("line", "app", "SELECT file FROM pragma_database_list")),
    ("role_readwrite_cache_flush", role_case("line", "app", "CACHE FLUSH")),
    ("role_readwrite_wrong_password", role_case("line", "app", "AUTH hostile wrong", "28P01")),
    ("role_pg_readonly_update", role_case("pg", "viewer", "UPDATE users SET full_name = 'x'")),
    ("role_pg_readonly_copy", role_case("pg", "viewer", "INSERT INTO users(email, password_hash) SELECT 'c@x', 'h'")),
    ("role_pg_readwrite_alter", role_case("pg", "app", "ALTER TABLE users ADD COLUMN evil TEXT")),
    ("role_pg_readwrite_pragma", role_case("pg", "app", "PRAGMA compile_options")),
    ("role_admin_writable_schema", role_case("pg", "hostile", "PRAGMA writable_schema = ON")),
    ("role_admin_vacuum_into", role_case("line", "hostile", "VACUUM INTO '/tmp/hostile-copy.db'")),
]

# ---------------------------------------------------------------- the checks after every case

_baseline = {}


def _warm_up(srv):
    """Serve a round of ordinary requests on both protocols, then note the RSS everything is judged by."""
    if "rss" not in _baseline:
        for _ in range(3):
            _still_serves(srv)
        _baseline["rss"] = srv.rss_kb()
    return _baseline["rss"]


def _still_serves(srv):
    with srv.client() as c:
        c.assert_usable()
        assert c.scalar("SELECT count(*) FROM users") is not None
    p = Pg(srv.port)
    try:
        kinds, state = p.query("SELECT 6*7")
        assert state is None and kinds.count(b"D") == 1, kinds
    finally:
        p.close()


def _integrity_ok(srv):
    db = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True, timeout=10)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()


@pytest.mark.parametrize("case", [c[1] for c in CASES + ROLE_CASES], ids=[c[0] for c in CASES + ROLE_CASES])
def test_hostile(server, case):
    base = _warm_up(server)
    case(server)
    _still_serves(server)
    _integrity_ok(server)
    rss = server.rss_kb()
    print(f"rss_kb before={base} after={rss} growth={rss - base}")
    assert rss - base <= RSS_BOUND_KB, f"RSS grew by {(rss - base) // 1024} MB, bound {RSS_BOUND_KB // 1024} MB"


def test_case_table_is_large_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- limits that need a server of their own

def test_idle_timeout_closes_both_protocols(server_factory):
    srv = server_factory("--idle_timeout", 1)
    with srv.client() as c:
        c.ping()
        t0 = time.monotonic()
        closed_with(c, "57P05", 4)
        assert time.monotonic() - t0 >= 0.9
    p = Pg(srv.port)
    try:
        assert p.fatal() == "57P05"
    finally:
        p.close()
    # Activity keeps a connection: PINGs every 0.4 s for 2 s are all answered.
    with srv.client() as c:
        for _ in range(5):
            c.ping()
            time.sleep(0.4)


def test_too_many_connections_on_pg_port_is_a_fatal_error(server_factory):
    pg_port = __import__("conftest").free_port()
    srv = server_factory("--max_connections", 1, "--pg_port", pg_port)

    def one_client():   # the start-up probe's connection may still hold the one slot for a moment
        c = srv.client()
        c.send("PING")
        if c.read_response()[1] == "+PONG":
            return c
        c.close()
        return None
    with wait_until(one_client, 10, "the one connection allowed"):
        p = Pg(pg_port, login=False)
        try:
            assert p.fatal() == "53300"
        finally:
            p.close()
