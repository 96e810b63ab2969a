"""test_auth.py - authentication and roles over both protocols: AUTH, 28000/28P01, the slowdown of a
failing address, each role's sandbox (every statement tried as every role), and the bind rule."""
import sqlite3
import time

import pytest

from conftest import Client, err_state, run_litecached, wait_until, write_users_file
from pghelp import needs_psql, psql, run_node

USERS = (("root", "admin", "rootpw"), ("app", "readwrite", "app pw with spaces"), ("viewer", "readonly", "v1ew"))
PASSWORDS = {u: pw for u, _, pw in USERS}
ROLES = {u: role for u, role, _ in USERS}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    return write_users_file(tmp_path_factory.mktemp("auth") / "users", USERS)


@pytest.fixture(scope="module")
def asrv(tmp_path_factory, users_file):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("authsrv"), ("--auth", "scram-sha-256", "--users_file", users_file))
    srv.start()
    # Every test starts from the same rows; tables a test creates are its own to drop.
    with login(srv, "root") as c:
        c.write("INSERT INTO users(id, email, password_hash, full_name) VALUES (1, 'a@x', 'h', 'A')")
    yield srv
    srv.stop()


def login(srv, user, source=None):
    c = Client(srv.port, source=source)
    data, status = c.request(f"AUTH {user} {PASSWORDS[user]}")
    assert (data, status) == ([], f"+OK authenticated as {user} role={ROLES[user]}")
    return c


# ---------------------------------------------------------------- before AUTH

@pytest.mark.parametrize("line", ["SELECT 1", "CALL getUserById 1", "STATS", "GET k", "SET k v", "BATCH 1",
                                  "BEGIN", "CACHE STATS", "PREPARE p AS SELECT 1", "FORMAT json",
                                  "INSERT INTO users(email, password_hash) VALUES ('x', 'y')"])
def test_only_ping_help_auth_quit_before_auth(asrv, line):
    with Client(asrv.port) as c:
        msg = c.error(line, "28000")
        assert "AUTH <user> <password>" in msg
        c.ping()
        data, status = c.request("HELP")
        assert status == "+OK" and any(d.startswith("=AUTH ") for d in data)
    with login(asrv, "viewer") as c:
        assert c.count("users") == 1  # nothing above changed anything


def test_auth_errors(asrv):
    with Client(asrv.port, source="127.0.0.5") as c:
        assert "usage" in c.error("AUTH", "42601")
        assert "usage" in c.error("AUTH viewer", "42601")
        # A wrong password and an unknown user look the same.
        assert c.error("AUTH viewer nope", "28P01") == 'password authentication failed for user "viewer"'
        assert c.error("AUTH ghost v1ew", "28P01") == 'password authentication failed for user "ghost"'
        c.error("SELECT 1", "28000")  # still not logged in
        data, status = c.request("AUTH viewer v1ew")
        assert status == "+OK authenticated as viewer role=readonly"
        # A failed AUTH later leaves the connection as it was.
        c.error("AUTH root wrong", "28P01")
        assert c.scalar("SELECT 6*7") == "42"
        c.error("DELETE FROM users", "42501")
        st = c.stats()
        assert st["auth_failed"] >= 3 and st["auth_ok"] >= 1 and st["cmd_auth"] >= 6


def test_auth_is_not_allowed_inside_batch(asrv):
    with login(asrv, "viewer") as c:
        c.send("BATCH 2", "AUTH root rootpw", "SELECT 1")
        first, second, status = c.read_response(), c.read_response(), c.read_response()
        assert err_state(first[1]) == "0A000" and err_state(second[1]) == "25P02" and err_state(status[1]) == "0A000"
        c.error("DELETE FROM users", "42501")  # still readonly


def test_password_with_spaces_and_reauth(asrv):
    with login(asrv, "app") as c:
        data, status = c.request("AUTH viewer v1ew")
        assert status == "+OK authenticated as viewer role=readonly"
        c.error("UPDATE users SET full_name = 'B' WHERE id = 1", "42501")


# ---------------------------------------------------------------- the sandbox, every role

OK, RO, ADM = "ok", "42501", "42501"
# (request, admin, readwrite, readonly): "ok" or the SQLSTATE expected; {u} is the user's name, so
# an insert that succeeds for one role does not collide with the next. Every refused request must
# leave the data as it was (checked after each).
MATRIX = [
    ("SELECT count(*) FROM users", OK, OK, OK),
    ("CALL getUserById 1", OK, OK, OK),
    ("PRAGMA table_info(users)", OK, OK, OK),
    ("PRAGMA index_list(users)", OK, OK, OK),
    ("PRAGMA foreign_key_list(posts)", OK, OK, OK),
    ("PRAGMA journal_mode", OK, OK, OK),
    ("SELECT * FROM pragma_table_info('users')", OK, OK, OK),
    ("EXPLAIN QUERY PLAN SELECT * FROM users WHERE id = 1", OK, OK, OK),
    ("PRAGMA database_list", OK, ADM, ADM),
    ("SELECT file FROM pragma_database_list", OK, ADM, ADM),
    ("PRAGMA compile_options", OK, ADM, ADM),
    ("PRAGMA user_version = 7", "42501", "42501", "42501"),  # the schema migrations count on it
    ("INSERT INTO users(email, password_hash) VALUES ('m-{u}@x', 'h')", OK, OK, RO),
    ("UPDATE users SET full_name = 'Z' WHERE id = 1", OK, OK, RO),
    ("DELETE FROM users WHERE id = 1", OK, OK, RO),
    ("CALL createUser \"c-{u}@x\" \"h\" \"C\" {{}}", OK, OK, RO),
    ("INSERT INTO users(email, password_hash) SELECT 'q-{u}@x', 'h' RETURNING id", OK, OK, RO),
    ("CREATE TABLE t_matrix(a)", OK, ADM, ADM),
    ("CREATE INDEX i_matrix ON users(full_name)", OK, ADM, ADM),
    ("CREATE VIEW v_matrix AS SELECT 1", OK, ADM, ADM),
    ("ALTER TABLE users ADD COLUMN extra_matrix TEXT", OK, ADM, ADM),
    ("DROP TABLE sessions", OK, ADM, ADM),
    ("CREATE TRIGGER tr_matrix AFTER INSERT ON items BEGIN SELECT 1; END", OK, ADM, ADM),
    ("ANALYZE", OK, ADM, ADM),
    # refused to everyone, admin included
    ("ATTACH DATABASE '/tmp/litecached-attack.db' AS evil", "42501", "42501", "42501"),
    ("DETACH DATABASE main", "42501", "42501", "42501"),
    ("CREATE TEMP TABLE t_temp(a)", "42501", "42501", "42501"),  # it would stay on a shared connection
    ("VACUUM", "42501", "42501", "42501"),
    ("VACUUM INTO '/tmp/litecached-attack.db'", "42501", "42501", "42501"),
    ("VACUUM main INTO '/tmp/litecached-attack.db'", "42501", "42501", "42501"),
    ("PRAGMA writable_schema = 1", "42501", "42501", "42501"),
    ("PRAGMA writable_schema", "42501", "42501", "42501"),
    ("PRAGMA journal_mode = DELETE", "42501", "42501", "42501"),
    ("PRAGMA foreign_keys = OFF", "42501", "42501", "42501"),
    ("PRAGMA query_only = 0", "42501", "42501", "42501"),
    ("SELECT load_extension('/tmp/evil.so')", "42501", "42501", "42501"),
    # commands
    ("SET mkey v", OK, OK, RO),
    ("GET mkey", OK, OK, OK),
    ("TTL mkey", OK, OK, OK),
    ("EXPIRE mkey 100", OK, OK, RO),
    ("DEL mkey", OK, OK, RO),
    ("CACHE STATS", OK, OK, OK),
    ("CACHE KEYS 3", OK, ADM, ADM),
    ("CACHE QUERY SELECT count(*) FROM entries", OK, ADM, ADM),
    ("CACHE FLUSH", OK, ADM, ADM),
    ("CACHE FLUSH users", OK, ADM, ADM),
    ("BACKUP matrix1", OK, ADM, ADM),
    ("REPLICA STATUS", OK, OK, OK),
    ("REPLICA CHECK", "55000", ADM, ADM),  # read_replica is off here: the admin hears so
    ("STATS", OK, OK, OK),
]


def snapshot(db_path):
    """Everything a refused request must not change: every table's rows and the schema."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        snap = {t: con.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
        snap["__schema__"] = con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        snap["__user_version__"] = con.execute("PRAGMA user_version").fetchall()
        return snap
    finally:
        con.close()


@pytest.mark.parametrize("line,adm,rw,ro", MATRIX, ids=[m[0][:40] for m in MATRIX])
def test_role_matrix(server_factory, users_file, tmp_path, line, adm, rw, ro):
    srv = server_factory("--auth", "scram-sha-256", "--users_file", users_file, "--backup_dir", tmp_path / "backups")
    with login(srv, "root") as c:
        c.write("INSERT INTO users(id, email, password_hash, full_name) VALUES (1, 'a@x', 'h', 'A')")
        c.request("SET mkey v")
    # The least privileged first: what a role may do, it does, and the next role finds it done.
    for user, want in (("viewer", ro), ("app", rw), ("root", adm)):
        before = snapshot(srv.db_path)
        with login(srv, user) as c:
            data, status = c.request(line.format(u=user))
            if want == OK:
                assert status.startswith("+"), f"{user}: {line!r} -> {status!r}"
            else:
                assert err_state(status) == want, f"{user}: {line!r} -> {status!r}"
                assert data == []
                assert snapshot(srv.db_path) == before, f"{user}: refused {line!r} changed the database"
            c.assert_usable()
        with login(srv, "viewer") as other:  # the server goes on serving everyone else
            assert other.scalar("SELECT 6*7") == "42"
    ok = sqlite3.connect(srv.db_path).execute("PRAGMA integrity_check").fetchall()
    assert ok == [("ok",)]


def test_readonly_transaction_and_batch(asrv):
    with login(asrv, "viewer") as c:
        assert c.request("BEGIN")[1].startswith("+OK")
        assert c.count("users") == 1
        c.error("INSERT INTO users(email, password_hash) VALUES ('t@x', 'h')", "42501")
        c.error("SELECT 1", "25P02")  # the transaction failed, as after any error
        assert c.request("ROLLBACK")[1].startswith("+OK")
        c.send("BATCH 2", "SELECT 1", "DELETE FROM users")
        r1 = c.read_response()
        r2 = c.read_response()
        status = c.read_response()
        assert r1[1].startswith("+OK") and err_state(r2[1]) == "42501"
        assert err_state(status[1]) == "42501" and "line 2" in status[1]
    with login(asrv, "viewer") as c:
        assert c.count("users") == 1


def test_admin_only_result_is_never_served_from_cache(asrv):
    with login(asrv, "root") as c:
        for _ in range(2):
            data, status = c.request("PRAGMA database_list")
            assert status.startswith("+OK 1 rows") and "cache=off" in status
    with login(asrv, "viewer") as c:
        c.error("PRAGMA database_list", "42501")


def test_reload_adds_a_user(server_factory, tmp_path):
    users = write_users_file(tmp_path / "users", USERS[:1])
    conf = tmp_path / "c.conf"
    conf.write_text(f"auth = password\nusers_file = {users}\n")
    srv = server_factory("-c", conf)
    with Client(srv.port) as c:
        c.error("AUTH viewer v1ew", "28P01")
    write_users_file(users, USERS)
    srv.proc.send_signal(1)  # SIGHUP
    time.sleep(0.3)
    with login(srv, "viewer") as c:
        assert c.scalar("SELECT 1") == "1"


def reload_and_wait(srv):
    """SIGHUP, then the log from this reload on, once it has been handled (applied or refused)."""
    before = len(srv.stderr())

    def log():
        return srv.stderr()[before:]
    srv.proc.send_signal(1)  # SIGHUP
    wait_until(lambda: "read again" in log() or "reload failed" in log(), what="the reload")
    return log()


def test_reload_to_trust_with_a_non_loopback_bind_running_is_refused(server_factory, tmp_path, users_file):
    conf = tmp_path / "c.conf"
    conf.write_text(f"bind = 0.0.0.0\nauth = scram-sha-256\nusers_file = {users_file}\n")
    srv = server_factory("-c", conf)
    # Valid as a file, but bind needs a restart: trust would go live on 0.0.0.0, where start-up refuses it.
    conf.write_text(f"bind = 127.0.0.1\nauth = trust\nusers_file = {users_file}\n")
    log = reload_and_wait(srv)
    with Client(srv.port) as c:
        c.error("SELECT 1", "28000")
    with login(srv, "viewer") as c:
        assert c.scalar("SELECT 1") == "1"
    assert "reload failed" in log and "with the running bind" in log and "bind = 0.0.0.0" in log, log
    assert "auth changed" not in log


def test_reload_to_scram_with_a_users_file_that_needs_a_restart_is_refused(server_factory, tmp_path, users_file):
    conf = tmp_path / "c.conf"
    conf.write_text("auth = trust\n")
    srv = server_factory("-c", conf)
    # The running users_file is none: scram live now would leave nobody able to log in.
    conf.write_text(f"auth = scram-sha-256\nusers_file = {users_file}\n")
    log = reload_and_wait(srv)
    with Client(srv.port) as c:
        assert c.scalar("SELECT 1") == "1"
    assert "reload failed" in log and "with the running users_file" in log, log


# ---------------------------------------------------------------- slowing down a failing address

def test_failing_address_is_slowed_down_others_are_not(server_factory, users_file):
    # Bounds leave room for a loaded machine: a held-back attempt waits 250 ms, 500 ms, 1 s, 2 s...;
    # one that is not held back takes a PBKDF2 (milliseconds).
    srv = server_factory("--auth", "scram-sha-256", "--users_file", users_file)
    with Client(srv.port, source="127.0.0.7") as bad:
        for _ in range(3):  # the first failures are answered at once
            bad.error("AUTH viewer wrong", "28P01")
        t = time.monotonic()
        for _ in range(3):  # then 250 + 500 + 1000 ms
            bad.error("AUTH viewer wrong", "28P01")
        assert time.monotonic() - t >= 1.7, "failures past the third should be held back"
        # Another address is not held back by this one's failures.
        t = time.monotonic()
        good = login(srv, "viewer", source="127.0.0.8")
        assert time.monotonic() - t < 1.0
        good.close()
        # Even the right password now waits its turn (2 s) from the failing address.
        t = time.monotonic()
        data, status = bad.request("AUTH viewer v1ew")
        assert status == "+OK authenticated as viewer role=readonly"
        assert time.monotonic() - t >= 1.5
        # A success forgets the address: two failures in a row are answered at once again.
        t = time.monotonic()
        bad.error("AUTH viewer wrong", "28P01")
        bad.error("AUTH viewer wrong", "28P01")
        assert time.monotonic() - t < 1.0
        st = bad.stats()
        assert st["auth_delayed"] >= 4 and st["auth_failed"] >= 8


# ---------------------------------------------------------------- the PostgreSQL protocol

@needs_psql
def test_pg_roles(asrv):
    env = {"PGPASSWORD": PASSWORDS["viewer"]}
    r = psql(asrv, "-At", "-c", "SELECT count(*) FROM users", user="viewer", env=env)
    assert r.stdout.strip() == "1"
    for stmt in ("DELETE FROM users", "CREATE TABLE t_pg(a int)", "PRAGMA database_list"):
        r = psql(asrv, "-c", stmt, user="viewer", env=env, check=False)
        assert r.returncode != 0 and "permission denied" in r.stderr, r.stderr
    env = {"PGPASSWORD": PASSWORDS["app"]}
    r = psql(asrv, "-c", "CREATE TABLE t_pg(a int)", user="app", env=env, check=False)
    assert r.returncode != 0 and "needs the admin role" in r.stderr
    r = psql(asrv, "-At", "-c", "UPDATE users SET full_name = 'A' WHERE id = 1", user="app", env=env)
    assert r.stdout.strip() == "UPDATE 1"
    env = {"PGPASSWORD": PASSWORDS["root"]}
    psql(asrv, "-c", "CREATE TABLE t_pg(a int)", "-c", "DROP TABLE t_pg", user="root", env=env)


def test_pg_readonly_through_psycopg2(asrv):
    psycopg2 = pytest.importorskip("psycopg2")
    import psycopg2.errors
    con = psycopg2.connect(host="127.0.0.1", port=asrv.port, user="viewer", password="v1ew", dbname="x")
    try:
        cur = con.cursor()  # psycopg2 opens a transaction (BEGIN) before the first statement
        cur.execute("SELECT count(*) FROM users")
        assert cur.fetchone() == (1,)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO users(email, password_hash) VALUES (%s, %s)", ("p@x", "h"))
        con.rollback()
    finally:
        con.close()


def test_pg_roles_through_node_postgres(asrv):
    r = run_node("node_pg_auth.js", asrv.port)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert r.stdout.split() == ["ok", "readonly", "ok", "readwrite", "ok", "wrong", "password"]


@needs_psql
def test_pg_trust_with_users_file(server_factory, users_file):
    srv = server_factory("--users_file", users_file)  # auth = trust: no password, but listed users only
    r = psql(srv, "-c", "SELECT 1", user="nobody", check=False)
    assert r.returncode != 0 and 'role "nobody" does not exist' in r.stderr
    r = psql(srv, "-c", "DELETE FROM users", user="viewer", check=False)
    assert r.returncode != 0 and "permission denied" in r.stderr
    r = psql(srv, "-At", "-c", "SHOW is_superuser", user="root")
    assert r.stdout.strip() == "on"
    # The line protocol under trust: admin without AUTH, and AUTH can take a smaller role.
    with srv.client() as c:
        assert c.scalar("SELECT 1") == "1"
        assert c.request("AUTH viewer v1ew")[1] == "+OK authenticated as viewer role=readonly"
        c.error("DELETE FROM users", "42501")


@needs_psql
def test_pg_failures_share_the_slowdown(server_factory, users_file):
    srv = server_factory("--auth", "scram-sha-256", "--users_file", users_file)
    for _ in range(4):
        r = psql(srv, "-c", "SELECT 1", user="viewer", env={"PGPASSWORD": "wrong"}, check=False)
        assert r.returncode != 0 and "password authentication failed" in r.stderr
    t = time.monotonic()
    with Client(srv.port) as c:  # same address (127.0.0.1), other protocol
        c.error("AUTH viewer wrong", "28P01")
    assert time.monotonic() - t >= 0.2
    with Client(srv.port, source="127.0.0.9") as c:
        assert c.request("AUTH root rootpw")[1] == "+OK authenticated as root role=admin"
        assert c.stats()["auth_delayed"] >= 1


# ---------------------------------------------------------------- who may listen where

def test_non_loopback_bind_needs_auth(tmp_path, users_file):
    r = run_litecached("--check-config", "--bind", "0.0.0.0")
    assert r.returncode == 2 and "bind = 0.0.0.0" in r.stderr and "auth = trust" in r.stderr
    r = run_litecached("--check-config", "--bind", "::")
    assert r.returncode == 2
    r = run_litecached("--check-config", "--bind", "0.0.0.0", "--auth", "scram-sha-256", "--users_file", users_file)
    assert r.returncode == 0, r.stderr
    r = run_litecached("--check-config", "--bind", "127.0.0.2")
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "c.conf"
    conf.write_text("bind = 10.1.2.3\n")
    r = run_litecached("--check-config", "-c", conf)
    assert r.returncode == 2 and "bind = 10.1.2.3" in r.stderr


def test_pg_auth_is_another_name_for_auth(users_file):
    r = run_litecached("--check-config", "--pg_auth", "scram-sha-256")
    assert r.returncode == 2 and "auth = scram-sha-256 needs users_file" in r.stderr
    r = run_litecached("--check-config", "--pg_auth", "password", "--users_file", users_file, "--bind", "0.0.0.0")
    assert r.returncode == 0, r.stderr
