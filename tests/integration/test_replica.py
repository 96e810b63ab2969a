"""test_replica.py - read_replica = memory: the in-memory replica equals the database file row for row
after any mix of writes, sees other processes' commits on the next read, follows schema changes,
is refused past replica_max_bytes, and shows in REPLICA STATUS, STATS and /metrics.
"""
import json
import random
import re
import sqlite3
import subprocess
import urllib.request

from conftest import ERR, free_port

REPLICA = ("--read_replica", "memory")
CHECK_OK = re.compile(r"^\+OK (\d+) rows differing=(\d+)$")


def status(c):
    data, st = c.request("REPLICA STATUS")
    assert st == "+OK", st
    return dict(line[1:].split("\t", 1) for line in data)


def check(c):
    """REPLICA CHECK: {table: (main_rows, replica_rows, differing)}; asserts nothing differs."""
    data, st = c.request("REPLICA CHECK")
    m = CHECK_OK.match(st)
    assert m, f"REPLICA CHECK -> {st!r} {data!r}"
    assert data[0] == "#table\tmain_rows\treplica_rows\tdiffering"
    tables = {}
    for line in data[1:]:
        name, a, b, d = line[1:].split("\t")
        tables[name] = (int(a), int(b), int(d))
    assert int(m.group(1)) == len(tables)
    bad = {t: v for t, v in tables.items() if v[2] or v[0] != v[1]}
    assert not bad and m.group(2) == "0", f"replica differs from the file: {bad} {status(c)}"
    return tables


def file_tables(db_path):
    """Every table of the database file, read by Python's sqlite3 (another connection, another library)."""
    db = sqlite3.connect(db_path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
        return {n: db.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
    finally:
        db.close()


def text_of(v):
    """A value as the client reads it back from the line protocol."""
    if v is None:
        return None
    if isinstance(v, float):
        return repr(v)
    return str(v)


def assert_server_reads_equal_file(c, db_path):
    """Each table read through the server with the cache bypassed (so on the replica) equals the file."""
    for name, rows in file_tables(db_path).items():
        got = c.rows(f'SELECT /*+ nocache */ * FROM "{name}" ORDER BY rowid')
        want = [[text_of(v) for v in r] for r in rows]
        assert got == want, f"table {name}: server (replica) and file differ"


def test_off_by_default(server_factory):
    srv = server_factory()
    with srv.client() as c:
        assert status(c)["replica"] == "off"
        data, st = c.request("REPLICA CHECK")
        m = ERR.match(st)
        assert m and m.group(1) == "55000" and "read_replica = off" in st
        assert c.stats()["replica_on"] == 0


def _random_write(c, rnd, ids):
    """One of the writes the application makes, chosen at random; some fail on purpose."""
    users, posts, items = ids["users"], ids["posts"], ids["items"]
    k = rnd.randrange(14)
    if k == 0 or not users:
        n = ids["next"]
        ids["next"] += 1
        _, _, data = c.write(f'CALL createUser "u{n}@x" "h" "U {n}" {{"n":{n}}}')
        users.append(int(data[1][1:]))
    elif k == 1:
        _, _, data = c.write(f"CALL createPost {rnd.choice(users)} \"t{rnd.randrange(99)}\" \"body\"")
        posts.append(int(data[1][1:]))
    elif k == 2:
        owner = rnd.choice(users + ["null"])
        _, _, data = c.write(f"CALL createItem {owner} \"item\" null")
        items.append(int(data[1][1:]))
    elif k == 3 and posts:
        c.write(f"CALL viewPost {rnd.choice(posts)}")
        c.write(f"CALL likePost {rnd.choice(posts)}")
    elif k == 4 and items:
        c.write(f"CALL setItemStatus {rnd.choice(items)} \"{rnd.choice(['active', 'archived', 'deleted'])}\"")
    elif k == 5 and len(users) > 3:
        # A cascade: posts, items, sessions, preferences and stats go with the user.
        victim = users.pop(rnd.randrange(len(users)))
        c.write(f"CALL deleteUser {victim}")
    elif k == 6 and posts:
        c.write(f"CALL deletePost {posts.pop(rnd.randrange(len(posts)))}")
    elif k == 7:
        # A BATCH that writes: one transaction.
        u = rnd.choice(users)
        c.send("BATCH 3", f"UPDATE users SET full_name = 'b{rnd.randrange(999)}' WHERE id = {u}",
               f"INSERT INTO sessions (user_id, token, expires_at) VALUES ({u}, 'tok{ids['next']}', '2030-01-01')",
               f"CALL updateUserPreferences {u} \"dark\" null null")
        ids["next"] += 1
        for _ in range(4):
            assert c.read_response()[1].startswith("+OK")
    elif k == 8:
        # A BATCH that fails at its last line: nothing of it is applied.
        c.send("BATCH 2", f"UPDATE users SET full_name = 'never' WHERE id = {rnd.choice(users)}",
               "INSERT INTO users (email, password_hash) VALUES (NULL, 'x')")
        replies = [c.read_response()[1] for _ in range(3)]
        assert replies[-1].startswith("-ERR"), replies
    elif k == 9:
        # A client transaction rolled back.
        assert c.request("BEGIN")[1] == "+OK BEGIN"
        c.write(f"DELETE FROM posts WHERE user_id = {rnd.choice(users)}")
        c.write(f"UPDATE users SET is_active = 0 WHERE id = {rnd.choice(users)}")
        assert c.request("ROLLBACK")[1] == "+OK ROLLBACK"
    elif k == 10:
        # A client transaction committed, with a savepoint rolled back inside.
        assert c.request("BEGIN")[1] == "+OK BEGIN"
        _, _, data = c.write(f"CALL createPost {rnd.choice(users)} \"tx\" null")
        posts.append(int(data[1][1:]))
        c.request("SAVEPOINT s1")
        c.write(f"UPDATE posts SET views = views + 100 WHERE id = {posts[-1]}")
        c.request("ROLLBACK TO s1")
        c.write(f"UPDATE posts SET likes = likes + 1 WHERE id = {posts[-1]}")
        assert c.request("COMMIT")[1] == "+OK COMMIT"
    elif k == 11:
        # A write that fails (unique email): rolled back alone in its group.
        c.error("INSERT INTO users (email, password_hash) VALUES ('keep@x', 'x')", "23505")
    elif k == 12 and posts:
        # Moves a post to another user: the stats triggers adjust both users.
        c.write(f"UPDATE posts SET user_id = {rnd.choice(users)}, views = {rnd.randrange(50)} "
                f"WHERE id = {rnd.choice(posts)}")
    else:
        # A write that changes nothing.
        c.write("UPDATE users SET full_name = 'x' WHERE id < 0")


def test_randomized_differential(server_factory):
    srv = server_factory(*REPLICA, "--group_commit_max", "8")
    rnd = random.Random(20261127)
    ids = {"users": [], "posts": [], "items": [], "next": 0}
    with srv.client() as c, srv.client() as other:
        c.create_user("keep@x")  # never deleted: the unique violation below needs it
        for step in range(400):
            _random_write(c, rnd, ids)
            if step % 50 == 49:
                check(c)
                assert_server_reads_equal_file(other, srv.db_path)
        # Pipelined writes from several connections commit in groups.
        conns = [srv.client() for _ in range(4)]
        for i, cc in enumerate(conns):
            cc.send(*[f"CALL createPost {ids['users'][0]} \"g{i}-{j}\" null" for j in range(25)])
        for cc in conns:
            for _ in range(25):
                assert cc.read_response()[1].startswith("+OK 1 changed")
            cc.close()
        tables = check(c)
        assert_server_reads_equal_file(other, srv.db_path)
        assert tables["posts"][0] == len(file_tables(srv.db_path)["posts"])
        st = c.stats()
        assert st["replica_on"] == 1 and st["replica_conflicts"] == 0
        assert st["replica_changesets_applied"] > 100 and st["replica_rebuilds"] == 1, st
        assert st["replica_lag_changesets"] == 0 and st["replica_bytes"] > 0


def test_read_your_writes_through_cache_and_replica(server_factory):
    srv = server_factory(*REPLICA)
    with srv.client() as w, srv.client() as r:
        w.create_user("ryw@x", full_name="v0")
        for i in range(1, 60):
            # Cached read, then a write, then reads from another connection (another worker too).
            assert r.scalar("SELECT full_name FROM users WHERE id = 1") == f"v{i - 1}"
            w.write(f"UPDATE users SET full_name = 'v{i}' WHERE id = 1")
            assert r.scalar("SELECT full_name FROM users WHERE id = 1") == f"v{i}"
            assert r.scalar("SELECT /*+ nocache */ full_name FROM users WHERE id = 1") == f"v{i}"
            assert w.scalar("SELECT post_count FROM user_stats WHERE user_id = 1") == "0"


def test_nothing_replicated_when_nothing_written(server_factory):
    srv = server_factory(*REPLICA)
    with srv.client() as c:
        c.create_user("d@x")
        before = c.stats()
        for _ in range(5):
            c.write("UPDATE users SET full_name = 'n' WHERE id < 0")
        c.error("INSERT INTO users (email, password_hash) VALUES ('d@x', 'h')", "23505")
        after = c.stats()
        assert after["replica_changesets_applied"] == before["replica_changesets_applied"]
        assert after["replica_commits_skipped"] >= before["replica_commits_skipped"] + 5
        c.write("UPDATE users SET full_name = 'y' WHERE id = 1")
        assert c.stats()["replica_changesets_applied"] == before["replica_changesets_applied"] + 1


def test_foreign_write_visible_on_next_read(server_factory):
    srv = server_factory(*REPLICA)
    with srv.client() as c:
        c.create_user("mine@x")
        assert c.count("users") == 1
        rebuilds = c.stats()["replica_rebuilds"]
        # Another process: the sqlite3 shell.
        subprocess.run(["sqlite3", str(srv.db_path),
                        "INSERT INTO users (email, password_hash, full_name) VALUES ('shell@x', 'h', 'Shell');"
                        "UPDATE users SET full_name = 'changed by shell' WHERE email = 'mine@x';"],
                       check=True, timeout=30)
        # The very next read, bypassing the cache so that it runs on the replica.
        rows = c.rows("SELECT /*+ nocache */ email, full_name FROM users ORDER BY id")
        assert rows == [["mine@x", "changed by shell"], ["shell@x", "Shell"]]
        st = c.stats()
        assert st["replica_rebuilds"] == rebuilds + 1 and st["replica_stale"] == 0 and st["replica_on"] == 1
        check(c)
        # Our writes go on being applied on top of the fresh copy.
        c.create_user("after@x")
        assert c.count("users") == 3
        check(c)


def test_schema_change_rebuilds(server_factory):
    srv = server_factory(*REPLICA)
    with srv.client() as c:
        c.create_user("s@x")
        rebuilds = c.stats()["replica_rebuilds"]
        c.write("ALTER TABLE users ADD COLUMN nickname TEXT")
        c.write("UPDATE users SET nickname = 'nick' WHERE id = 1")
        assert c.scalar("SELECT /*+ nocache */ nickname FROM users WHERE id = 1") == "nick"
        # A table without a primary key: the session cannot follow it, so it is copied whole.
        c.write("CREATE TABLE audit (what TEXT, n INTEGER)")
        c.write("INSERT INTO audit VALUES ('a', 1), ('b', 2)")
        c.write("UPDATE audit SET n = n + 10 WHERE what = 'a'")
        c.write("DELETE FROM audit WHERE what = 'b'")
        assert c.rows("SELECT /*+ nocache */ what, n FROM audit") == [["a", "11"]]
        st = c.stats()
        assert st["replica_rebuilds"] == rebuilds + 2, st  # the ALTER and the CREATE
        tables = check(c)
        assert tables["audit"] == (1, 1, 0)
        assert_server_reads_equal_file(c, srv.db_path)


def test_refused_past_replica_max_bytes(server_factory, tmp_path):
    db_path = tmp_path / "big.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
    db.executemany("INSERT INTO blobs (b) VALUES (?)", [(bytes(4096),)] * 600)
    db.commit()
    db.close()
    srv = server_factory(*REPLICA, "--replica_max_bytes", "1m", db_path=db_path)
    with srv.client() as c:
        st = status(c)
        assert st["replica"] == "file" and st["replica_on"] == "0"
        assert "more than replica_max_bytes" in st["replica_reason"]
        assert "read_replica = memory refused" in srv.stderr()
        # Served from the file, writes included.
        assert c.count("blobs") == 600
        c.write("DELETE FROM blobs WHERE id > 10")
        assert c.scalar("SELECT /*+ nocache */ count(*) FROM blobs") == "10"


def test_status_stats_and_metrics(server_factory):
    port = free_port()
    srv = server_factory(*REPLICA, "--http_port", port)
    with srv.client() as c:
        c.create_user("m@x")
        st = status(c)
        assert st["replica"] == "memory" and int(st["replica_bytes"]) > 0
        assert int(st["replica_max_bytes"]) == 1 << 30
        for key in ("replica_lag_changesets", "replica_lag_bytes", "replica_changesets_applied",
                    "replica_changeset_bytes", "replica_rebuilds"):
            assert key in st
        assert int(st["replica_changesets_applied"]) >= 1 and int(st["replica_changeset_bytes"]) > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    for name in ("litecached_replica_up 1", "litecached_replica_bytes ", "litecached_replica_lag_changesets 0",
                 "litecached_replica_lag_bytes 0", "litecached_replica_changesets_applied_total ",
                 "litecached_replica_rebuilds_total 1"):
        assert name in text, name
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        stats = json.loads(r.read())
    assert stats["replica_on"] == 1 and stats["replica_changesets_applied"] >= 1
