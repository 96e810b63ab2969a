"""test_transactions.py - BEGIN/COMMIT/ROLLBACK: atomicity, isolation, failures, savepoints, clients leaving."""
import os
import socket
import sqlite3
import struct
import threading
import time

import pytest

from conftest import WRITE_OK, has_data

SERVER_ARGS = ["--idle_in_transaction_timeout", "2"]


def uniq(prefix):
    return f"{prefix}-{os.urandom(4).hex()}@example.com"


def insert(email):
    return f"INSERT INTO users (email, password_hash) VALUES ('{email}', 'h')"


def n_users(c, *emails):
    return c.count("users WHERE email IN (%s)" % ", ".join(f"'{e}'" for e in emails))


def test_commit_applies(server):
    with server.client() as a, server.client() as b:
        e1, e2 = uniq("c1"), uniq("c2")
        assert a.request("BEGIN") == ([], "+OK BEGIN")
        a.write(insert(e1))
        a.write(f'CALL createUser "{e2}" "h" null null')
        assert n_users(a, e1, e2) == 2               # a sees its own writes
        assert n_users(b, e1, e2) == 0               # nobody else does yet
        assert a.request("COMMIT") == ([], "+OK COMMIT")
        assert n_users(b, e1, e2) == 2


def test_rollback_discards(client):
    e1 = uniq("r1")
    users, stats = client.count("users"), client.rows("SELECT * FROM global_stats")
    assert client.request("BEGIN")[1] == "+OK BEGIN"
    client.write(insert(e1))
    assert client.count("users") == users + 1
    assert client.request("ROLLBACK") == ([], "+OK ROLLBACK")
    assert client.count("users") == users
    assert client.rows("SELECT * FROM global_stats") == stats


@pytest.mark.parametrize("begin,end,word", [
    ("START TRANSACTION", "END", "COMMIT"),
    ("begin transaction", "commit transaction", "COMMIT"),
    ("BEGIN IMMEDIATE", "ABORT", "ROLLBACK"),
    ("Begin", "rollback", "ROLLBACK"),
    ("BEGIN IMMEDIATE", "END TRANSACTION", "COMMIT"),
    ("begin exclusive transaction ;", "commit work;", "COMMIT"),
    ("BEGIN DEFERRED", "ROLLBACK TRANSACTION ;;", "ROLLBACK"),
    ("\tBEGIN TRANSACTION\t", "  ABORT WORK  ", "ROLLBACK"),
])
def test_spellings(client, begin, end, word):
    e = uniq("sp")
    assert client.request(begin) == ([], "+OK BEGIN")
    client.write(insert(e))
    assert client.request(end) == ([], f"+OK {word}")
    assert n_users(client, e) == (1 if word == "COMMIT" else 0)


def test_trailing_semicolon(client):
    """A trailing ; is optional on every line, transaction control included."""
    e = uniq("semi")
    assert client.request("BEGIN;") == ([], "+OK BEGIN")
    client.write(insert(e))
    assert client.request("ROLLBACK;") == ([], "+OK ROLLBACK")
    assert n_users(client, e) == 0
    assert client.request("begin ;") == ([], "+OK BEGIN")
    assert client.request("COMMIT;") == ([], "+OK COMMIT")


@pytest.mark.parametrize("line", [
    "BEGIN nonsense words",
    "BEGIN; INSERT INTO users (email, password_hash) VALUES ('x', 'h')",
    "BEGIN IMMEDIATE TRANSACTION extra",
    "START TRANSACTION now",
])
def test_begin_with_more_on_the_line_is_refused(client, line):
    """Transaction control runs the word, not the line: anything after it would be dropped."""
    users = client.count("users")
    client.error(line, "42601")
    client.error("COMMIT", "25P01")                  # no transaction was opened
    assert client.count("users") == users


@pytest.mark.parametrize("end", ["COMMIT", "END", "ROLLBACK", "ABORT"])
def test_commit_with_more_on_the_line_is_refused(client, end):
    e, other = uniq("tail"), uniq("tail2")
    assert client.request("BEGIN") == ([], "+OK BEGIN")
    client.write(insert(e))
    client.error(f"{end}; {insert(other)}", "42601")
    client.error(f"{end} now please", "42601")
    assert n_users(client, e) == 1                   # still inside the transaction
    assert client.request("ROLLBACK") == ([], "+OK ROLLBACK")
    assert n_users(client, e, other) == 0


def test_state_errors(client):
    assert "no transaction" in client.error("COMMIT", "25P01")
    client.error("ROLLBACK", "25P01")
    client.request("BEGIN")
    assert "already" in client.error("BEGIN", "25001")
    assert client.request("COMMIT") == ([], "+OK COMMIT")   # the failed BEGIN did not spoil it
    client.assert_usable()


def test_failed_statement_aborts_the_transaction(client):
    taken = uniq("taken")
    client.create_user(taken)
    e1, e2 = uniq("f1"), uniq("f2")
    client.request("BEGIN")
    client.write(insert(e1))
    client.error(insert(taken), "23505")
    assert "aborted" in client.error(insert(e2), "25P02")
    client.error("SELECT 1", "25P02")
    client.error(f"CALL getUserByEmail {e1}", "25P02")
    client.ping()                                             # commands that touch no data still work
    assert client.request("COMMIT") == ([], "+OK ROLLBACK")  # COMMIT of a failed transaction rolls back
    assert n_users(client, e1, e2) == 0
    client.assert_usable()


def test_other_writers_wait_for_the_open_transaction(server):
    with server.client() as a, server.client() as b:
        ea, eb = uniq("wa"), uniq("wb")
        a.request("BEGIN")
        a.write(insert(ea))
        b.send(insert(eb))
        # Reads are not blocked: they see the last commit.
        with server.client() as r:
            assert n_users(r, ea, eb) == 0
        a.ping()
        assert a.scalar("SELECT 1") == "1"
        assert not has_data(b.sock), "another client's write ran inside an open transaction"
        assert a.request("COMMIT")[1] == "+OK COMMIT"
        assert WRITE_OK.match(b.read_response()[1])
        assert n_users(b, ea, eb) == 2


def test_savepoints(client):
    e1, e2, e3 = uniq("s1"), uniq("s2"), uniq("s3")
    client.request("BEGIN")
    client.write(insert(e1))
    assert client.request("SAVEPOINT a")[1].startswith("+OK")
    client.write(insert(e2))
    assert client.request("ROLLBACK TO a")[1].startswith("+OK")
    client.write(insert(e3))
    assert client.request("RELEASE a")[1].startswith("+OK")
    assert client.request("COMMIT")[1] == "+OK COMMIT"
    assert [n_users(client, e) for e in (e1, e2, e3)] == [1, 0, 1]
    client.error("SAVEPOINT outside", "25P01")
    # A savepoint that does not exist is PostgreSQL's 3B001 (it was 42000), and fails the transaction.
    client.request("BEGIN")
    client.error("ROLLBACK TO nope", "3B001")
    client.error("SELECT 1", "25P02")
    assert client.request("ROLLBACK")[1] == "+OK ROLLBACK"
    client.request("BEGIN")
    client.error("RELEASE SAVEPOINT nope", "3B001")
    assert client.request("ROLLBACK")[1] == "+OK ROLLBACK"


def unique_table(c):
    """A fresh table t(id, v UNIQUE) holding 'dupkey'; returns its name and a reader of its v column."""
    t = f"spf_{os.urandom(4).hex()}"
    c.write(f"CREATE TABLE {t}(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    c.write(f"INSERT INTO {t}(v) VALUES ('dupkey')")
    return t, lambda: sorted(r[0] for r in c.rows(f"SELECT v FROM {t}"))


# INSERT fails one statement; INSERT OR ROLLBACK has SQLite end the whole transaction itself, after
# which a SAVEPOINT would open a new one, and COMMIT keep what came after the end but not before it.
FAILURES = [("INSERT", "3B001"), ("INSERT OR ROLLBACK", "25P02")]


@pytest.mark.parametrize("verb,rollback_to", FAILURES)
def test_savepoint_after_a_failure(client, verb, rollback_to):
    """PostgreSQL: after a failure only the end, or ROLLBACK TO a savepoint set before it."""
    t, values = unique_table(client)
    assert client.request("BEGIN") == ([], "+OK BEGIN")
    client.write(f"INSERT INTO {t}(v) VALUES ('keep1')")
    client.error(f"{verb} INTO {t}(v) VALUES ('dupkey')", "23505")
    client.error("SAVEPOINT s", "25P02")
    client.error("RELEASE s", "25P02")
    client.error("ROLLBACK TO s", rollback_to)      # s was never made: still aborted
    client.error(f"INSERT INTO {t}(v) VALUES ('after1')", "25P02")
    assert client.request("COMMIT") == ([], "+OK ROLLBACK")
    assert values() == ["dupkey"]
    client.assert_usable()


@pytest.mark.parametrize("verb,rollback_to", FAILURES)
def test_rollback_to_a_savepoint_from_before_the_failure(client, verb, rollback_to):
    """It recovers a failed transaction; one that SQLite has ended is gone, savepoints and all."""
    t, values = unique_table(client)
    assert client.request("BEGIN") == ([], "+OK BEGIN")
    client.write(f"INSERT INTO {t}(v) VALUES ('keep')")
    assert client.request("SAVEPOINT before")[1].startswith("+OK")
    client.write(f"INSERT INTO {t}(v) VALUES ('dropped')")
    client.error(f"{verb} INTO {t}(v) VALUES ('dupkey')", "23505")
    client.error("SAVEPOINT later", "25P02")
    if rollback_to == "25P02":
        client.error("ROLLBACK TO before", "25P02")
        client.error(f"INSERT INTO {t}(v) VALUES ('after')", "25P02")
        assert client.request("COMMIT") == ([], "+OK ROLLBACK")
        assert values() == ["dupkey"]
    else:
        assert client.request("ROLLBACK TO before")[1].startswith("+OK")
        client.write(f"INSERT INTO {t}(v) VALUES ('after')")
        assert client.request("COMMIT") == ([], "+OK COMMIT")
        assert values() == ["after", "dupkey", "keep"]


def test_rollback_to_with_leading_blanks_recovers(client):
    """The writer takes ROLLBACK TO from the same word test that recognised the line."""
    t, values = unique_table(client)
    assert client.request("BEGIN") == ([], "+OK BEGIN")
    assert client.request("SAVEPOINT s")[1].startswith("+OK")
    client.error(f"INSERT INTO {t}(v) VALUES ('dupkey')", "23505")
    assert client.request(" \tROLLBACK TO s")[1].startswith("+OK")
    client.write(f"INSERT INTO {t}(v) VALUES ('after')")
    assert client.request("COMMIT") == ([], "+OK COMMIT")
    assert values() == ["after", "dupkey"]


def test_deferred_foreign_key_commit_error(client):
    """A COMMIT that fails reports SQLite's error, not what the ROLLBACK after it left behind."""
    sfx = os.urandom(4).hex()
    p, ch = f"fkp_{sfx}", f"fkc_{sfx}"
    client.write(f"CREATE TABLE {p}(id INTEGER PRIMARY KEY)")
    client.write(f"CREATE TABLE {ch}(id INTEGER PRIMARY KEY, "
                 f"pid INTEGER REFERENCES {p}(id) DEFERRABLE INITIALLY DEFERRED)")
    assert client.request("BEGIN") == ([], "+OK BEGIN")
    client.write(f"INSERT INTO {ch}(pid) VALUES (998)")   # deferred: checked at COMMIT
    assert "FOREIGN KEY constraint failed" in client.error("COMMIT", "23503")
    client.error("COMMIT", "25P01")                       # the transaction is over
    # A plain write commits in a group: the same check, the same message.
    assert "FOREIGN KEY constraint failed" in client.error(f"INSERT INTO {ch}(pid) VALUES (999)", "23503")
    assert client.count(ch) == 0
    client.assert_usable()


def test_locked_database_fails_queued_writes_at_once(server_factory):
    """Another process holds the write lock: every queued write gets 40001 after about one
    busy_timeout, not one busy_timeout after the other."""
    busy_ms, n = 500, 6
    srv = server_factory("--busy_timeout_ms", str(busy_ms))
    t = f"busy_{os.urandom(4).hex()}"
    clients = [srv.client(timeout=30) for _ in range(n)]
    try:
        clients[0].write(f"CREATE TABLE {t}(id INTEGER PRIMARY KEY, v TEXT)")
        holder = sqlite3.connect(srv.db_path, timeout=10, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            results = [None] * n

            def one(i):
                t0 = time.monotonic()
                data, status = clients[i].request(f"INSERT INTO {t}(v) VALUES ('w{i}')")
                results[i] = (status, time.monotonic() - t0)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
            statuses = [r and r[0] for r in results]
            assert all(s and s.startswith("-ERR 40001 ") for s in statuses), statuses
            slowest = max(r[1] for r in results)
            assert slowest < 4 * busy_ms / 1000, f"the last write waited {slowest:.2f}s (busy_timeout {busy_ms} ms)"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        clients[0].write(f"INSERT INTO {t}(v) VALUES ('after')")
        assert clients[1].count(t) == 1
    finally:
        for c in clients:
            c.close()


def test_batch_inside_a_transaction(client):
    e1, e2 = uniq("bt1"), uniq("bt2")
    client.request("BEGIN")
    client.send("BATCH 2", insert(e1), f"SELECT count(*) FROM users WHERE email = '{e1}'")
    assert WRITE_OK.match(client.read_response()[1])
    assert client.read_response()[0][1] == "=1"
    assert client.read_response() == ([], "+OK batch 2")
    client.write(insert(e2))
    assert client.request("ROLLBACK")[1] == "+OK ROLLBACK"
    assert n_users(client, e1, e2) == 0


def test_named_multi_statement_query_inside_a_transaction(client):
    e = uniq("named")
    client.request("BEGIN")
    client.write(f'CALL createUserWithPreferences "{e}" "h" "N" "dark" "en"')
    assert client.request("ROLLBACK")[1] == "+OK ROLLBACK"
    assert n_users(client, e) == 0
    assert client.count(f"user_preferences p JOIN users u ON u.id = p.user_id WHERE u.email = '{e}'") == 0


@pytest.mark.parametrize("how", ["close", "quit", "half-close"])
def test_client_leaving_rolls_back(server, how):
    e, other = uniq("gone"), uniq("after")
    with server.client() as watcher:
        c = server.client()
        c.request("BEGIN")
        c.write(insert(e))
        if how == "quit":
            assert c.request("QUIT") == ([], "+BYE")
        elif how == "half-close":
            c.sock.shutdown(socket.SHUT_WR)
            assert c.read_until_eof() == b""
        c.close()
        # The writer is free again at once (not after idle_in_transaction_timeout) ...
        watcher.write(insert(other))
        # ... and the transaction's write is gone.
        assert n_users(watcher, e) == 0
        assert n_users(watcher, other) == 1


def test_client_reset_while_its_begin_is_queued(server_factory):
    """A client that resets its connection while its BEGIN still waits for the writer: the BEGIN
    runs later for nobody, so the close must queue a rollback behind it, or every write stalls
    for idle_in_transaction_timeout."""
    srv = server_factory("--idle_in_transaction_timeout", "30")
    with srv.client() as holder, srv.client(timeout=30) as other:
        e = uniq("queued")
        holder.request("BEGIN")                      # holds the writer
        holder.write(insert(uniq("hold")))
        a = socket.create_connection(("127.0.0.1", srv.port))
        a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.sendall(b"BEGIN\n")                       # queued behind holder's transaction
        time.sleep(0.3)
        a.close()                                    # RST while the BEGIN is in flight
        time.sleep(0.2)
        assert holder.request("COMMIT")[1] == "+OK COMMIT"
        t = time.monotonic()
        other.write(insert(e))
        assert time.monotonic() - t < 5, "a write waited for a reset client's queued BEGIN"
        assert n_users(other, e) == 1
        other.assert_usable()


def test_idle_transaction_times_out(server):
    with server.client() as a, server.client(timeout=20) as b:
        ea, eb = uniq("idle-a"), uniq("idle-b")
        a.request("BEGIN")
        a.write(insert(ea))
        # b's write waits for a's transaction, which is rolled back after 2 idle seconds.
        b.write(insert(eb))
        assert a.error("SELECT 1", "25P03")
        assert n_users(b, ea, eb) == 1 and n_users(b, eb) == 1
        a.error("COMMIT", "25P01")
        a.assert_usable()


def test_sigterm_with_an_open_transaction(server_factory, tmp_path):
    db = tmp_path / "tx.db"
    srv = server_factory(db_path=db)
    c = srv.client()
    c.request("BEGIN")
    c.write(insert("open-at-shutdown@example.com"))
    assert srv.terminate() == 0, srv.stderr()
    c.close()
    srv2 = server_factory(db_path=db)
    with srv2.client() as c2:
        assert n_users(c2, "open-at-shutdown@example.com") == 0
