"""test_pg_wire.py - the PostgreSQL protocol spoken by hand, for what client libraries never (or only by accident) send: a connection reset while its BEGIN waits at the writer, result formats on statements without columns, NUL bytes and overlong lines in COPY, messages sent while skipping to Sync, FunctionCall."""
import socket
import struct
import time

import pytest

from pghelp import (PG_COPY_DONE, PG_SYNC, PgRaw, pg_bind, pg_copy_data, pg_describe_portal, pg_errors,
                    pg_execute, pg_msg, pg_parse, pg_query)


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
    assert pg.rows("SELECT id FROM w WHERE id >= 600 ORDER BY id") == [["600"], ["601"]]
