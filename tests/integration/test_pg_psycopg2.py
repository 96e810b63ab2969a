"""test_pg_psycopg2.py - psycopg2 (libpq) against litecached: parameterized reads and writes, transactions, errors and recovery, native types, CALL, COPY, the cache shared with the line protocol, and query cancellation."""
import datetime
import threading
import time

import pytest

psycopg2 = pytest.importorskip("psycopg2", reason="python3-psycopg2 is not installed (scripts/install-deps)")
import psycopg2.errors  # noqa: E402
import psycopg2.extras  # noqa: E402


def connect(srv, **kw):
    return psycopg2.connect(host="127.0.0.1", port=srv.port, user="app", dbname="app", connect_timeout=5, **kw)


@pytest.fixture
def conn(server):
    c = connect(server)
    yield c
    c.close()


def test_parameterized_reads_and_writes(server, conn):
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS kv(k text PRIMARY KEY, v integer, note text)")
    conn.commit()
    cur.executemany("INSERT INTO kv VALUES (%s, %s, %s)", [("a", 1, "it's"), ("b", 2, None), ("c", 3, "x\ty")])
    assert cur.rowcount == 3
    conn.commit()
    cur.execute("SELECT k, v, note FROM kv WHERE v >= %s ORDER BY k", (2,))
    assert cur.fetchall() == [("b", 2, None), ("c", 3, "x\ty")]
    cur.execute("UPDATE kv SET v = v + %(d)s WHERE k IN %(ks)s", {"d": 10, "ks": ("a", "b")})
    assert cur.rowcount == 2
    conn.commit()
    cur.execute("SELECT sum(v) FROM kv")
    assert cur.fetchone()[0] == 26
    cur.execute("INSERT INTO kv VALUES (%s, %s, %s) RETURNING v * 2", ("d", 21, "ret"))
    assert cur.fetchone()[0] == 42
    conn.commit()


def test_transactions_commit_and_rollback(server, conn):
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS acct(id integer PRIMARY KEY, bal integer NOT NULL)")
    cur.execute("DELETE FROM acct")
    cur.execute("INSERT INTO acct VALUES (1, 100), (2, 0)")
    conn.commit()
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    cur.execute("UPDATE acct SET bal = bal - 30 WHERE id = 1")
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    cur.execute("UPDATE acct SET bal = bal + 30 WHERE id = 2")
    cur.execute("SELECT bal FROM acct ORDER BY id")   # sees its own writes
    assert cur.fetchall() == [(70,), (30,)]
    conn.rollback()
    cur.execute("SELECT bal FROM acct ORDER BY id")
    assert cur.fetchall() == [(100,), (0,)]
    cur.execute("UPDATE acct SET bal = bal - 30 WHERE id = 1")
    cur.execute("UPDATE acct SET bal = bal + 30 WHERE id = 2")
    conn.commit()
    other = connect(server)
    try:
        oc = other.cursor()
        oc.execute("SELECT bal FROM acct ORDER BY id")
        assert oc.fetchall() == [(70,), (30,)]
    finally:
        other.close()


def test_error_and_recovery_on_the_same_connection(server, conn):
    cur = conn.cursor()
    with pytest.raises(psycopg2.errors.UndefinedTable):
        cur.execute("SELECT * FROM no_such_table")
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
        cur.execute("SELECT 1")
    conn.rollback()
    cur.execute("SELECT 1 + %s", (1,))
    assert cur.fetchone() == (2,)
    conn.commit()
    conn.autocommit = True
    cur.execute("CREATE TABLE IF NOT EXISTS uq(id integer PRIMARY KEY)")
    cur.execute("INSERT INTO uq VALUES (1) ON CONFLICT DO NOTHING")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        cur.execute("INSERT INTO uq VALUES (1)")
    with pytest.raises(psycopg2.errors.SyntaxError):
        cur.execute("SELEC 1")
    cur.execute("SELECT count(*) FROM uq")
    assert cur.fetchone() == (1,)


def test_native_types(server, conn):
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS typed(i integer, r real, b boolean, blob bytea, t text, ts timestamp, "
                "d DATETIME, n text)")
    when = datetime.datetime(2024, 2, 29, 13, 14, 15)
    cur.execute("INSERT INTO typed VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (-7, 2.5, True, psycopg2.Binary(b"\x00\x01\xfe\xff"), "héllo ✓", when, when, None))
    conn.commit()
    cur.execute("SELECT i, r, b, blob, t, ts, d, n FROM typed")
    i, r, b, blob, t, ts, d, n = cur.fetchone()
    assert i == -7 and isinstance(i, int)
    assert r == 2.5 and isinstance(r, float)
    assert b is True
    assert bytes(blob) == b"\x00\x01\xfe\xff"
    assert t == "héllo ✓"
    assert ts == when and isinstance(ts, datetime.datetime)
    assert d == when and isinstance(d, datetime.datetime)
    assert n is None
    cur.execute("SELECT 1::bigint, 1.25::float8, 'x'::text, NULL, true, 3 / 2, 3.0 / 2")
    row = cur.fetchone()
    assert row == (1, 1.25, "x", None, 1, 1, 1.5)
    # A boolean expression is an integer to SQLite: only declared BOOLEAN columns come back as bool.
    assert type(row[4]) is int and type(row[0]) is int and type(row[6]) is float
    conn.commit()


def test_call_named_query_and_the_shared_cache(server, conn):
    with server.client() as c:
        uid = c.create_user("pyuser@example.com", full_name="Py User", meta={"country": "NO"})
        # The line protocol fills the cache...
        data, status = c.request(f"CALL getUserById {uid}")
        assert "cache=miss" in status
        data, status = c.request(f"SELECT id, email FROM users WHERE id = {uid}")
        assert "cache=miss" in status
        before = c.stats()
    # Outside a transaction (reads in one run on the writer, uncached, as for the line protocol).
    conn.autocommit = True
    cur = conn.cursor()
    # ... and a PostgreSQL client is served from the same entries.
    cur.execute("CALL getUserById(%s)", (uid,))
    row = cur.fetchone()
    names = [d.name for d in cur.description]
    assert row[names.index("email")] == "pyuser@example.com" and row[names.index("id")] == uid
    cur.execute(f"SELECT id, email FROM users WHERE id = {uid}")
    assert cur.fetchall() == [(uid, "pyuser@example.com")]
    with server.client() as c:
        after = c.stats()
        data, status = c.request("CACHE KEYS 50")
    assert after["cache_hits"] - before["cache_hits"] == 2
    assert any("getUserById" in line or "SELECT * FROM users WHERE id" in line for line in data)
    # A named query that writes, through CALL.
    cur.execute("CALL updateLastLogin(%s)", (uid,))
    assert cur.rowcount == 1
    with pytest.raises(psycopg2.errors.UndefinedFunction):
        cur.execute("CALL noSuchQuery(1)")


def test_copy_from_stdin(server, conn):
    import io
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS cp(id integer PRIMARY KEY, name text, score real)")
    conn.commit()
    data = "".join(f"{i}\tname {i}\t{i / 2}\n" for i in range(1, 25001)) + "25001\t\\N\t\\N\n"
    cur.copy_from(io.StringIO(data), "cp", columns=("id", "name", "score"))
    assert cur.rowcount == 25001
    conn.commit()
    cur.execute("SELECT count(*), sum(score), count(name) FROM cp")
    assert cur.fetchone() == (25001, sum(i / 2 for i in range(1, 25001)), 25000)
    # A bad row fails the whole COPY: nothing of it is kept.
    with pytest.raises(psycopg2.errors.UniqueViolation):
        cur.copy_from(io.StringIO("30000\tnew\t1\n1\tdup\t1\n"), "cp")
    conn.rollback()
    cur.execute("SELECT count(*) FROM cp")
    assert cur.fetchone() == (25001,)
    conn.commit()


SLOW_ROWS = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
             "SELECT x FROM c")


def cancel_while_running(conn, sql):
    """Run sql on conn in a thread, cancel it half a second in; returns the exception it raised."""
    err = []

    def run():
        try:
            conn.cursor().execute(sql)
        except Exception as e:  # noqa: BLE001 - the caller inspects it
            err.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    conn.cancel()
    t.join(30)
    assert not t.is_alive(), "the cancelled statement is still running"
    assert err, "the statement was not cancelled"
    return err[0]


def test_cancel_a_running_write(server):
    """A write runs on the writer thread; a cancel request interrupts it there, and nothing of it stays."""
    conn = connect(server)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS cancelled_w(x INTEGER)")
    err = cancel_while_running(conn, f"INSERT INTO cancelled_w {SLOW_ROWS}")
    assert isinstance(err, psycopg2.errors.QueryCanceled), err
    assert "canceling statement due to user request" in str(err)
    cur.execute("SELECT count(*) FROM cancelled_w")
    assert cur.fetchone() == (0,)
    # The writer goes on: this connection's next write and another client's both commit.
    cur.execute("INSERT INTO cancelled_w VALUES (1)")
    other = connect(server)
    other.autocommit = True
    other.cursor().execute("INSERT INTO cancelled_w VALUES (2)")
    cur.execute("SELECT sum(x) FROM cancelled_w")
    assert cur.fetchone() == (3,)
    other.close()

    # Inside a transaction, PostgreSQL's rule: the transaction is aborted until ROLLBACK.
    conn.autocommit = False
    cur.execute("INSERT INTO cancelled_w VALUES (10)")
    err = cancel_while_running(conn, f"INSERT INTO cancelled_w {SLOW_ROWS}")
    assert isinstance(err, psycopg2.errors.QueryCanceled), err
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
        cur.execute("SELECT 1")
    conn.rollback()
    cur.execute("SELECT sum(x) FROM cancelled_w")
    assert cur.fetchone() == (3,)
    conn.rollback()
    conn.close()


def test_cancel_a_running_read(server):
    conn = connect(server)
    conn.autocommit = True
    t0 = time.monotonic()
    err = cancel_while_running(conn, f"SELECT count(*) FROM ({SLOW_ROWS})")
    assert isinstance(err, psycopg2.errors.QueryCanceled), err
    assert "canceling statement due to user request" in str(err)
    assert time.monotonic() - t0 < 5.5
    # The connection goes on; other clients were never interrupted.
    cur = conn.cursor()
    cur.execute("SELECT 40 + 2")
    assert cur.fetchone() == (42,)
    conn.close()
