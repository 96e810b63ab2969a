"""test_pg_psql.py - the PostgreSQL protocol as psql speaks it: one-liners, scripts, transactions, COPY, types, errors, SET/SHOW, authentication, pg_port, and the cache shared with the line protocol."""
import re
import subprocess

import pytest

from conftest import READ_OK, run_litecached, write_users_file
from pghelp import needs_psql, psql, sql

pytestmark = needs_psql


def test_one_liners_and_command_tags(server):
    assert sql(server, "SELECT 1 AS a, 'x' AS b, 2.5 AS c") == [["1", "x", "2.5"]]
    out = psql(server, "-c", "CREATE TABLE p1(id integer primary key, name text)",
               "-c", "INSERT INTO p1 VALUES (1, 'a'), (2, 'b')",
               "-c", "UPDATE p1 SET name = 'c' WHERE id = 2",
               "-c", "DELETE FROM p1 WHERE id = 1",
               "-c", "SELECT count(*) FROM p1").stdout
    assert "CREATE TABLE" in out and "INSERT 0 2" in out and "UPDATE 1" in out and "DELETE 1" in out
    assert re.search(r"count\s*\n-+\n\s*1\n\(1 row\)", out), out
    # A result with no rows still describes its columns.
    out = psql(server, "-c", "SELECT id, name FROM p1 WHERE id = 42").stdout
    assert re.search(r"id \| name", out) and "(0 rows)" in out
    # server_version is what libpq parses.
    assert sql(server, "SHOW server_version") == [["15.0"]]


def test_script_with_copy_and_on_error_stop(server, tmp_path):
    script = tmp_path / "s.sql"
    script.write_text(
        "CREATE TABLE p2(id integer primary key, v text, n real);\n"
        "-- a comment between statements\n"
        "BEGIN;\n"
        "INSERT INTO p2 VALUES (1, 'one', 1.5);\n"
        "COPY p2 (id, v, n) FROM STDIN;\n"
        "2\ttwo\t2.5\n"
        "3\t\\N\t\\N\n"
        "4\ttab\\there\t4\n"
        "\\.\n"
        "COMMIT;\n"
        "SELECT id, v, n FROM p2 ORDER BY id;\n")
    out = psql(server, "-At", "-P", "null=NULL", "-f", script).stdout
    assert "COPY 3" in out
    assert out.strip().splitlines()[-4:] == ["1|one|1.5", "2|two|2.5", "3|NULL|NULL", "4|tab\there|4"]
    # ON_ERROR_STOP: the script stops at the first error, psql exits 3, nothing after it ran.
    bad = tmp_path / "bad.sql"
    bad.write_text("INSERT INTO p2 VALUES (10, 'x', 0);\nSELECT nosuchcolumn FROM p2;\n"
                   "INSERT INTO p2 VALUES (11, 'y', 0);\n")
    r = psql(server, "-f", bad, check=False)
    assert r.returncode == 3 and "nosuchcolumn" in r.stderr
    assert sql(server, "SELECT id FROM p2 WHERE id >= 10") == [["10"]]


def test_transaction_rolled_back_and_failed_transaction(server):
    psql(server, "-c", "CREATE TABLE p3(id integer primary key)")
    psql(server, "-c", "BEGIN", "-c", "INSERT INTO p3 VALUES (1)", "-c", "SELECT count(*) FROM p3",
         "-c", "ROLLBACK")
    assert sql(server, "SELECT count(*) FROM p3") == [["0"]]
    # After an error the transaction only ends: 25P02, and COMMIT answers ROLLBACK.
    r = psql(server, "-v", "ON_ERROR_STOP=0", "-c", "BEGIN", "-c", "INSERT INTO p3 VALUES (1)",
             "-c", "INSERT INTO p3 VALUES (1)", "-c", "SELECT 1", "-c", "COMMIT", check=False)
    assert "UNIQUE constraint failed" in r.stderr
    assert "current transaction is aborted" in r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ROLLBACK"
    assert sql(server, "SELECT count(*) FROM p3") == [["0"]]
    # Several statements in one Query are one implicit transaction: all or nothing.
    r = psql(server, "-c", "INSERT INTO p3 VALUES (5); INSERT INTO p3 VALUES (5)", check=False)
    assert r.returncode != 0 and "UNIQUE" in r.stderr
    assert sql(server, "SELECT count(*) FROM p3") == [["0"]]
    out = psql(server, "-c", "INSERT INTO p3 VALUES (6); INSERT INTO p3 VALUES (7); SELECT count(*) FROM p3").stdout
    assert re.search(r"\b2\n\(1 row\)", out), out


def test_null_unicode_bytea_round_trips(server):
    psql(server, "-c", "CREATE TABLE p4(id integer primary key, t text, b bytea, f float8, ok boolean)")
    psql(server, "-c", "INSERT INTO p4 VALUES (1, 'ünïcødé ✓ 日本', '\\xdeadbeef00'::bytea, -0.25, true), "
                       "(2, NULL, NULL, NULL, false), (3, '', ''::bytea, 1e300, NULL)")
    rows = sql(server, "SELECT id, t, b, f, ok FROM p4 ORDER BY id")
    assert rows == [["1", "ünïcødé ✓ 日本", "\\xdeadbeef00", "-0.25", "t"],
                    ["2", "NULL", "NULL", "NULL", "f"],
                    ["3", "", "\\x", "1e+300", "NULL"]]
    assert sql(server, "SELECT length(t) FROM p4 WHERE id = 1") == [["12"]]


def test_timing_and_error_position(server):
    out = psql(server, "-c", "\\timing on", "-c", "SELECT 42").stdout
    assert "42" in out and re.search(r"Time: \d+\.\d+ ms", out)
    psql(server, "-c", "CREATE TABLE IF NOT EXISTS p4t(id integer primary key)")
    r = psql(server, "-c", "SELECT id, nosuchcol FROM p4t", check=False)
    assert "no such column: nosuchcol" in r.stderr
    # The position maps back to the statement as written: psql draws its caret under it.
    assert "LINE 1: SELECT id, nosuchcol FROM p4t" in r.stderr and re.search(r"\n\s+\^", r.stderr)


def test_bind(server):
    ver = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout
    major = int(re.search(r"(\d+)", ver.split()[-1]).group(1))
    if major < 16:
        pytest.skip(f"\\bind arrived in psql 16 ({ver.strip()}); parameters are tested with psycopg2 and node-postgres")
    assert sql(server, "SELECT $1::int + 1 AS x \\bind 41 \\g") == [["42"]]


def test_set_show_reset(server):
    out = psql(server, "-At", "-c", "SET application_name = 'psql-test'", "-c", "SHOW application_name",
               "-c", "SET my.custom = 'v1'", "-c", "SHOW my.custom", "-c", "RESET application_name",
               "-c", "SHOW application_name", "-c", "SHOW DateStyle", "-c", "SHOW client_encoding").stdout
    assert out.splitlines() == ["SET", "psql-test", "SET", "v1", "RESET", "psql", "ISO, MDY", "UTF8"]
    r = psql(server, "-c", "SHOW no_such_parameter", check=False)
    assert 'unrecognized configuration parameter "no_such_parameter"' in r.stderr


def test_ssl_refused_then_clear_text(server):
    # sslmode=prefer (the default) asks for SSL, gets 'N', and goes on in the clear on the same socket.
    assert sql(server, "SELECT 7", env={"PGSSLMODE": "prefer"}) == [["7"]]
    r = psql(server, "-c", "SELECT 1", env={"PGSSLMODE": "require"}, check=False)
    assert r.returncode != 0 and "SSL" in r.stderr
    assert sql(server, "SELECT 8", env={"PGGSSENCMODE": "prefer"}) == [["8"]]


def test_named_query_call_shares_the_line_protocols_cache_entry(server):
    # Line misses store the PostgreSQL encoding once a PostgreSQL client has connected (whatever
    # ran before in this module): this one makes sure of it.
    assert sql(server, "SELECT 1") == [["1"]]
    with server.client() as c:
        uid = c.create_user("callme@example.com", full_name="Call Me")
        data, status = c.request(f"CALL getUserById {uid}")
        assert READ_OK.match(status) and "cache=miss" in status
        before = c.stats()
    rows = sql(server, f"CALL getUserById({uid})")
    assert len(rows) == 1 and rows[0][1] == "callme@example.com" and rows[0][3] == "Call Me"
    with server.client() as c:
        after = c.stats()
    assert after["cache_hits"] - before["cache_hits"] == 1
    # A PostgreSQL fill serves the line protocol: one run fills both encodings.
    rows = sql(server, f"SELECT id, full_name FROM users WHERE id = {uid}")
    assert rows == [[str(uid), "Call Me"]]
    with server.client() as c:
        data, status = c.request(f"SELECT id, full_name FROM users WHERE id = {uid}")
        assert data == ["#id\tfull_name", f"={uid}\tCall Me"] and "cache=hit" in status
    r = psql(server, "-c", "CALL noSuchQuery(1)", check=False)
    assert "unknown named query" in r.stderr


def test_line_fill_before_any_postgresql_client_is_not_encoded_for_it(server_factory):
    srv = server_factory()
    with srv.client() as c:
        uid = c.create_user("early@example.com", full_name="Early Bird")
        data, status = c.request(f"SELECT id, full_name FROM users WHERE id = {uid}")
        assert "cache=miss" in status
        before = c.stats()
    # No PostgreSQL client had connected when the line client filled the entry: psql's first read
    # of it is a miss (its fill then stores the PostgreSQL encoding in the same entry)...
    assert sql(srv, f"SELECT id, full_name FROM users WHERE id = {uid}") == [[str(uid), "Early Bird"]]
    with srv.client() as c:
        mid = c.stats()
        assert mid["cache_hits"] - before["cache_hits"] == 0 and mid["cache_misses"] - before["cache_misses"] == 1
        # ... and now that one has connected, a line miss is a hit for psql at once.
        data, status = c.request(f"SELECT id, email FROM users WHERE id = {uid}")
        assert "cache=miss" in status
        mid = c.stats()
    assert sql(srv, f"SELECT id, email FROM users WHERE id = {uid}") == [[str(uid), "early@example.com"]]
    assert sql(srv, f"SELECT id, full_name FROM users WHERE id = {uid}") == [[str(uid), "Early Bird"]]
    with srv.client() as c:
        after = c.stats()
        data, status = c.request(f"SELECT id, full_name FROM users WHERE id = {uid}")
        assert data == ["#id\tfull_name", f"={uid}\tEarly Bird"] and "cache=hit" in status
    assert after["cache_hits"] - mid["cache_hits"] == 2 and after["cache_misses"] == mid["cache_misses"]



def test_postgresql_fill_before_any_line_read_is_not_encoded_for_it(server_factory):
    srv = server_factory()
    with srv.client() as c:
        uid = c.create_user("pgfirst@example.com", full_name="Pg First")
        before = c.stats()
    # No line client had read through the cache when psql filled the entry: the line client's first
    # read of it is a miss (its fill then stores the TSV encoding in the same entry)...
    assert sql(srv, f"SELECT id, full_name FROM users WHERE id = {uid}") == [[str(uid), "Pg First"]]
    with srv.client() as c:
        data, status = c.request(f"SELECT id, full_name FROM users WHERE id = {uid}")
        assert data == ["#id\tfull_name", f"={uid}\tPg First"] and "cache=miss" in status
        mid = c.stats()
    assert mid["cache_hits"] - before["cache_hits"] == 0 and mid["cache_misses"] - before["cache_misses"] == 2
    # ... and now that one has read, a PostgreSQL miss is a hit for the line protocol at once.
    assert sql(srv, f"SELECT id, email FROM users WHERE id = {uid}") == [[str(uid), "pgfirst@example.com"]]
    with srv.client() as c:
        data, status = c.request(f"SELECT id, email FROM users WHERE id = {uid}")
        assert data == ["#id\temail", f"={uid}\tpgfirst@example.com"] and "cache=hit" in status
        data, status = c.request(f"SELECT id, full_name FROM users WHERE id = {uid}")
        assert data == ["#id\tfull_name", f"={uid}\tPg First"] and "cache=hit" in status
        after = c.stats()
    assert after["cache_hits"] - mid["cache_hits"] == 2 and after["cache_misses"] - mid["cache_misses"] == 1

def test_line_protocol_still_served(server):
    with server.client() as c:
        c.assert_usable()


def make_users_file(tmp_path):
    return write_users_file(tmp_path / "users", (("alice", "admin", "secret1"), ("bob", "readonly", "pässword")))


@pytest.mark.parametrize("method", ["scram-sha-256", "password"])
def test_authentication(server_factory, tmp_path, method):
    users = make_users_file(tmp_path)
    srv = server_factory("--auth", method, "--users_file", users)
    assert sql(srv, "SELECT current_user", user="alice", env={"PGPASSWORD": "secret1"}) == [["alice"]]
    assert sql(srv, "SHOW is_superuser", user="alice", env={"PGPASSWORD": "secret1"}) == [["on"]]
    assert sql(srv, "SHOW is_superuser", user="bob", env={"PGPASSWORD": "pässword"}) == [["off"]]
    for user, pw in (("alice", "wrong"), ("nobody", "secret1")):
        r = psql(srv, "-c", "SELECT 1", user=user, env={"PGPASSWORD": pw}, check=False)
        assert r.returncode != 0
        assert f'password authentication failed for user "{user}"' in r.stderr


def test_bad_users_file_stops_the_start(tmp_path):
    bad = tmp_path / "users"
    bad.write_text("carol superuser SCRAM-SHA-256$4096:abc$def:ghi\n")
    r = run_litecached("--check-config", "--users_file", bad)
    assert r.returncode == 2 and "users:1" in r.stderr and "role" in r.stderr
    r = run_litecached("--check-config", "--auth", "scram-sha-256")
    assert r.returncode == 2 and "users_file" in r.stderr


def test_pg_port(server_factory):
    from conftest import free_port
    port = free_port()
    srv = server_factory("--pg_port", port)
    assert sql(srv, "SELECT 'on pg_port'", port=port) == [["on pg_port"]]
    assert sql(srv, "SELECT 'on the main port'") == [["on the main port"]]
    with srv.client() as c:
        c.assert_usable()
