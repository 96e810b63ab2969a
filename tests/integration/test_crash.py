"""test_crash.py - kill -9 while 16 clients write: every acknowledged write survives, nothing is corrupt.

Each round starts litecached on the same database, lets 16 connections insert, update and delete
posts (so the statistics triggers fire) while recording what was acknowledged, kills the server
with SIGKILL at a random moment, restarts it, and checks: every acknowledged insert is there,
every acknowledged delete is gone, PRAGMA integrity_check is ok, foreign_key_check is empty, and
user_stats / global_stats equal a recomputation from the base tables.
"""
import random
import signal
import threading
import time

import pytest

from conftest import Client, ServerClosed, WRITE_OK

ROUNDS = 20
CLIENTS = 16


def writer_loop(port, uid, acked, deleted, stop, doomed):
    """Write until the server dies; record what it acknowledged. A delete in flight when the server
    dies may or may not have committed: its id goes to doomed, which the check allows either way."""
    rnd = random.Random(uid)
    mine = []
    try:
        c = Client(port)
        while not stop.is_set():
            op = rnd.random()
            if op < 0.75 or not mine:
                data, status = c.request(
                    f"INSERT INTO posts(user_id, title, views, likes) VALUES ({uid}, 'p{uid}', "
                    f"{rnd.randint(0, 100)}, {rnd.randint(0, 10)}) RETURNING id")
                if WRITE_OK.match(status):
                    pid = int(data[1][1:])
                    mine.append(pid)
                    acked.append(pid)
            elif op < 0.9:
                c.request(f"UPDATE posts SET views = views + 1 WHERE id = {rnd.choice(mine)}")
            else:
                pid = mine.pop(rnd.randrange(len(mine)))
                doomed.append(pid)
                data, status = c.request(f"DELETE FROM posts WHERE id = {pid}")
                if WRITE_OK.match(status):
                    deleted.append(pid)
    except (ServerClosed, ConnectionError, OSError):
        pass  # the server was killed mid-request: whatever was not acknowledged may be lost


STATS_CHECK = """
SELECT count(*) FROM users u JOIN user_stats s ON s.user_id = u.id
WHERE s.post_count IS NOT (SELECT count(*) FROM posts p WHERE p.user_id = u.id)
   OR s.total_views IS NOT (SELECT coalesce(sum(views), 0) FROM posts p WHERE p.user_id = u.id)
   OR s.total_likes IS NOT (SELECT coalesce(sum(likes), 0) FROM posts p WHERE p.user_id = u.id)
""".replace("\n", " ")


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_kill9_loses_no_acknowledged_write(server_factory, tmp_path, synchronous):
    """With full, acknowledgements come from the WAL sync thread (proxy/walsync.c), not the writer."""
    db = tmp_path / "crash.db"
    args = ("--synchronous", synchronous)
    srv = server_factory(*args, db_path=db)
    with srv.client() as c:
        for uid in range(1, CLIENTS + 1):
            c.write(f"INSERT INTO users(id, email, password_hash) VALUES ({uid}, 'u{uid}@x', 'h')")
    srv.stop()

    acked, deleted, doomed = [], [], []
    rnd = random.Random(1234)
    for rnd_no in range(ROUNDS):
        srv = server_factory(*args, db_path=db)
        stop = threading.Event()
        threads = [threading.Thread(target=writer_loop,
                                    args=(srv.port, uid, acked, deleted, stop, doomed), daemon=True)
                   for uid in range(1, CLIENTS + 1)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.1, 0.4))
        assert srv.terminate(signal.SIGKILL) == -signal.SIGKILL
        stop.set()
        for t in threads:
            t.join(timeout=15)
            assert not t.is_alive(), "a client thread hung after the kill"

    assert len(acked) > 100, f"too few writes were acknowledged ({len(acked)}) for the test to mean much"
    srv = server_factory(db_path=db)
    with srv.client() as c:
        present = set()
        ids = sorted(set(acked))
        for i in range(0, len(ids), 500):
            chunk = ",".join(map(str, ids[i:i + 500]))
            _, rows = c.ok(f"SELECT id FROM posts WHERE id IN ({chunk})")
            present.update(int(r[0]) for r in rows)
        missing = set(acked) - set(doomed) - present
        assert not missing, f"{len(missing)} acknowledged inserts lost, e.g. {sorted(missing)[:10]}"
        resurrected = set(deleted) & present
        assert not resurrected, f"acknowledged deletes came back: {sorted(resurrected)[:10]}"
        assert c.scalar("PRAGMA integrity_check") == "ok"
        _, rows = c.ok("PRAGMA foreign_key_check")
        assert rows == []
        assert c.scalar(STATS_CHECK) == "0"
        assert c.scalar("SELECT posts FROM global_stats") == c.scalar("SELECT count(*) FROM posts")
        assert c.scalar("SELECT users FROM global_stats") == c.scalar("SELECT count(*) FROM users")
