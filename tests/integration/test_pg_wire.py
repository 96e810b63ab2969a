"""test_pg_wire.py - the PostgreSQL protocol spoken by hand, for what client libraries never (or only by accident) send: a connection reset while its BEGIN waits at the writer, result formats on statements without columns, NUL bytes and overlong lines in COPY, messages sent while skipping to Sync, FunctionCall, Describe of a portal that writes, SAVEPOINT in a pipeline."""
import socket
import struct
import time

import pytest

from pghelp import (PG_COPY_DONE, PG_SYNC, PgRaw, pg_bind, pg_copy_data, pg_datarow, pg_describe_portal,
                    pg_errors, pg_execute, pg_msg, pg_parse, pg_query)


@pytest.fixture(scope="module")
def pg(server):
    with PgRaw(server) as c:
        c.ok("CREATE TABLE w(id INTEGER PRIMARY KEY, v TEXT)")
        yield c


def test_reset_while_begin_is_queued_does_not_stall_the_writer(server, pg):
    # B holds the writer with an open transaction, so A's BEGIN waits in the writer's queue when A
    # resets the connection. Its transaction must be rolled back as soon as it opens, not after
    # idle_in_transaction_timeout (30 s by default).
    with PgRaw(server) as b:
        b.ok("BEGIN; INSERT INTO w VALUES (600, 'b')")
        a = PgRaw(server)
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.send(pg_query("BEGIN"))
        time.sleep(0.3)
        a.close()
        time.sleep(0.3)
        b.ok("COMMIT")
    with PgRaw(server, timeout=20) as c:
        t0 = time.monotonic()
        c.ok("INSERT INTO w VALUES (601, 'c')")
        assert time.monotonic() - t0 < 5
    assert pg.rows("SELECT id FROM w WHERE id BETWEEN 600 AND 699 ORDER BY id") == [["600"], ["601"]]


def test_binary_result_format_on_a_statement_without_columns(pg):
    # PostgreSQL ignores result formats when there are no columns: the INSERT succeeds (it used to
    # commit and then answer 08P01).
    pg.send(pg_parse("INSERT INTO w VALUES ($1, 'bin')"), pg_bind(["700"], rfmts=[1]), pg_describe_portal(),
            pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [] and [t for t, _ in msgs] == ["1", "2", "n", "C", "Z"], msgs
    assert msgs[3][1] == b"INSERT 0 1\0"
    pg.send(pg_parse(""), pg_bind(rfmts=[1]), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert [t for t, _ in msgs] == ["1", "2", "I", "Z"], msgs
    # Binary still works where there are columns.
    pg.send(pg_parse("SELECT id FROM w WHERE id = 700"), pg_bind(rfmts=[1]), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert [b for t, b in msgs if t == "D"] == [b"\0\1\0\0\0\x08" + struct.pack("!q", 700)], msgs


def test_result_format_count_mismatch_fails_at_bind_before_anything_runs(pg):
    # One format per column, but three for two columns: PostgreSQL's 08P01 at Bind; the INSERT ...
    # RETURNING never runs.
    pg.send(pg_parse("INSERT INTO w VALUES (701, 'r') RETURNING id, v"), pg_bind(rfmts=[0, 0, 0]), pg_execute(),
            PG_SYNC)
    msgs = pg.until("Z")
    assert [e[0] for e in pg_errors(msgs)] == ["08P01"] and "3 result formats" in pg_errors(msgs)[0][1], msgs
    assert [t for t, _ in msgs] == ["1", "E", "Z"], msgs
    assert pg.rows("SELECT count(*) FROM w WHERE id = 701") == [["0"]]
    # Without columns the count is not checked at all.
    pg.send(pg_parse("DELETE FROM w WHERE id = 700"), pg_bind(rfmts=[0, 1, 0]), pg_execute(), PG_SYNC)
    assert pg_errors(pg.until("Z")) == []
    assert pg.rows("SELECT count(*) FROM w WHERE id = 700") == [["0"]]


def copy_in(c, table, *chunks, done=True):
    """COPY table FROM STDIN with these CopyData messages; the messages up to ReadyForQuery."""
    c.send(pg_query(f"COPY {table} FROM STDIN"))
    assert c.until("G")[-1][0] == "G"
    c.send(*[pg_copy_data(d) for d in chunks], *([PG_COPY_DONE] if done else []))
    return c.until("Z")


@pytest.mark.parametrize("data", [b"1\tone\x002\tsmuggled\n3\tthree\n",   # a raw NUL byte
                                  b"1\tone\n2\ta\\0b\n",                   # an escape that decodes to NUL
                                  b"1\tone\n2\ta\\000\n",
                                  b"1\tone\n2\t\\x00\n"])
def test_copy_nul_byte_fails_the_whole_copy(pg, data):
    pg.ok("CREATE TABLE IF NOT EXISTS cn(a INTEGER, b TEXT)")
    msgs = copy_in(pg, "cn", data)
    assert pg_errors(msgs) == [("22021", 'invalid byte sequence for encoding "UTF8": 0x00')], msgs
    assert msgs[-1] == ("Z", b"I")
    assert pg.rows("SELECT count(*) FROM cn") == [["0"]]
    # The session goes on.
    assert pg_errors(copy_in(pg, "cn", b"5\tfive\n")) == []
    assert pg.rows("SELECT a, b FROM cn") == [["5", "five"]]
    pg.ok("DELETE FROM cn")


def test_copy_line_without_newline_is_bounded(server, pg):
    # A line longer than max_line (1 MiB by default) fails the COPY with 54000 as soon as it passes
    # the limit, without waiting for CopyDone; what follows is dropped until CopyDone.
    pg.ok("CREATE TABLE IF NOT EXISTS cl(a TEXT)")
    rss0 = server.rss_kb()
    msgs = copy_in(pg, "cl", *[b"x" * (512 << 10)] * 40, done=False)
    states = [e[0] for e in pg_errors(msgs)]
    assert states == ["54000"] and "max_line" in pg_errors(msgs)[0][1], msgs
    assert msgs[-1] == ("Z", b"I")
    assert server.rss_kb() - rss0 < 16 << 10
    pg.send(pg_copy_data(b"more\n"), PG_COPY_DONE)
    assert pg.rows("SELECT count(*) FROM cl") == [["0"]]
    # A line just under the limit still goes in.
    assert pg_errors(copy_in(pg, "cl", b"y" * 1000 + b"\n", b"z" * 1000 + b"\n")) == []
    assert pg.rows("SELECT length(a) FROM cl") == [["1000"], ["1000"]]


def test_query_sent_while_skipping_to_sync_is_ignored(pg):
    # After an extended-protocol error everything up to Sync is ignored, a simple Query included.
    pg.send(pg_parse("SELEC bogus"), pg_bind(), pg_execute(), pg_query("INSERT INTO w VALUES (800, 'q')"), PG_SYNC)
    msgs = pg.until("Z")
    assert [e[0] for e in pg_errors(msgs)] == ["42601"] and [t for t, _ in msgs][-2:] == ["E", "Z"], msgs
    assert pg.rows("SELECT count(*) FROM w WHERE id = 800") == [["0"]]


def test_function_call_is_answered_with_ready_for_query(pg):
    # libpq's PQfn waits for ReadyForQuery after the error; no Sync follows a FunctionCall.
    pg.send(pg_msg("F", struct.pack("!IhhhH", 1234, 0, 0, 0, 0)[:-2]))
    msgs = pg.until("Z")
    assert [e[0] for e in pg_errors(msgs)] == ["0A000"] and msgs[-1] == ("Z", b"I"), msgs
    assert pg.rows("SELECT 1") == [["1"]]


@pytest.mark.parametrize("tail", ["SET statement_timeout = 0; INSERT INTO w VALUES (902, 'dup')",  # SET in between
                                  "SELECT $1",                                   # a parameter no one sends
                                  "CALL nosuchquery(1)",                         # a named query that is not there
                                  "SAVEPOINT a",                                 # refused outside a block
                                  "COPY w FROM STDIN"])
def test_multi_statement_query_is_all_or_nothing(pg, tail):
    # Outside a transaction a multi-statement Query is one implicit transaction in PostgreSQL: the
    # first INSERT is rolled back with the failure, whatever kinds of statements are mixed.
    pg.ok("DELETE FROM w WHERE id BETWEEN 901 AND 903; INSERT INTO w VALUES (901, 'pre')")
    pg.send(pg_query(f"DELETE FROM w WHERE id = 901; INSERT INTO w VALUES (902, 'm'); {tail}"))
    msgs = pg.until("G" if "COPY" in tail else "Z")
    if "COPY" in tail:
        pg.send(pg_copy_data(b"903\tx\n903\tdup\n"), PG_COPY_DONE)
        msgs = pg.until("Z")
    assert len(pg_errors(msgs)) == 1 and msgs[-1] == ("Z", b"I"), msgs
    assert not any(t == "C" and b.startswith((b"BEGIN", b"COMMIT", b"ROLLBACK")) for t, b in msgs), msgs
    assert pg.rows("SELECT id, v FROM w WHERE id BETWEEN 901 AND 903") == [["901", "pre"]]


def test_multi_statement_query_with_set_commits_and_says_nothing_more(pg):
    msgs = pg.ok("INSERT INTO w VALUES (910, 'a'); SET application_name = 'x'; SELECT count(*) FROM w WHERE id = 910")
    assert [t for t, _ in msgs] == ["C", "S", "C", "T", "D", "C", "Z"] or \
        [t for t, _ in msgs] == ["C", "C", "T", "D", "C", "Z"], msgs
    assert [b for t, b in msgs if t == "D"] == [b"\0\1\0\0\0\x011"] and msgs[-1] == ("Z", b"I")
    assert pg.rows("SELECT count(*) FROM w WHERE id = 910") == [["1"]]


def test_pipeline_before_sync_is_one_transaction(pg):
    # Several Executes before one Sync are one implicit transaction in PostgreSQL: the duplicate
    # key rolls back the first INSERT too.
    ins = pg_parse("INSERT INTO w VALUES (950, 'p')")
    pg.send(ins, pg_bind(), pg_execute(), ins, pg_bind(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert [e[0] for e in pg_errors(msgs)] == ["23505"] and msgs[-1] == ("Z", b"I"), msgs
    assert not any(t == "C" and b.startswith((b"BEGIN", b"COMMIT", b"ROLLBACK")) for t, b in msgs), msgs
    assert pg.rows("SELECT count(*) FROM w WHERE id = 950") == [["0"]]
    # Without a failure it commits at Sync; a read later in the pipeline sees the write.
    sel = pg_parse("SELECT v FROM w WHERE id = 951")
    pg.send(pg_parse("INSERT INTO w VALUES (951, 'q')"), pg_bind(), pg_describe_portal(), pg_execute(),
            sel, pg_bind(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [] and msgs[-1] == ("Z", b"I"), msgs
    assert [t for t, _ in msgs] == ["1", "2", "n", "C", "1", "2", "D", "C", "Z"], msgs
    assert pg.rows("SELECT v FROM w WHERE id = 951") == [["q"]]
    # An explicit BEGIN in the pipeline makes it the client's transaction: still open after Sync.
    pg.send(pg_parse("INSERT INTO w VALUES (952, 'r')"), pg_bind(), pg_execute(),
            pg_parse("BEGIN"), pg_bind(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [] and msgs[-1] == ("Z", b"T"), msgs
    pg.ok("ROLLBACK")
    assert pg.rows("SELECT count(*) FROM w WHERE id = 952") == [["0"]]
    # A lone Execute commits on its own, as before.
    pg.send(pg_parse("INSERT INTO w VALUES (953, 's')"), pg_bind(), pg_execute(), PG_SYNC)
    assert pg_errors(pg.until("Z")) == []
    assert pg.rows("SELECT count(*) FROM w WHERE id = 953") == [["1"]]


def test_write_reply_leaves_in_one_send_with_its_sync(pg):
    # PostgreSQL sends ParseComplete and BindComplete only at Sync, with the rest. Here they once went
    # out as soon as the write was queued, and the CommandComplete and ReadyForQuery in two more
    # sends after it: three wake-ups of the client where one does (a third of pgbench's insert rate).
    # The write is made slow (100,000 rows) so that anything sent ahead of its reply would arrive alone.
    pg.ok("CREATE TABLE slow_w(i INTEGER)")
    pg.send(pg_parse("INSERT INTO slow_w WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)"
                     " SELECT i FROM n"), pg_bind(), pg_execute(), PG_SYNC)
    first = pg.sock.recv(65536)
    types = []
    while len(first) >= 5:
        types.append(chr(first[0]))
        first = first[1 + struct.unpack("!I", first[1:5])[0]:]
    assert types == ["1", "2", "C", "Z"], types
    assert pg.rows("SELECT count(*) FROM slow_w") == [["100000"]]


def test_write_tags_count_through_the_writer(pg):
    # The writer fills in a prepared statement's tag from its template (once it lexed the SQL for
    # every statement it ran): each count must still be this run's.
    pg.ok("CREATE TABLE tagged(id INTEGER PRIMARY KEY, v TEXT)")
    for n in (3, 2):
        base = 100 * n
        rows = ", ".join(f"({base + i}, 'a')" for i in range(n))
        for sql, tag in ((f"INSERT INTO tagged VALUES {rows}", f"INSERT 0 {n}"),
                         (f"UPDATE tagged SET v = 'b' WHERE id >= {base} AND id < {base + 50}", f"UPDATE {n}"),
                         (f"DELETE FROM tagged WHERE id >= {base} AND id < {base + 50}", f"DELETE {n}")):
            pg.send(pg_parse(sql), pg_bind(), pg_execute(), PG_SYNC)
            msgs = pg.until("Z")
            assert pg_errors(msgs) == [] and ("C", tag.encode() + b"\0") in msgs, (sql, msgs)


def rowdesc(body):
    """A RowDescription body as [(name, type OID, format)]."""
    n, off, cols = struct.unpack("!h", body[:2])[0], 2, []
    for _ in range(n):
        end = body.index(b"\0", off)
        _, _, oid, _, _, fmt = struct.unpack("!IhIhih", body[end + 1:end + 19])
        cols.append((body[off:end].decode(), oid, fmt))
        off = end + 19
    return cols


@pytest.mark.parametrize("txn", ["none", "explicit", "pipeline"])
def test_describe_portal_of_a_write_does_not_run_it(pg, txn):
    # PostgreSQL runs a portal on Execute only: Describe(P) of an INSERT ... RETURNING answers its
    # RowDescription, and a Sync without Execute leaves nothing written, in a transaction block or
    # after another Execute of the same pipeline too.
    pg.ok("DELETE FROM w WHERE v IN ('desc_only', 'desc_pre')")
    if txn == "explicit":
        pg.ok("BEGIN")
    pre = [pg_parse("INSERT INTO w(v) VALUES ('desc_pre')"), pg_bind(), pg_execute()] if txn == "pipeline" else []
    pg.send(*pre, pg_parse("INSERT INTO w(v) VALUES ($1) RETURNING id"), pg_bind(["desc_only"]),
            pg_describe_portal(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [], msgs
    assert [t for t, _ in msgs] == ["1", "2", "C"] * bool(pre) + ["1", "2", "T", "Z"], msgs
    assert rowdesc(msgs[-2][1]) == [("id", 20, 0)]
    assert msgs[-1] == ("Z", b"T" if txn == "explicit" else b"I")
    if txn == "explicit":
        pg.ok("COMMIT")
    assert pg.rows("SELECT count(*) FROM w WHERE v = 'desc_only'") == [["0"]]
    assert pg.rows("SELECT count(*) FROM w WHERE v = 'desc_pre'") == [["1" if pre else "0"]]


@pytest.mark.parametrize("rfmts", [[], [1]])
def test_describe_portal_then_execute_writes_once_under_that_description(pg, rfmts):
    # Describe(P), Execute: one RowDescription (from Describe), the INSERT runs once, and its
    # DataRow has the described columns in the described types and formats, the expression with
    # no declared type included.
    pg.ok("DELETE FROM w WHERE v = 'desc_exec'")
    pg.send(pg_parse("INSERT INTO w(v) VALUES ($1) RETURNING id, v, id * 2 AS twice"),
            pg_bind(["desc_exec"], rfmts=rfmts), pg_describe_portal(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [], msgs
    assert [t for t, _ in msgs] == ["1", "2", "T", "D", "C", "Z"], msgs
    cols = rowdesc(msgs[2][1])
    assert [(n, f) for n, _, f in cols] == [("id", rfmts[0] if rfmts else 0), ("v", rfmts[0] if rfmts else 0),
                                           ("twice", rfmts[0] if rfmts else 0)]
    assert cols[0][1] == 20 and cols[1][1] == 25
    (new_id,), = pg.rows("SELECT id FROM w WHERE v = 'desc_exec'")
    new_id = int(new_id)

    def decode(val, oid, fmt):
        if fmt == 0:
            return val.decode()
        if oid == 20:
            assert len(val) == 8
            return str(struct.unpack("!q", val)[0])
        assert oid == 25, oid    # text in binary is its bytes
        return val.decode()
    row = pg_datarow(msgs[3][1])
    assert len(row) == len(cols)
    assert [decode(v, oid, f) for v, (_, oid, f) in zip(row, cols)] == [str(new_id), "desc_exec", str(new_id * 2)]
    assert msgs[4][1] == b"INSERT 0 1\0"
    assert pg.rows("SELECT count(*) FROM w WHERE v = 'desc_exec'") == [["1"]]


def test_savepoint_in_a_pipeline_is_refused(pg):
    # After a first Execute, the rest of a pipeline runs in PostgreSQL's implicit transaction
    # block, where SAVEPOINT fails with 25P01; the whole pipeline is rolled back at Sync.
    pg.ok("DELETE FROM w WHERE id = 960")
    pg.send(pg_parse("INSERT INTO w VALUES (960, 'sp')"), pg_bind(), pg_execute(),
            pg_parse("SAVEPOINT a"), pg_bind(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [("25P01", "SAVEPOINT can only be used in transaction blocks")], msgs
    assert msgs[-1] == ("Z", b"I")
    assert pg.rows("SELECT count(*) FROM w WHERE id = 960") == [["0"]]
    # In a transaction block it is still allowed.
    pg.ok("BEGIN")
    pg.send(pg_parse("INSERT INTO w VALUES (960, 'sp')"), pg_bind(), pg_execute(),
            pg_parse("SAVEPOINT a"), pg_bind(), pg_execute(), PG_SYNC)
    msgs = pg.until("Z")
    assert pg_errors(msgs) == [] and msgs[-1] == ("Z", b"T"), msgs
    pg.ok("COMMIT")
    assert pg.rows("SELECT count(*) FROM w WHERE id = 960") == [["1"]]
