"""test_cache.py - the result cache through the server: hits, exact invalidation, policy, TTL, caps, single flight.

The rule under test everywhere: after a write is acknowledged, no client ever reads the old value.
"""
import os
import random
import re
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import BIN, READ_OK, WRITE_OK

CACHE = re.compile(r" cache=(hit|miss|off)(?: age=(\d+))?")


def cache_state(status):
    m = CACHE.search(status)
    assert m, f"no cache= field in {status!r}"
    return m.group(1)


def read(c, sql):
    """(rows, cache state) of a read."""
    data, status = c.request(sql)
    assert READ_OK.match(status), f"{sql!r} -> {status!r}"
    return [line[1:].split("\t") for line in data if line.startswith("=")], cache_state(status)


def test_miss_then_hit_and_key_normalization(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.create_user("n@x", full_name="N")
        rows, st = read(c, "SELECT full_name FROM users WHERE id = 1")
        assert (rows, st) == ([["N"]], "miss")
        rows, st = read(c, "SELECT full_name FROM users WHERE id = 1")
        assert (rows, st) == ([["N"]], "hit")
        # Case of keywords and whitespace do not split keys; a trailing ; neither.
        assert read(c, "select   full_name\tfrom users where id=1;")[1] == "hit"
        # Different literals do.
        assert read(c, "SELECT full_name FROM users WHERE id = 2")[1] == "miss"
        # The same statement through CALL with different arguments: separate entries.
        assert read(c, "CALL getUserById 1")[1] == "miss"
        assert read(c, "CALL getUserById 1")[1] == "hit"
        assert read(c, "CALL getUserById 2")[1] == "miss"
        # Both formats are served, each from its own encoding.
        c.request("FORMAT json")
        data, status = c.request("SELECT full_name FROM users WHERE id = 1")
        assert data == ['#["full_name"]', '=["N"]'] and cache_state(status) == "miss"
        data, status = c.request("SELECT full_name FROM users WHERE id = 1")
        assert data == ['#["full_name"]', '=["N"]'] and cache_state(status) == "hit"


def test_hit_status_carries_age(server_factory):
    srv = server_factory()
    with srv.client() as c:
        read(c, "SELECT 1 + 1")
        data, status = c.request("SELECT 1 + 1")
        m = CACHE.search(status)
        assert m.group(1) == "hit" and m.group(2) is not None


def test_every_kind_of_write_invalidates(server_factory):
    srv = server_factory()
    with srv.client() as c, srv.client() as w:
        uid = c.create_user("inv@x", full_name="Before")
        q_user = f"SELECT full_name FROM users WHERE id = {uid}"
        q_posts = f"SELECT count(*) FROM posts WHERE user_id = {uid}"
        q_stats = f"SELECT post_count, total_views FROM user_stats WHERE user_id = {uid}"
        q_global = "SELECT users, posts FROM global_stats"
        for q in (q_user, q_posts, q_stats, q_global):
            read(c, q)
            assert read(c, q)[1] == "hit"

        # UPDATE through another connection.
        w.write(f"UPDATE users SET full_name = 'After' WHERE id = {uid}")
        assert read(c, q_user) == ([["After"]], "miss")
        # INSERT into posts: the trigger-maintained stats tables change too.
        w.write(f"INSERT INTO posts(user_id, title, views) VALUES ({uid}, 'p', 7)")
        assert read(c, q_posts)[0] == [["1"]]
        assert read(c, q_stats)[0] == [["1", "7"]]
        assert read(c, q_global)[0] == [["1", "1"]]
        for q in (q_posts, q_stats, q_global):
            assert read(c, q)[1] == "hit"
        # A named query that writes.
        w.write("CALL viewPost 1")
        assert read(c, q_stats)[0] == [["1", "8"]]
        # DELETE with ON DELETE CASCADE: posts and stats rows go with the user.
        read(c, q_posts)
        w.write(f"DELETE FROM users WHERE id = {uid}")
        assert read(c, q_user)[0] == []
        assert read(c, q_posts)[0] == [["0"]]
        assert read(c, q_stats)[0] == []
        assert read(c, q_global)[0] == [["0", "0"]]
        # A write in a BATCH and in a transaction.
        read(c, "SELECT count(*) FROM items")
        w.send("BATCH 2", "INSERT INTO items(title) VALUES ('a')", "INSERT INTO items(title) VALUES ('b')")
        for _ in range(3):
            w.read_response()
        assert read(c, "SELECT count(*) FROM items")[0] == [["2"]]
        w.request("BEGIN")
        w.write("INSERT INTO items(title) VALUES ('c')")
        # Not committed: the cached value is still right.
        assert read(c, "SELECT count(*) FROM items")[0] == [["2"]]
        w.request("COMMIT")
        assert read(c, "SELECT count(*) FROM items")[0] == [["3"]]
        # DDL changes everything.
        read(c, "SELECT count(*) FROM sessions")
        w.write("CREATE TABLE extra(x)")
        assert read(c, "SELECT count(*) FROM sessions")[1] == "miss"


def test_write_by_another_process_is_seen(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.create_user("ext@x", full_name="Old")
        q = "SELECT full_name FROM users WHERE email = 'ext@x'"
        read(c, q)
        assert read(c, q) == ([["Old"]], "hit")
        out = subprocess.run(["sqlite3", str(srv.db_path),
                              "PRAGMA busy_timeout=5000; UPDATE users SET full_name='New' WHERE email='ext@x';"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert read(c, q)[0] == [["New"]]
        assert c.stats()["cache_foreign_commits"] >= 1


def test_nondeterministic_reads_are_never_cached(server_factory):
    srv = server_factory()
    with srv.client() as c:
        for sql in ("SELECT random()", "SELECT datetime('now')", "SELECT randomblob(4)",
                    "SELECT changes()", "SELECT strftime('%s','now') FROM users", "SELECT 1 /*+ nocache */"):
            for _ in range(2):
                assert read(c, sql)[1] == "off", sql
        # A named query marked nocache.
        c.write("INSERT INTO users(id, email, password_hash) VALUES (1, 's@x', 'h')")
        c.write("CALL createSession 1 tok 3600")
        for _ in range(2):
            assert read(c, "CALL getSessionByToken tok")[1] == "off"


def test_ttl_expiry(server_factory):
    srv = server_factory("--cache_ttl", "1")
    with srv.client() as c:
        read(c, "SELECT 40 + 2")
        assert read(c, "SELECT 40 + 2")[1] == "hit"
        read(c, "SELECT 50 /*+ ttl=30 */")
        time.sleep(1.3)
        assert read(c, "SELECT 40 + 2")[1] == "miss"
        assert read(c, "SELECT 50 /*+ ttl=30 */")[1] == "hit"
        assert c.stats()["cache_expirations"] >= 1


def test_cache_mode_off_and_expensive(server_factory):
    srv = server_factory("--cache_mode", "off")
    with srv.client() as c:
        for _ in range(2):
            assert read(c, "SELECT 7")[1] == "off"
    srv2 = server_factory("--cache_mode", "expensive", "--cache_min_ms", "20")
    with srv2.client() as c:
        read(c, "SELECT 8")
        assert read(c, "SELECT 8")[1] == "miss"          # fast: not worth keeping
        # Well over 20 ms here (about 150 ms), and still seconds, not minutes, under ASan.
        slow = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000) "
                "SELECT count(*) FROM n")
        read(c, slow)
        assert read(c, slow)[1] == "hit"


def test_byte_caps_hold_under_a_flood(server_factory):
    hot, total = 256 * 1024, 1024 * 1024
    # (cache_demote_min_us = 0: these cheap reads must go down to tier 2 to flood it too)
    srv = server_factory("--cache_hot_bytes", str(hot), "--cache_max_bytes", str(total),
                         "--cache_shards", "4", "--cache_demote_min_us", "0")
    with srv.client() as c:
        n = 100_000
        batch = 2000
        for start in range(0, n, batch):
            # Every other query is read three times: once tier 1 is full, the second read stores it
            # (cache_admission = repeat) and the third hits it; tier 1 demotes only entries that
            # were read again.
            c.send_raw("".join(f"SELECT {i}, 'padding-{i:08d}'\n" * (1 + 2 * (i % 2)) for i in range(start, start + batch)))
            for _ in range(2 * batch):
                _, status = c.read_response()
                assert READ_OK.match(status)
        s = c.stats()
        # Tier 1 never passes its cap; tier 2 by at most one entry.
        assert s["cache_bytes_tier1"] <= hot, s
        assert s["cache_bytes_tier2"] <= total + 4096, s
        assert s["cache_evictions_tier1"] > 0 and s["cache_evictions_tier2"] > 0
        # Under AddressSanitizer freed memory waits in its quarantine (256 MiB by default) before
        # reuse, and 100,000 distinct statements free a lot of it: RSS then sits at 400-500 MiB on
        # this VM with or without the cache (measured on main too), so it gets that allowance.
        quarantine = 256 * 1024 if "asan" in os.path.basename(BIN) else 0
        assert srv.rss_kb() < 400 * 1024 + quarantine



def test_tier2_takes_only_results_dear_to_compute(server_factory):
    # Every miss stored (always), one shard of 64 KiB: a hundred-odd entries. The threshold is set
    # far above what a constant SELECT takes, even under AddressSanitizer.
    srv = server_factory("--cache_hot_bytes", str(64 * 1024), "--cache_shards", "1",
                         "--cache_admission", "always", "--cache_demote_min_us", "2000")
    slow = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000) "
            "SELECT count(*) FROM n")
    with srv.client() as c:
        assert read(c, slow) == ([["300000"]], "miss")
        assert read(c, slow) == ([["300000"]], "hit")
        for i in range(400):  # each stored and read again, then pushed out by the later ones
            assert read(c, f"SELECT {i}, 'padding-{i:08d}'")[1] == "miss"
            assert read(c, f"SELECT {i}, 'padding-{i:08d}'")[1] == "hit"
        s = c.stats()
        assert s["cache_evictions_tier1"] > 100, s
        # Of all the results evicted after a hit, only the one dear to compute went down to tier 2.
        assert s["cache_entries_tier2"] == 1, s
        data, status = c.request("CACHE QUERY SELECT sql FROM entries")
        assert READ_OK.match(status) and data[1:] == ["=" + slow], data
        assert read(c, slow) == ([["300000"]], "hit")
        assert c.stats()["cache_hits_tier2"] == s["cache_hits_tier2"] + 1

def _read_many(c, sqls):
    """Cache states of reads sent in one go (pipelined)."""
    c.send_raw("".join(q + "\n" for q in sqls))
    states = []
    for _ in sqls:
        _, status = c.read_response()
        assert READ_OK.match(status), status
        states.append(cache_state(status))
    return states


@pytest.mark.parametrize("admission", ["repeat", "always"])
def test_hot_set_survives_a_scan(server_factory, admission):
    """A scan of one-off reads through a full tier 1: with cache_admission = repeat (the default)
    it evicts nothing and the hot set keeps hitting; with always (plain LRU) it flushes the hot set."""
    srv = server_factory("--cache_hot_bytes", str(256 * 1024), "--cache_shards", "1",
                         "--cache_max_bytes", "0", "--cache_admission", admission)
    hot = [f"SELECT {i} AS hot, 'h-{i:04d}'" for i in range(50)]
    with srv.client() as c:
        assert _read_many(c, hot) == ["miss"] * 50
        assert _read_many(c, hot) == ["hit"] * 50
        for start in range(0, 6000, 1000):  # about four times what 256 KiB holds
            assert set(_read_many(c, [f"SELECT {i} AS scan, 'padding-{i:08d}'" for i in range(start, start + 1000)])) == {"miss"}
        s = c.stats()
        assert s["cache_bytes_tier1"] <= 256 * 1024, s
        if admission == "repeat":
            assert _read_many(c, hot) == ["hit"] * 50
            assert s["cache_admission_rejects"] > 0 and s["cache_evictions_tier1"] == 0, s
            # A scanned read that comes back is stored on its second miss, and hits on its third.
            again = "SELECT 5999 AS scan, 'padding-00005999'"
            assert _read_many(c, [again, again]) == ["miss", "hit"]
        else:
            assert _read_many(c, hot) == ["miss"] * 50
            assert s["cache_admission_rejects"] == 0 and s["cache_evictions_tier1"] > 0, s


def test_single_flight(server_factory):
    srv = server_factory()
    slow = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000) "
            "SELECT count(*) FROM n")
    clients = [srv.client() for _ in range(32)]
    try:
        before = clients[0].stats()
        go = threading.Barrier(32)
        results = [None] * 32

        def one(i):
            go.wait()
            results[i] = clients[i].request(slow)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = clients[0].stats()
    finally:
        for c in clients:
            c.close()
    assert all(r[0] == ["#count(*)", "=2000000"] for r in results)
    # The query ran once: one miss, everyone else was served its result.
    assert after["cache_misses"] - before["cache_misses"] == 1
    assert after["cache_hits"] - before["cache_hits"] == 31
    assert after["cache_singleflight_waits"] - before["cache_singleflight_waits"] >= 1


def test_cache_commands(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.create_user("cc@x")
        read(c, "SELECT email FROM users")
        read(c, "SELECT email FROM users")
        read(c, "SELECT count(*) FROM posts")
        data, status = c.request("CACHE KEYS 5")
        assert status == "+OK 2 rows" and data[0] == "#sql\thits\tage\tttl\tbytes\ttier"
        top = data[1][1:].split("\t")
        assert top[0] == "SELECT email FROM users" and top[1] == "1"
        data, status = c.request("CACHE QUERY SELECT count(*) FROM entries")
        assert READ_OK.match(status)
        data, status = c.request("CACHE QUERY DELETE FROM entries")
        assert status.startswith("-ERR 42501")
        assert c.request("CACHE FLUSH posts")[1] == "+OK 1 flushed"
        assert read(c, "SELECT email FROM users")[1] == "hit"
        assert read(c, "SELECT count(*) FROM posts")[1] == "miss"
        assert c.request("CACHE FLUSH")[1] == "+OK 2 flushed"
        assert read(c, "SELECT email FROM users")[1] == "miss"
        data, status = c.request("CACHE STATS")
        assert status == "+OK" and any(l.startswith("=cache_hit_ratio\t") for l in data)


def test_key_value_tier(server_factory):
    srv = server_factory()
    with srv.client() as a, srv.client() as b:
        assert a.request('SET sess:1 {"user":1,"tags":["a"]}') == ([], "+OK")
        assert b.request("GET sess:1") == (['={"user":1,"tags":["a"]}'], "+OK 1 rows")
        assert a.request('SET greeting "tab\\there" EX 100') == ([], "+OK")
        assert b.request("GET greeting") == (["=tab\\there"], "+OK 1 rows")
        data, _ = b.request("TTL greeting")
        assert 99 <= int(data[0][1:]) <= 100
        assert b.request("TTL sess:1") == (["=-1"], "+OK 1 rows")
        assert b.request("TTL nope") == (["=-2"], "+OK 1 rows")
        assert a.request("EXPIRE sess:1 1") == ([], "+OK 1 updated")
        assert a.request("EXPIRE nope 1") == ([], "+OK 0 updated")
        time.sleep(1.2)
        assert b.request("GET sess:1") == ([], "+OK 0 rows")
        assert a.request("SET n 42") == ([], "+OK")
        assert a.request("DEL n greeting missing") == ([], "+OK 2 deleted")
        assert b.request("GET n") == ([], "+OK 0 rows")
        assert a.request("SET")[1].startswith("-ERR 42601")
        assert a.request("SET k v EX nope")[1].startswith("-ERR 42601")


def test_no_stale_reads_randomized(server_factory):
    """A differential test against SQLite itself. Writers bump counters and record each
    acknowledged value; readers (mostly cache hits) check every answer against the database file
    read by SQLite in this process: never below what was acknowledged before the read was sent,
    never above what the file holds once the answer is in. Between phases every connection stops
    and each read must equal SQLite's answer exactly."""
    srv = server_factory()
    keys, phases, writers, readers = 8, 4, 3, 5
    writes_per_phase, reads_per_phase = 100, 500
    with srv.client() as c:
        c.write("CREATE TABLE ctr(k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        for k in range(keys):
            c.write(f"INSERT INTO ctr VALUES ({k}, 0)")
    acked = [0] * keys
    lock = threading.Lock()
    wrong = []
    ops = [0]
    quiet = threading.Barrier(writers + readers)    # every write of the phase is acknowledged
    resume = threading.Barrier(writers + readers)   # every reader has checked the quiet state
    queries = [(f"SELECT v FROM ctr WHERE k = {k}", lambda a, k=k: a[k]) for k in range(keys)]
    queries.append(("SELECT sum(v) FROM ctr", sum))

    def writer(seed):
        rnd = random.Random(seed)
        with srv.client() as c:
            for _ in range(phases):
                for _ in range(writes_per_phase):
                    k = rnd.randrange(keys)
                    data, status = c.request(f"UPDATE ctr SET v = v + 1 WHERE k = {k} RETURNING v")
                    assert WRITE_OK.match(status), status
                    with lock:
                        acked[k] = max(acked[k], int(data[1][1:]))
                        ops[0] += 1
                quiet.wait(timeout=120)
                resume.wait(timeout=120)

    def reader(seed):
        rnd = random.Random(seed)
        truth = sqlite3.connect(srv.db_path, timeout=30, isolation_level=None)
        try:
            with srv.client() as c:
                for _ in range(phases):
                    for _ in range(reads_per_phase):
                        sql, pick = queries[0] if rnd.random() < 0.2 else rnd.choice(queries)
                        with lock:
                            need = pick(acked)
                        got = int(read(c, sql)[0][0][0])
                        after = truth.execute(sql).fetchone()[0]
                        if not need <= got <= after:
                            wrong.append((sql, need, got, after))
                        with lock:
                            ops[0] += 1
                    quiet.wait(timeout=120)
                    for sql, _ in queries:
                        got = int(read(c, sql)[0][0][0])
                        if got != truth.execute(sql).fetchone()[0]:
                            wrong.append((sql, "quiet", got, truth.execute(sql).fetchone()[0]))
                    resume.wait(timeout=120)
        finally:
            truth.close()

    failed = []

    def guarded(fn, seed):
        """An exception in a thread would not fail the test: keep it, and let the others go on."""
        try:
            fn(seed)
        except Exception as e:  # reported below; the barriers are broken so the others stop
            failed.append(repr(e))
            quiet.abort()
            resume.abort()

    threads = [threading.Thread(target=guarded, args=(writer, i)) for i in range(writers)]
    threads += [threading.Thread(target=guarded, args=(reader, 100 + i)) for i in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    assert ops[0] >= 10_000
    assert not wrong, f"{len(wrong)} reads differ from SQLite's, e.g. {wrong[:5]}"
    with srv.client() as c:
        assert c.stats()["cache_hits"] > 1000, "the test should exercise cache hits"
        assert int(read(c, "SELECT sum(v) FROM ctr")[0][0][0]) == writers * phases * writes_per_phase


def test_batch_lines_that_run_nothing_are_not_cached(server_factory):
    """Regression: a PING inside a read-only BATCH once left a garbage cache entry behind that a
    later BATCH was answered with."""
    srv = server_factory()
    with srv.client() as c:
        for _ in range(3):
            c.send("BATCH 3", "PING", "SELECT 5", "CALL noSuchQuery")
            assert c.read_response() == ([], "+PONG")
            data, status = c.read_response()
            assert data == ["#5", "=5"] and READ_OK.match(status)
            assert c.read_response()[1].startswith("-ERR 42883")
            assert c.read_response()[1].startswith("-ERR 42883 batch failed at line 3")
        data, status = c.request("CACHE KEYS 10")
        assert [l.split("\t")[0] for l in data[1:]] == ["=SELECT 5"]


def read_until_hit(c, sql, tries=3):
    """The rows of sql once the cache serves it (a reader first prepares a statement against the
    schema it loaded last; a run that finds it changed is not stored, so a hit may take two misses)."""
    for _ in range(tries):
        rows, st = read(c, sql)
        if st == "hit":
            return rows
    raise AssertionError(f"{sql!r} not served from the cache after {tries} reads")


# A statement the schema changed under (SQLite prepares it again inside a run) is judged by what it
# is now: the tables it reads and writes and the functions it calls after the change.

def assert_fresh_after(c, setup, query, before, change, after):
    """Run setup; query is then served from the cache with before; run change: query answers after."""
    for sql in setup:
        c.write(sql)
    assert read_until_hit(c, query) == before
    for sql in change:
        c.write(sql)
    assert read(c, query)[0] == after


def test_view_redefined_over_another_table(server_factory):
    srv = server_factory()
    with srv.client() as c:
        q = "SELECT count(*) FROM v"
        assert_fresh_after(c, ("CREATE TABLE ta(x)", "CREATE TABLE tb(x)", "CREATE VIEW v AS SELECT x FROM ta"),
                           q, [["0"]], ("DROP VIEW v", "CREATE VIEW v AS SELECT x FROM tb"), [["0"]])
        assert_fresh_after(c, (), q, [["0"]], ("INSERT INTO tb VALUES(1)",), [["1"]])


def test_trigger_added_after_the_write_was_prepared(server_factory):
    srv = server_factory()
    with srv.client() as c:
        assert_fresh_after(c, ("CREATE TABLE tc(x)", "CREATE TABLE td(x)", "INSERT INTO tc VALUES(1)",
                               "CREATE TRIGGER trc AFTER INSERT ON tc BEGIN INSERT INTO td VALUES(new.x); END"),
                           "SELECT count(*) FROM td", [["0"]], ("INSERT INTO tc VALUES(1)",), [["1"]])


def test_drop_if_exists_first_prepared_with_nothing_to_drop(server_factory):
    srv = server_factory()
    with srv.client() as c:
        for sql in ("DROP TABLE IF EXISTS zy", "CREATE TABLE zy(x)", "INSERT INTO zy VALUES(1)"):
            c.write(sql)
        assert read_until_hit(c, "SELECT count(*) FROM zy") == [["1"]]
        c.write("DROP TABLE IF EXISTS zy")
        c.error("SELECT count(*) FROM zy", "42P01")


def test_view_redefined_to_call_random(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.write("CREATE VIEW vn AS SELECT 1 AS r")
        assert read_until_hit(c, "SELECT r FROM vn") == [["1"]]
        c.write("DROP VIEW vn")
        c.write("CREATE VIEW vn AS SELECT random() AS r")
        answers = [read(c, "SELECT r FROM vn") for _ in range(3)]
        assert [st for _, st in answers[1:]] == ["off", "off"], answers
        assert len({rows[0][0] for rows, _ in answers}) == 3, answers


def test_sqlite_sequence_is_never_cached(server_factory):
    """An INSERT into an AUTOINCREMENT table (users) updates sqlite_sequence unseen by the
    authorizer: a read of it is never cached, so it follows every insert."""
    srv = server_factory()
    with srv.client() as c:
        c.create_user("seq1@x")
        q = "SELECT seq FROM sqlite_sequence WHERE name = 'users'"
        first = [read(c, q) for _ in range(2)]
        assert [st for _, st in first] == ["off", "off"], first
        c.create_user("seq2@x")
        rows, st = read(c, q)
        assert st == "off" and int(rows[0][0]) == int(first[0][0][0][0]) + 1, (first, rows)


@pytest.mark.parametrize("sql", [
    "PRAGMA page_count", "PRAGMA data_version", "PRAGMA freelist_count", "PRAGMA table_info(users)",
    "SELECT page_count FROM pragma_page_count", "SELECT * FROM pragma_data_version",
    "SELECT name FROM pragma_table_info('users') ORDER BY cid",
])
def test_pragmas_are_never_cached(server_factory, sql):
    """A PRAGMA answers from the file's state, which no table version covers: never cached, in
    either form (statement or table-valued function)."""
    srv = server_factory()
    with srv.client() as c:
        # The first statement on a connection to name a pragma table makes SQLite create it, which
        # the authorizer sees as DDL (never cached anyway): name them all once before.
        read(c, "SELECT 1 FROM pragma_page_count, pragma_data_version, pragma_table_info('users') LIMIT 1")
        assert [read(c, sql)[1] for _ in range(2)] == ["off", "off"]


def test_page_count_follows_writes(server_factory):
    srv = server_factory()
    with srv.client() as c:
        q = "SELECT page_count FROM pragma_page_count"
        c.write("CREATE TABLE big(b)")
        read(c, "SELECT * FROM pragma_page_count")  # see test_pragmas_are_never_cached
        before = int(read(c, q)[0][0][0])
        read(c, q)
        c.write("INSERT INTO big VALUES (zeroblob(200000))")
        assert int(read(c, q)[0][0][0]) > before


# Hints are not part of the key: a hinted statement shares its entry with the plain form (a hint
# inside a result column's text stays in the key, as it names the column).

def test_ttl0_hint_is_never_served_from_the_cache(server_factory):
    srv = server_factory("--cache_ttl", "300")
    with srv.client() as c:
        read(c, "SELECT 6 * 7 AS v")
        assert read(c, "SELECT 6 * 7 AS v")[1] == "hit"
        assert [read(c, "/*+ ttl=0 */ SELECT 6 * 7 AS v")[1] for _ in range(2)] == ["off", "off"]


def test_ttl_hint_bounds_the_age_served(server_factory):
    srv = server_factory("--cache_ttl", "300")
    with srv.client() as c:
        read(c, "SELECT 6 * 7 AS v")
        assert read(c, "SELECT 6 * 7 AS v")[1] == "hit"
        time.sleep(2.2)
        assert read(c, "SELECT /*+ ttl=1 */ 6 * 7 AS v") == ([["42"]], "miss")
        # Its fill replaced the entry: fresh now, for it and for the plain form.
        assert read(c, "SELECT /*+ ttl=1 */ 6 * 7 AS v")[1] == "hit"
        assert read(c, "SELECT 6 * 7 AS v")[1] == "hit"
        # Through BATCH too (its own fast path).
        time.sleep(1.2)
        c.send("BATCH 2", "SELECT /*+ ttl=1 */ 6 * 7 AS v", "SELECT 6 * 7 AS v")
        replies = [c.read_response() for _ in range(3)]
        assert [cache_state(st) for _, st in replies[:2]] == ["miss", "hit"], replies


def test_unrelated_schema_change_costs_one_miss(server_factory):
    """Any DDL makes SQLite prepare every statement again; one whose tables and flags stay the same
    is stored by its next miss (not only by the one after)."""
    srv = server_factory()
    with srv.client() as c:
        q = "SELECT count(*) FROM users"
        assert read_until_hit(c, q) == [["0"]]
        c.write("CREATE TABLE unrelated(x)")
        assert read(c, q) == ([["0"]], "miss")
        assert read(c, q) == ([["0"]], "hit")


@pytest.mark.parametrize("test", [
    test_view_redefined_over_another_table, test_trigger_added_after_the_write_was_prepared,
    test_drop_if_exists_first_prepared_with_nothing_to_drop, test_view_redefined_to_call_random,
    test_unrelated_schema_change_costs_one_miss, test_sqlite_sequence_is_never_cached,
    test_page_count_follows_writes,
], ids=lambda t: t.__name__[5:])
def test_on_the_replica(server_factory, test):
    """The same with read_replica = memory: misses are analyzed and run on the replica's connection."""
    test(lambda *args: server_factory("--read_replica", "memory", *args))
