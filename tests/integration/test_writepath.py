"""test_writepath.py - the write path: group commit, client transactions, batches, checkpoints, backups.

Each test starts its own server (server_factory) when it needs settings of its own.
"""
import os
import re
import sqlite3
import subprocess
import threading
import time

from conftest import BIN, ERR, READ_OK, WRITE_OK


def test_transaction_commit_and_rollback(server_factory):
    srv = server_factory()
    with srv.client() as a, srv.client() as b:
        assert a.request("BEGIN") == ([], "+OK BEGIN")
        a.write("INSERT INTO users(email, password_hash) VALUES ('t1@x', 'h')")
        # Inside the transaction its own write is visible; outside it is not yet.
        assert a.count("users WHERE email = 't1@x'") == 1
        assert b.count("users WHERE email = 't1@x'") == 0
        assert a.request("COMMIT") == ([], "+OK COMMIT")
        assert b.count("users WHERE email = 't1@x'") == 1

        assert a.request("BEGIN") == ([], "+OK BEGIN")
        a.write("DELETE FROM users WHERE email = 't1@x'")
        assert a.request("ROLLBACK") == ([], "+OK ROLLBACK")
        assert b.count("users WHERE email = 't1@x'") == 1


def test_failed_statement_poisons_the_transaction(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.write("INSERT INTO users(email, password_hash) VALUES ('dup@x', 'h')")
        c.request("BEGIN")
        c.write("INSERT INTO users(email, password_hash) VALUES ('new@x', 'h')")
        c.error("INSERT INTO users(email, password_hash) VALUES ('dup@x', 'h')", "23505")
        c.error("SELECT 1", "25P02")
        c.error("CALL getUserById 1", "25P02")
        # COMMIT of a failed transaction rolls it back, as PostgreSQL does.
        assert c.request("COMMIT") == ([], "+OK ROLLBACK")
        assert c.count("users WHERE email = 'new@x'") == 0
        c.assert_usable()


def test_savepoints_inside_a_transaction(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.request("BEGIN")
        c.write("INSERT INTO users(email, password_hash) VALUES ('s1@x', 'h')")
        assert READ_OK.match(c.request("SAVEPOINT sp1")[1])
        c.write("INSERT INTO users(email, password_hash) VALUES ('s2@x', 'h')")
        assert READ_OK.match(c.request("ROLLBACK TO sp1")[1])
        assert c.request("COMMIT") == ([], "+OK COMMIT")
        assert c.count("users WHERE email IN ('s1@x', 's2@x')") == 1


def test_transaction_state_errors(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.error("COMMIT", "25P01")
        c.error("ROLLBACK", "25P01")
        c.error("SAVEPOINT x", "25P01")
        c.request("BEGIN")
        c.error("BEGIN", "25001")
        assert c.request("END") == ([], "+OK COMMIT")


def test_other_writers_wait_for_an_open_transaction(server_factory):
    srv = server_factory()
    with srv.client() as a, srv.client() as b:
        a.request("BEGIN")
        a.write("INSERT INTO users(email, password_hash) VALUES ('first@x', 'h')")
        b.send("INSERT INTO users(email, password_hash) VALUES ('second@x', 'h')")
        time.sleep(0.2)
        b.sock.settimeout(0.2)
        try:
            got = b.sock.recv(1000)
        except OSError:
            got = b""
        assert got == b"", "a write was applied while another client's transaction was open"
        b.sock.settimeout(10)
        # Reads from others still run meanwhile.
        with srv.client() as r:
            assert r.count("users WHERE email = 'first@x'") == 0
        a.request("COMMIT")
        assert WRITE_OK.match(b.read_response()[1])
        assert b.count("users WHERE email IN ('first@x', 'second@x')") == 2


def test_disconnect_mid_transaction_rolls_back(server_factory):
    srv = server_factory()
    a = srv.client()
    a.request("BEGIN")
    a.write("INSERT INTO users(email, password_hash) VALUES ('gone@x', 'h')")
    a.close()
    with srv.client() as b:
        # The writer is free again (this write would hang otherwise) and the row never landed.
        b.write("INSERT INTO users(email, password_hash) VALUES ('after@x', 'h')")
        assert b.count("users WHERE email = 'gone@x'") == 0


def test_idle_in_transaction_timeout(server_factory):
    srv = server_factory("--idle_in_transaction_timeout", "1")
    with srv.client() as a, srv.client() as b:
        a.request("BEGIN")
        a.write("INSERT INTO users(email, password_hash) VALUES ('idle@x', 'h')")
        # Another writer is served once the idle transaction is rolled back.
        b.write("INSERT INTO users(email, password_hash) VALUES ('other@x', 'h')")
        msg = a.error("SELECT 1", "25P03")
        assert "idle" in msg
        assert a.count("users WHERE email = 'idle@x'") == 0
        a.assert_usable()


def test_group_commit_failing_request_fails_alone(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.write("INSERT INTO users(email, password_hash) VALUES ('taken@x', 'h')")
    results = {}

    def one(i):
        with srv.client() as c:
            email = "taken@x" if i == 7 else f"g{i}@x"
            c.send(f"INSERT INTO users(email, password_hash) VALUES ('{email}', 'h')")
            results[i] = c.read_response()[1]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ERR.match(results[7]) and results[7].startswith("-ERR 23505")
    assert all(WRITE_OK.match(results[i]) for i in range(32) if i != 7)
    with srv.client() as c:
        assert c.count("users WHERE email LIKE 'g%@x'") == 31
        stats = c.stats()
        assert stats["writer_groups"] <= stats["writer_jobs"]


def test_failing_jobs_in_one_group_fail_alone_and_count_once(server_factory):
    """A group first runs without a savepoint per job and, when one fails, is rolled back and run
    again with them. Held behind a client's transaction, these jobs are sure to form one group: the
    good ones commit, the failing ones apply nothing (not the first rows of an INSERT OR FAIL that
    fails on its third), and each error is counted once."""
    srv = server_factory()
    with srv.client() as c:
        c.write("CREATE TABLE g(id INTEGER PRIMARY KEY, v TEXT)")
        c.write("INSERT INTO g VALUES (13, 'taken')")
        errors = c.stats()["errors"]
    sqls = [f"INSERT INTO g VALUES ({i}, 'ok')" for i in range(1, 5)]
    sqls.append("INSERT OR FAIL INTO g VALUES (11, 'f'), (12, 'f'), (13, 'f'), (14, 'f')")
    sqls.append("INSERT INTO g VALUES (13, 'dup')")
    sqls.append("INSERT INTO g VALUES (5, 'ok')")
    holder = srv.client()
    clients = [srv.client() for _ in sqls]
    try:
        assert holder.request("BEGIN") == ([], "+OK BEGIN")
        groups = holder.stats()["writer_groups"]
        for cl, sql in zip(clients, sqls):
            cl.send(sql)
        time.sleep(0.5)   # all queued behind the open transaction
        assert holder.request("COMMIT") == ([], "+OK COMMIT")
        replies = [cl.read_response()[1] for cl in clients]
        with srv.client() as c:
            stats = c.stats()
            assert sorted(r[0] for r in c.rows("SELECT id FROM g")) == ["1", "13", "2", "3", "4", "5"]
            assert c.rows("SELECT v FROM g WHERE id = 13") == [["taken"]]
    finally:
        holder.close()
        for cl in clients:
            cl.close()
    assert [WRITE_OK.match(r) is not None for r in replies] == [True] * 4 + [False, False, True], replies
    assert replies[4].startswith("-ERR 23505") and replies[5].startswith("-ERR 23505"), replies
    assert stats["writer_groups"] == groups + 1, "the seven jobs ran as one group"
    assert stats["errors"] == errors + 2


def test_read_your_writes_across_connections(server_factory):
    srv = server_factory()
    conns = [srv.client() for _ in range(4)]
    try:
        for i in range(200):
            w = conns[i % 4]
            r = conns[(i + 1) % 4]
            w.write(f"INSERT INTO users(email, password_hash) VALUES ('ryw{i}@x', 'h')")
            assert r.count(f"users WHERE email = 'ryw{i}@x'") == 1
    finally:
        for c in conns:
            c.close()


def test_backup_command_and_cli(server_factory, tmp_path):
    bdir = tmp_path / "backups"
    srv = server_factory("--backup_dir", str(bdir))
    with srv.client() as c:
        c.create_user("b1@x")
        data, status = c.request("BACKUP nightly.db")
        assert status.startswith("+OK backup nightly.db bytes="), status
        c.error("BACKUP ../escape", "42501")
        c.error("BACKUP a/b", "42501")
        c.error("BACKUP", "42601")
        c.create_user("b2@x")   # after the copy: not in it
    copy = sqlite3.connect(bdir / "nightly.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT email FROM users").fetchall() == [("b1@x",)]
    copy.close()
    assert not (tmp_path / "escape").exists()

    out = subprocess.run([BIN, "--backup", str(tmp_path / "cli.db"), "--db", str(srv.db_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    copy = sqlite3.connect(tmp_path / "cli.db")
    assert sorted(r[0] for r in copy.execute("SELECT email FROM users")) == ["b1@x", "b2@x"]
    copy.close()


def test_wal_stays_bounded_under_reads_and_writes(server_factory):
    """Continuous readers must not starve checkpoints: the WAL file stays near wal_checkpoint_pages."""
    pages = 200
    srv = server_factory("--wal_checkpoint_pages", str(pages), "--wal_autocheckpoint", "100")
    wal = srv.db_path.with_name(srv.db_path.name + "-wal")
    stop = threading.Event()
    biggest = [0]

    def reader():
        with srv.client() as c:
            while not stop.is_set():
                c.request("SELECT count(*), sum(length(title)) FROM posts /*+ nocache */")

    with srv.client() as c:
        c.create_user("wal@x")
    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        with srv.client() as c:
            # At least 6 s of load; longer, up to 60 s, until a checkpoint ran (a slow machine,
            # or a sanitizer build, may need longer to write wal_checkpoint_pages).
            start = time.monotonic()
            while time.monotonic() - start < 6 or (c.stats()["checkpoints"] == 0 and time.monotonic() - start < 60):
                c.send("BATCH 50")
                for _ in range(50):
                    c.send(f"INSERT INTO posts(user_id, title, body) VALUES (1, 't', '{'x' * 400}')")
                for _ in range(51):
                    c.read_response()
                biggest[0] = max(biggest[0], wal.stat().st_size if wal.exists() else 0)
            stats = c.stats()
    finally:
        stop.set()
        for t in readers:
            t.join()
    # One group can add its own pages on top of the threshold; 4096-byte pages plus frame headers.
    bound = (pages + 400) * 4120
    assert stats["checkpoints"] > 0
    assert biggest[0] < bound, f"WAL grew to {biggest[0]} bytes (bound {bound})"


def test_checkpoint_behind_an_old_reader_does_not_stall_writes(server_factory):
    """A reader in another process that holds an old snapshot keeps the forced (RESTART) checkpoint
    from finishing. The writer must give up on it quickly and try again later, not hold every write
    for busy_timeout_ms; once the reader is gone a checkpoint finishes and the WAL starts over."""
    pages = 50
    srv = server_factory("--wal_checkpoint_pages", str(pages), "--busy_timeout_ms", "5000")
    wal = srv.db_path.with_name(srv.db_path.name + "-wal")
    insert = f"INSERT INTO posts(user_id, title, body) VALUES (1, 't', '{'x' * 8000}')"
    other = sqlite3.connect(srv.db_path, isolation_level=None)
    try:
        with srv.client() as c:
            c.create_user("old@x")
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM users").fetchone()
            # Past the threshold: every commit from here on is followed by a forced checkpoint try.
            while not wal.exists() or wal.stat().st_size < (pages + 10) * 4120:
                c.write(insert)
            start = time.monotonic()
            for i in range(20):
                c.write(insert)
                took = time.monotonic() - start
                # The old writer waited the whole busy timeout (5 s) after each commit.
                assert took < 5, f"{i + 1} inserts took {took:.1f} s behind the reader's snapshot"
            before = c.stats()
            assert before["checkpoints_incomplete"] >= 1, before

            other.execute("ROLLBACK")
            other.close()
            # The backoff is at most a few seconds: one of the next tries finishes.
            deadline = time.monotonic() + 30
            while True:
                c.write(insert)
                st = c.stats()
                finished = st["checkpoints"] - st["checkpoints_incomplete"]
                if finished > before["checkpoints"] - before["checkpoints_incomplete"]:
                    break
                assert time.monotonic() < deadline, f"no checkpoint finished after the reader left: {st}"
            # Restarted: the next commits overwrite the WAL from its start instead of growing it.
            size = wal.stat().st_size
            for _ in range(5):
                c.write(insert)
            assert wal.stat().st_size <= size
    finally:
        other.close()
    assert "checkpoint: database is locked" in srv.stderr()


def test_clean_shutdown_truncates_the_wal(server_factory):
    srv = server_factory()
    with srv.client() as c:
        for i in range(50):
            c.create_user(f"sd{i}@x")
    srv.stop()
    wal = srv.db_path.with_name(srv.db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_write_blocked_by_another_process_fails_with_40001(server_factory):
    srv = server_factory("--busy_timeout_ms", "300")
    other = sqlite3.connect(srv.db_path, timeout=5, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")   # another process holds the write lock
        with srv.client() as c:
            t0 = time.monotonic()
            msg = c.error("INSERT INTO users(email, password_hash) VALUES ('busy@x', 'h')", "40001")
            waited = time.monotonic() - t0
            assert waited >= 0.25, f"gave up after {waited:.3f}s, before busy_timeout_ms"
            assert "locked" in msg or "busy" in msg
            c.assert_usable()
            other.execute("ROLLBACK")
            c.write("INSERT INTO users(email, password_hash) VALUES ('busy@x', 'h')")
            assert c.count("users WHERE email = 'busy@x'") == 1
    finally:
        other.close()


def traced(srv, syscalls, work):
    """Run work() while strace -f watches the server's syscalls; returns strace's lines."""
    out = srv.dir / "strace.out"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-ttt", "-T", "-e", f"trace={syscalls}",
                               "-e", "signal=none", "-o", str(out), "-p", str(srv.pid)])
    try:
        time.sleep(1.0)  # strace attaches to every thread before the first request
        work()
        time.sleep(0.3)
    finally:
        tracer.send_signal(2)
        tracer.wait(timeout=10)
    return out.read_text().splitlines()


def fds_open_on(pid, path):
    """The descriptors pid has open on path. A descriptor the server closes while we look (a client
    socket, a statement journal) is skipped: its link is gone by the time we read it."""
    want, fds = os.path.realpath(path), set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                fds.add(int(fd))
        except FileNotFoundError:
            pass
    return fds


def threads_named(pid, name):
    """The ids of pid's threads called name; a thread that ends while we look is skipped."""
    tids = set()
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().strip() == name:
                    tids.add(t)
        except FileNotFoundError:
            pass
    return tids


def acks_and_syncs(srv, client, n):
    """Trace the server while client sends n inserts one at a time. Returns the WAL's write and
    sync calls and the acknowledgements, each as (start, end, kind), in microseconds."""
    wal = f"{srv.db_path}-wal"
    wal_fds = fds_open_on(srv.pid, wal)
    assert wal_fds, "the server has no descriptor on its WAL file"

    def inserts():
        for i in range(n):
            client.write(f"INSERT INTO users(email, password_hash) VALUES ('durable{i}@x', 'h')")
    lines = traced(srv, "pwrite64,fdatasync,fsync,sendto", inserts)
    calls, pending = [], {}
    for line in lines:
        tid, stamp, call = line.split(None, 2)  # strace pads the thread id
        start = float(stamp) * 1e6
        if call.endswith("<unfinished ...>"):
            pending[tid] = (start, call)  # another thread's call came in between: resumed below
            continue
        if call.startswith("<... "):
            start, call = pending.pop(tid)
        m = re.search(r"<([0-9.]+)>$", line)
        took = float(m.group(1)) * 1e6 if m else 0
        fd = call.split("(", 1)[1].split(",", 1)[0].split(" ", 1)[0].rstrip(")")
        if call.startswith("sendto(") and "changed" in call:
            calls.append((start, start + took, "ack"))
        elif call.startswith(("pwrite64(", "fdatasync(", "fsync(")) and fd.isdigit() and int(fd) in wal_fds:
            calls.append((start, start + took, "write" if call.startswith("pwrite64") else "sync"))
    return sorted(calls)


def unsynced_acks(calls):
    """Acknowledgements sent before a sync that began after their commit's last WAL write had ended."""
    bad, last_write = 0, None
    for start, end, kind in calls:
        if kind == "write":
            last_write = end
        elif kind == "ack":
            synced = any(k == "sync" and s >= last_write and e <= start for s, e, k in calls)
            bad += last_write is None or not synced
    return bad


def test_synchronous_full_acknowledges_only_synced_writes(server_factory):
    """synchronous = full: no write is acknowledged before an fdatasync of the WAL that began after
    it was written, whether the WAL sync thread syncs (group commit) or SQLite does (group_commit_max
    1). With synchronous = normal the same trace shows unsynced acknowledgements: the check can fail."""
    for args, want_synced in ((("--synchronous", "full"), True),
                              (("--synchronous", "full", "--group_commit_max", "1"), True),
                              (("--synchronous", "normal"), False)):
        srv = server_factory(*args)
        with srv.client() as c:
            calls = acks_and_syncs(srv, c, 20)
        assert sum(k == "ack" for _, _, k in calls) == 20, f"{args}: not every acknowledgement was traced"
        bad = unsynced_acks(calls)
        if want_synced:
            assert bad == 0, f"{args}: {bad} of 20 writes acknowledged before the WAL was synced"
        else:
            assert bad > 0, f"{args}: the check found no unsynced acknowledgement where there must be some"
        srv.stop()


def test_synchronous_full_commits_once_per_wal_sync(server_factory):
    """With synchronous = full the writer keeps a group open while the WAL sync thread is busy and
    commits it when the sync ends (proxy/writer.c, take_more): each sync then carries exactly one
    group, not several small ones. Meanwhile a client's transaction still goes through, and every
    acknowledged row is there."""
    srv = server_factory("--synchronous", "full")
    acked, errors = [], []

    def inserts(t):
        # Pipelined, so that the server always has a next request: the groups fill whatever the
        # speed of this Python client.
        try:
            with srv.client() as c:
                c.send("\n".join(f"INSERT INTO users(email, password_hash) VALUES ('once{t}-{i}@x', 'h')"
                                 for i in range(60)))
                for i in range(60):
                    status = c.read_response()[1]
                    assert WRITE_OK.match(status), status
                    acked.append(f"once{t}-{i}@x")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def transactions():
        try:
            with srv.client() as c:
                for i in range(10):
                    c.request("BEGIN")
                    c.write(f"INSERT INTO users(email, password_hash) VALUES ('tx{i}@x', 'h')")
                    assert c.count(f"users WHERE email = 'tx{i}@x'") == 1
                    assert c.request("COMMIT")[-1].startswith("+OK")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    with srv.client() as c:
        before = c.stats()
    threads = [threading.Thread(target=inserts, args=(t,)) for t in range(16)] + [threading.Thread(target=transactions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with srv.client() as c:
        assert c.count("users WHERE email LIKE 'once%@x'") == len(acked) == 16 * 60
        assert c.count("users WHERE email LIKE 'tx%@x'") == 10
        after = c.stats()
    groups = after["writer_groups"] - before["writer_groups"]
    syncs = after["wal_syncs"] - before["wal_syncs"]
    jobs = after["writer_jobs"] - before["writer_jobs"]
    # The 10 transactions commit outside groups, each with a sync of its own, unless it was queued
    # behind a group's commit that the sync thread had not yet taken (it shares that group's sync:
    # under ASan on a busy machine the thread may wake up only after the transaction's three round
    # trips). A sync never carries two groups.
    assert groups <= syncs <= groups + 10, f"{groups} groups, {syncs} syncs: a sync carried more than one group"
    assert jobs >= 2 * groups, f"{jobs} jobs in {groups} groups: the groups did not fill"


def test_reads_take_no_kernel_locks_while_the_writer_is_idle(server_factory):
    """While reads go on and the writer is idle, its pin (proxy/writer.c) holds the WAL read mark,
    so reads share it and SQLite takes no fcntl() lock per read; a write makes the pin let go and
    take it again; an idle server lets go (test_ops.py's health test then locks the marks)."""
    srv = server_factory("--cache_mode", "off")
    with srv.client() as c:
        c.write("INSERT INTO users(email, password_hash) VALUES ('pin@x', 'h')")
    stop, reads = threading.Event(), [0]

    def reader():
        with srv.client() as r:
            while not stop.is_set():
                assert r.scalar("SELECT email FROM users WHERE email = 'pin@x'") == "pin@x"
                reads[0] += 1
    t = threading.Thread(target=reader)
    t.start()
    try:
        time.sleep(0.5)  # the writer notices the reads within 100 ms and pins
        seen = []
        locks = [l for l in traced(srv, "fcntl", lambda: seen.append(reads[0]) or time.sleep(0.5)
                                   or seen.append(reads[0])) if "F_SETLK" in l]
    finally:
        stop.set()
        t.join(10)
    n = seen[1] - seen[0]
    assert n > 50, f"only {n} reads in the traced half second"
    # The pin's own renewals (every 100 ms, on the writer's thread) lock too; the reads must not.
    writer_tids = threads_named(srv.pid, "lc-writer")
    assert writer_tids, "no thread named lc-writer"
    locks = [l for l in locks if l.split(None, 1)[0] not in writer_tids]
    assert len(locks) < n / 10, f"{len(locks)} fcntl locks for {n} reads: the read mark is not shared"
    with srv.client() as c:
        c.write("UPDATE users SET email = 'pin2@x' WHERE email = 'pin@x'")
        assert c.scalar("SELECT count(*) FROM users WHERE email = 'pin2@x'") == "1"


def test_a_restart_on_a_truncated_wal_costs_reads_no_fstat(server_factory):
    """A clean shutdown checkpoints the WAL away. With no commit in it, SQLite asks the kernel for the
    database's size at every read transaction (an fstat per uncached read), so the writer gives an
    empty WAL one frame at start-up: user_version, rewritten with its own value."""
    srv = server_factory("--cache_mode", "off")
    with srv.client() as c:
        c.write("INSERT INTO users(email, password_hash) VALUES ('fstat@x', 'h')")
        version = c.scalar("PRAGMA user_version")
    srv.stop()
    wal = f"{srv.db_path}-wal"
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0, "a clean shutdown leaves no WAL behind"
    srv2 = server_factory("--cache_mode", "off", db_path=srv.db_path)
    assert os.path.getsize(f"{srv2.db_path}-wal") > 0, "no frame in the WAL after the start"

    def reads():
        with srv2.client() as r:
            for _ in range(200):
                assert r.scalar("SELECT email FROM users WHERE email = 'fstat@x'") == "fstat@x"
    stats = [l for l in traced(srv2, "fstat,newfstatat,statx", reads) if "stat" in l]
    assert len(stats) < 20, f"{len(stats)} stat calls for 200 reads:\n" + "\n".join(stats[:5])
    with srv2.client() as c:
        assert c.scalar("PRAGMA user_version") == version
        assert c.scalar("SELECT count(*) FROM users WHERE email = 'fstat@x'") == "1"


def test_batch_in_a_failed_transaction_gets_a_reply_per_line(server_factory):
    """A BATCH sent after a statement failed inside a transaction is refused whole, yet its client
    still reads one reply per line and then the batch's status line (it used to get one error
    line and the status, so it read the next command's reply as its own)."""
    srv = server_factory()
    with srv.client() as c:
        assert c.request("BEGIN") == ([], "+OK BEGIN")
        c.error("SELECT x FROM nope", "42P01")
        c.send("BATCH 3", "SELECT 1", "SELECT 2", "INSERT INTO users(email, password_hash) VALUES ('b@x', 'h')")
        replies = [c.read_response()[1] for _ in range(3)]
        assert all(r.startswith("-ERR 25P02 ") for r in replies), replies
        status = c.read_response()[1]
        assert status.startswith("-ERR 25P02 batch failed at line 1"), status
        assert c.request("ROLLBACK") == ([], "+OK ROLLBACK")
        assert c.request("PING") == ([], "+PONG")
        assert c.count("users WHERE email = 'b@x'") == 0


def test_concurrent_backups_of_one_name(server_factory, tmp_path):
    """Several BACKUPs of the same name at once (a cron job overlapping an operator, or the CLI
    against a running server): each succeeds, and what ends up under the name is a whole copy.
    They shared one temporary file, so one deleted or renamed the other's half-written copy."""
    bdir = tmp_path / "backups"
    srv = server_factory("--backup_dir", str(bdir))
    with srv.client() as c:
        c.write("CREATE TABLE big(id INTEGER PRIMARY KEY, pad BLOB)")
        c.write("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
                "INSERT INTO big(pad) SELECT randomblob(4000) FROM n")
    clients = [srv.client() for _ in range(6)]
    try:
        for _ in range(3):
            for cl in clients:
                cl.send("BACKUP same.db")
            statuses = [cl.read_response()[1] for cl in clients]
            assert all(s.startswith("+OK backup same.db bytes=") for s in statuses), statuses
            copy = sqlite3.connect(bdir / "same.db")
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert copy.execute("SELECT count(*) FROM big").fetchone()[0] == 5000
            copy.close()
    finally:
        for cl in clients:
            cl.close()
    assert sorted(p.name for p in bdir.iterdir()) == ["same.db"], "no temporary file is left behind"


def test_backup_removes_copies_dead_processes_left(server_factory, tmp_path):
    """A crash or a killed cron job mid-copy leaves <name>.tmp-<pid>-<n> (and its -journal), each as
    big as the database; they piled up for ever. The next backup into the directory removes those of
    processes that are gone, and nothing else."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    bdir = tmp_path / "backups"
    bdir.mkdir()
    stale = [f"old.db.tmp-{dead.pid}-0", f"old.db.tmp-{dead.pid}-0-journal"]
    kept = [f"live.db.tmp-{os.getpid()}-3", "notes.tmp-abc", f"x.tmp-{dead.pid}-2-keep", "plain.db"]
    for name in stale + kept:
        (bdir / name).write_bytes(b"x" * 1000)
    srv = server_factory("--backup_dir", str(bdir))
    with srv.client() as c:
        assert c.request("BACKUP new.db")[1].startswith("+OK backup new.db bytes=")
    assert sorted(p.name for p in bdir.iterdir()) == sorted(kept + ["new.db"])
    # The CLI (cron) sweeps the directory it writes into the same way.
    (bdir / stale[0]).write_bytes(b"x")
    out = subprocess.run([BIN, "--backup", str(bdir / "cli.db"), "--db", str(srv.db_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in bdir.iterdir()) == sorted(kept + ["new.db", "cli.db"])
