"""test_errors.py - every error kind: the right SQLSTATE, nothing changed, and the connection stays usable."""
import os
import subprocess
import time

import pytest

from conftest import ERR, err_state

# A small result limit so 54000 "result too large" is cheap to provoke.
SERVER_ARGS = ["--max_result_bytes", "4k", "--max_line", "4096"]


@pytest.fixture
def user(client):
    """A user with one post; returns its id."""
    uid = client.create_user(f"owner{os.urandom(4).hex()}@example.com")
    client.write(f"INSERT INTO posts (user_id, title) VALUES ({uid}, 'p')")
    return uid


def snapshot(c):
    """Row counts of every table the errors below might touch."""
    return {t: c.count(t) for t in ("users", "posts", "items", "sessions", "user_preferences", "user_stats")} | {
        "global": c.rows("SELECT users, posts, items_active, items_archived, items_deleted FROM global_stats")}


@pytest.mark.parametrize("line,state", [
    ("SELEC 1", "42601"),
    ("SELECT 1 FROM", "42601"),
    ("SELECT 'unterminated", "42601"),
    ("SELECT 1; SELECT 2", "42601"),
    ("SELECT 1;SELECT 2;", "42601"),
    ("INSERT INTO users (email, password_hash) VALUES ('two@x', 'h'); SELECT 1", "42601"),
    ("SELECT * FROM no_such_table", "42P01"),
    ("INSERT INTO no_such_table VALUES (1)", "42P01"),
    ("SELECT no_such_column FROM users", "42703"),
    ("INSERT INTO users (email, nope) VALUES ('x', 1)", "42703"),
    ("UPDATE users SET nope = 1", "42703"),
    ("SELECT no_such_function(1)", "42883"),
    ("SELECT ?", "42P02"),
    ("SELECT :name", "42P02"),
    ("INSERT INTO users (email, password_hash) VALUES (?, ?)", "42P02"),
    ("CALL no_such_query", "42883"),
    ("CALL no_such_query 1 2", "42883"),
    ("CALL", "42601"),
    ("CALL getUserById", "22023"),
    ("CALL getUserById 1 2", "22023"),
    ("CALL createUser a b", "22023"),
    ("DEALLOCATE nothing_here", "26000"),
    ("BATCH 0", "22023"),
    ("BATCH abc", "22023"),
    ("BATCH -1", "22023"),
    ("BATCH", "42601"),
    ("FORMAT csv", "22023"),
    ("ATTACH DATABASE ':memory:' AS other", "42501"),
    ("DETACH DATABASE main", "42501"),
    ("PRAGMA foreign_keys = OFF", "42501"),
    ("PRAGMA journal_mode = DELETE", "42501"),
    ("PRAGMA user_version = 7", "42501"),
    ("PRAGMA query_only = 0", "42501"),
    ("PRAGMA wal_autocheckpoint = 0", "42501"),
    ("PRAGMA max_page_count = 100", "42501"),
    ("COMMIT", "25P01"),
    ("ROLLBACK", "25P01"),
    ("SELECT 1; BEGIN", "42601"),
    ("SELECT length(zeroblob(10)) FROM (SELECT 1) WHERE 1 = 1 UNION ALL SELECT hex(zeroblob(5000))", "54000"),
])
def test_error_then_usable_and_nothing_changed(client, line, state):
    before = snapshot(client)
    client.error(line, state)
    client.assert_usable()
    assert snapshot(client) == before


def test_wrong_argument_count_names_the_parameters(client):
    msg = client.error("CALL getUserById", "22023")
    assert "getUserById" in msg and "id" in msg and "got 0" in msg
    msg = client.error("CALL createUser a@b.c h", "22023")
    for p in ("email", "password_hash", "full_name", "meta"):
        assert p in msg
    assert "4" in msg and "got 2" in msg


def test_unique_violation(client, user):
    email = client.scalar(f"SELECT email FROM users WHERE id = {user}")
    before = snapshot(client)
    client.error(f"INSERT INTO users (email, password_hash) VALUES ('{email}', 'h')", "23505")
    client.error(f'CALL createUser "{email}" "h" null null', "23505")
    client.error(f"INSERT INTO users (id, email, password_hash) VALUES ({user}, 'fresh@x', 'h')", "23505")
    client.assert_usable()
    assert snapshot(client) == before


def test_foreign_key_violation(client, user):
    before = snapshot(client)
    client.error("INSERT INTO posts (user_id, title) VALUES (987654321, 't')", "23503")
    client.error('CALL createPost 987654321 "t" "b"', "23503")
    client.error("INSERT INTO sessions (user_id, token, expires_at) VALUES (987654321, 'tok', '2999-01-01')", "23503")
    client.error(f"UPDATE posts SET user_id = 987654321 WHERE user_id = {user}", "23503")
    client.assert_usable()
    assert snapshot(client) == before
    # PRAGMA foreign_keys = OFF was refused, so enforcement is still on.
    client.error("PRAGMA foreign_keys = OFF", "42501")
    client.error("INSERT INTO posts (user_id, title) VALUES (987654321, 't')", "23503")
    assert client.scalar("PRAGMA foreign_keys") == "1"


def test_check_violation(client, user):
    before = snapshot(client)
    client.error("INSERT INTO users (email, password_hash, role) VALUES ('god@x', 'h', 'god')", "23514")
    client.error(f"UPDATE users SET role = 'root' WHERE id = {user}", "23514")
    client.error(f"INSERT INTO items (user_id, title, status) VALUES ({user}, 't', 'lost')", "23514")
    client.error(f"CALL updateUserPreferences {user} neon null null", "23514")
    client.error("INSERT INTO global_stats (id) VALUES (2)", "23514")
    client.assert_usable()
    assert snapshot(client) == before


def test_not_null_violation(client, user):
    before = snapshot(client)
    client.error("INSERT INTO users (email) VALUES ('nopw@x')", "23502")
    client.error("CALL createUser nn@example.com null null null", "23502")
    client.error(f"INSERT INTO posts (user_id, title) VALUES ({user}, NULL)", "23502")
    client.error(f"UPDATE posts SET title = NULL WHERE user_id = {user}", "23502")
    client.assert_usable()
    assert snapshot(client) == before


def test_failed_multi_row_write_changes_nothing(client):
    before = snapshot(client)
    # The second row violates NOT NULL: the first must not stay.
    client.error("INSERT INTO users (email, password_hash) VALUES ('ok1@x', 'h'), ('bad@x', NULL)", "23502")
    assert client.count("users WHERE email = 'ok1@x'") == 0
    assert snapshot(client) == before


def test_attach_is_refused_and_creates_no_file(client, tmp_path):
    target = tmp_path / "attached.db"
    assert "ATTACH" in client.error(f"ATTACH DATABASE '{target}' AS other", "42501")
    assert not target.exists()
    client.assert_usable()


def test_read_only_pragmas_are_allowed(client):
    cols, rows = client.ok("PRAGMA table_info(users)")
    assert "name" in cols
    names = [r[cols.index("name")] for r in rows]
    assert names[:3] == ["id", "email", "password_hash"]
    cols, rows = client.ok("PRAGMA foreign_key_list(posts)")
    assert rows and rows[0][cols.index("table")] == "users"
    cols, rows = client.ok("PRAGMA index_list('users')")
    assert any(r[cols.index("name")] == "idx_users_email" for r in rows)
    assert client.scalar("PRAGMA user_version") == "2"
    assert client.scalar("PRAGMA integrity_check") == "ok"


def test_nul_byte(client):
    before = snapshot(client)
    client.send_raw(b"SELECT 1\x00\n")
    data, status = client.read_response()
    assert data == [] and ERR.match(status) and ERR.match(status).group(1) == "22021", status
    client.send_raw(b"INSERT INTO users (email, password_hash) VALUES ('nul@x', 'h\x00')\n")
    assert client.read_response()[1].startswith("-ERR 22021 ")
    client.assert_usable()
    assert snapshot(client) == before


def test_result_too_large(client):
    msg = client.error("SELECT hex(zeroblob(5000))", "54000")
    assert "max_result_bytes" in msg
    # Partial rows of the failed result must not leak into the stream.
    client.assert_usable()
    cols, rows = client.ok("SELECT hex(zeroblob(1000)) AS h")
    assert rows == [["00" * 1000]]


def test_line_too_long_with_default_style(client):
    client.error("SELECT '" + "x" * 5000 + "'", "54000")
    client.assert_usable()


def test_errors_do_not_break_pipelining(client):
    lines = ["SELECT 1", "SELEC 2", "SELECT 3", "CALL nope", "PING", "SELECT * FROM nope", "SELECT 7"]
    client.send(*lines)
    replies = [client.read_response() for _ in lines]
    assert replies[0][0] == ["#1", "=1"]
    assert err_of(replies[1]) == "42601"
    assert replies[2][0] == ["#3", "=3"]
    assert err_of(replies[3]) == "42883"
    assert replies[4] == ([], "+PONG")
    assert err_of(replies[5]) == "42P01"
    assert replies[6][0] == ["#7", "=7"]


def err_of(reply):
    data, status = reply
    assert data == []
    m = ERR.match(status)
    assert m, status
    return m.group(1)


def test_runtime_error_mid_result_discards_partial_rows(client):
    # Rows stream until a runtime error (malformed JSON) stops the statement: the reply is the error alone.
    data, status = client.request(
        "SELECT CASE WHEN value < 3 THEN value ELSE json('not json') END FROM json_each('[1,2,3,4]')")
    assert data == [] and status.startswith("-ERR "), (data, status)
    client.assert_usable()


def test_write_error_in_writer_then_read_consistent(server):
    """A failed write goes through the writer; other connections keep working meanwhile."""
    with server.client() as a, server.client() as b:
        uid = a.create_user("dup@example.com")
        a.error("INSERT INTO users (email, password_hash) VALUES ('dup@example.com', 'h')", "23505")
        b.assert_usable()
        assert b.count("users WHERE email = 'dup@example.com'") == 1
        assert b.scalar("SELECT id FROM users WHERE email = 'dup@example.com'") == str(uid)


def test_statement_timeout_stops_a_runaway_query(server_factory):
    srv = server_factory("--statement_timeout", "300")
    with srv.client() as c, srv.client() as other:
        endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
        t0 = time.monotonic()
        msg = c.error(endless, "57014")
        took = time.monotonic() - t0
        assert "statement timeout" in msg
        assert 0.25 <= took < 10, took
        c.assert_usable()
        other.assert_usable()
        # A write stopped by the timeout changes nothing, and the writer goes on.
        c.write("CREATE TABLE t_to(x)")
        c.error("INSERT INTO t_to WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
                "SELECT x FROM n", "57014")
        assert c.count("t_to") == 0
        c.write("INSERT INTO t_to VALUES (1)")
        assert c.count("t_to") == 1


def test_pragmas_cannot_change_the_shared_writer(server_factory):
    """A PRAGMA in a client transaction runs on the writer's connection, which every client shares:
    setting one there stayed for good. wal_autocheckpoint in particular installs SQLite's own WAL
    hook in place of the writer's, whose checkpoints then stopped while the WAL grew without end."""
    srv = server_factory("--wal_checkpoint_pages", "5")
    wal = srv.db_path.with_name(srv.db_path.name + "-wal")
    with srv.client() as c:
        c.write("CREATE TABLE wal_fill(b BLOB)")
        states = {}
        for pragma in ("wal_autocheckpoint=0", "busy_timeout = 1", "max_page_count = 100000", "cache_size = 1",
                       "defer_foreign_keys = ON", "case_sensitive_like = 1"):
            assert c.request("BEGIN")[1] == "+OK BEGIN"
            c.send(f"PRAGMA {pragma}")
            status = c.read_response()[1]
            states[pragma] = err_state(status) if ERR.match(status) else status
            c.request("COMMIT")

        def writer_value(pragma):
            assert c.request("BEGIN")[1] == "+OK BEGIN"  # inside a transaction: read on the writer
            v = c.scalar(f"PRAGMA {pragma}")
            assert c.request("ROLLBACK")[1] == "+OK ROLLBACK"
            return v
        assert writer_value("busy_timeout") == "5000"
        assert writer_value("max_page_count") != "100000"
        before = c.stats()["checkpoints"]
        biggest = 0
        for _ in range(200):
            c.write("INSERT INTO wal_fill VALUES (zeroblob(8192))")
            biggest = max(biggest, wal.stat().st_size if wal.exists() else 0)
        assert c.stats()["checkpoints"] > before, "the writer's checkpoints stopped"
        assert biggest < 100 * 4120, f"WAL grew to {biggest} bytes"
        assert all(s == "42501" for s in states.values()), states


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, to run a database out of room; skipped where it cannot be mounted (not root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_is_53100_not_the_row_limit(small_disk, server_factory):
    """SQLITE_FULL from a statement is a full disk; it was taken for the max_result_rows limit (54000
    "result has more than max_result_rows (0) rows"). A small page cache makes the statement spill
    its pages to the WAL while it runs, so the disk fills inside sqlite3_step, not at COMMIT."""
    srv = server_factory("--sqlite_cache_kb", "256", db_path=small_disk / "data.db")
    with srv.client() as c:
        c.write("CREATE TABLE big(b BLOB)")
        msg = c.error("INSERT INTO big(b) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                      "WHERE i < 40) SELECT zeroblob(100000) FROM n", "53100")
        assert msg == "database or disk is full"
        assert c.count("big") == 0
        c.assert_usable()
        assert c.write("INSERT INTO big VALUES (1)")[0] == 1


def test_row_limit_is_still_54000(server_factory):
    srv = server_factory("--max_result_rows", "3")
    with srv.client() as c:
        msg = c.error("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n",
                      "54000")
        assert msg == "result has more than max_result_rows (3) rows"
        assert len(c.rows("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")) == 3


def test_ddl_reports_no_changed_rows(server):
    """sqlite3_changes keeps the last INSERT/UPDATE/DELETE's count through DDL: CREATE, DROP and
    CREATE INDEX answered "+OK 7 changed" after an INSERT of 7 rows (on the shared writer, maybe
    another client's). A statement's own rows are still counted, not its triggers' (the stats
    tables), over both protocols."""
    from pghelp import PgRaw
    with server.client() as c:
        c.write("CREATE TABLE ddl_count(a)")
        seven = ("INSERT INTO ddl_count WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 7) "
                 "SELECT i FROM n")
        assert c.write(seven)[0] == 7
        for ddl in ("CREATE TABLE ddl1(a)", "DROP TABLE ddl1",
                    "CREATE INDEX IF NOT EXISTS ddl_count_a ON ddl_count(a)",
                    "CREATE INDEX IF NOT EXISTS ddl_count_a ON ddl_count(a)", "CREATE VIEW ddl_v AS SELECT 1",
                    "DROP VIEW ddl_v"):
            assert c.write(ddl)[0] == 0, ddl
        assert c.write("INSERT INTO ddl_count SELECT 1 WHERE 0")[0] == 0
        assert c.write("UPDATE ddl_count SET a = a + 10 WHERE a <= 3")[0] == 3
        assert c.write("DELETE FROM ddl_count WHERE a > 10")[0] == 3
        uid = c.create_user(f"ddl{os.urandom(4).hex()}@x")
        # posts' triggers update user_stats and global_stats: the count stays the statement's own.
        assert c.write(f"INSERT INTO posts(user_id, title) VALUES ({uid}, 'a'), ({uid}, 'b')")[0] == 2
        assert c.write(f"DELETE FROM posts WHERE user_id = {uid}")[0] == 2
        assert c.write("CREATE TABLE ddl2(a)")[0] == 0
        assert c.write("DROP TABLE ddl2")[0] == 0
    with PgRaw(server) as p:
        def tag(q):
            return [b[:-1].decode() for t, b in p.ok(q) if t == "C"]
        assert tag(seven) == ["INSERT 0 7"]
        assert tag("CREATE TABLE ddl3(a)") == ["CREATE TABLE"]
        assert tag("UPDATE ddl_count SET a = a WHERE a = 4") == ["UPDATE 2"]
        assert tag("DROP TABLE ddl3") == ["DROP TABLE"]
        assert tag("DELETE FROM ddl_count WHERE a = 0") == ["DELETE 0"]
        assert tag("INSERT INTO ddl_count SELECT a FROM ddl_count WHERE a < 0") == ["INSERT 0 0"]
