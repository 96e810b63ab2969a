"""test_backpressure.py - clients that do not read their replies: output_soft_limit and output_hard_limit.

Every test runs its own server (--output_soft_limit 64k --output_hard_limit 256k), stopped with a
short timeout, so that a connection wedged by one test cannot stall the others.
"""
import select
import time

from conftest import READ_OK, Client, wait_connections, wait_until

LIMITS = ("--output_soft_limit", "64k", "--output_hard_limit", "256k")
STOP = 8
RCVBUF = 65536
MB = 1024 * 1024


def limited_server(server_factory, *extra):
    return server_factory(*LIMITS, *extra, stop_timeout=STOP)


def hex_reply(nbytes):
    """A request whose reply carries 2*nbytes of hex, and the exact row it must return."""
    return f"SELECT hex(zeroblob({nbytes})) AS h", "=" + "00" * nbytes


def send_until_blocked(sock, line, cap_bytes, stall=1.0):
    """Send line over and over on a non-blocking socket until the socket stays unwritable for
    `stall` seconds (the server stopped reading) or cap_bytes went out. Returns bytes sent."""
    chunk = line * max(1, 65536 // len(line))
    sent = 0
    sock.setblocking(False)
    try:
        while sent < cap_bytes:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                _, w, _ = select.select([], [sock], [], stall)
                if not w:
                    return sent
            except (BrokenPipeError, ConnectionResetError):
                return sent
    finally:
        sock.setblocking(True)
    return sent


def test_reply_over_soft_limit_then_more_requests(server_factory):
    """A reply bigger than output_soft_limit, with another request pipelined behind it, and a
    client that reads everything: both replies must arrive."""
    srv = limited_server(server_factory)
    big, row = hex_reply(50_000)            # 100 KB: over the soft limit, under the hard one
    with srv.client(timeout=5) as c:
        c.send(big, "PING")
        data, status = c.read_response()
        assert data == ["#h", row] and READ_OK.match(status)
        assert c.read_response() == ([], "+PONG")
        c.assert_usable()


def test_slow_reader_gets_every_reply_in_order(server_factory):
    srv = limited_server(server_factory)
    big, row = hex_reply(20_000)            # 40 KB each, 12 MB in all
    n = 300
    with srv.client() as other, Client(srv.port, rcvbuf=RCVBUF, timeout=5) as c:
        c.send(*[f"SELECT {i} AS i, hex(zeroblob(20000)) AS h" for i in range(n)])
        other.ping()
        for i in range(n):
            data, status = c.read_response()
            assert data == ["#i\th", f"={i}\t" + "00" * 20_000], f"reply {i}"
            assert READ_OK.match(status)
        c.assert_usable()
        assert other.stats()["connections_dropped"] == 0


def test_non_reader_stops_being_read(server_factory):
    """A client that pipelines without ever reading: the server stops reading it (its sends
    block) or drops it; either way it stays small and keeps serving others promptly."""
    srv = limited_server(server_factory)
    with srv.client() as other:
        wait_connections(other, 1)
        rss0 = srv.rss_kb()
        bad = Client(srv.port, rcvbuf=RCVBUF)
        line = ("SELECT hex(zeroblob(20000))" + " " * 1000 + "\n").encode()   # 1 KB asks for 40 KB
        sent = send_until_blocked(bad.sock, line, cap_bytes=64 * MB)
        assert sent < 64 * MB, "the server kept reading a client that never reads"
        # Others are served promptly meanwhile.
        t0 = time.monotonic()
        other.ping()
        assert other.scalar("SELECT 'still here'") == "still here"
        assert time.monotonic() - t0 < 2.0
        grown = (srv.rss_kb() - rss0) / 1024
        assert grown < 200, f"RSS grew {grown:.0f} MB"
        # Stopped reading (sends block) or dropped: both are fine; then the client goes away and
        # the server must notice and clean up.
        bad.close()
        wait_connections(other, 1)
        other.assert_usable()


def test_non_reader_past_hard_limit_is_dropped(server_factory):
    srv = limited_server(server_factory)
    big, _ = hex_reply(8 * MB)              # one 16 MB reply: far past the hard limit
    with srv.client() as other:
        wait_connections(other, 1)
        rss0 = srv.rss_kb()
        dropped0 = other.stats()["connections_dropped"]
        bad = Client(srv.port, rcvbuf=RCVBUF, timeout=5)
        bad.send(big, "PING")
        wait_until(lambda: other.stats()["connections_dropped"] > dropped0, what="connections_dropped to grow")
        other.assert_usable()
        got = bad.read_until_eof()          # what the kernel buffered, then EOF or reset
        assert len(got) < 16 * MB, "the whole reply arrived: the client was not dropped"
        assert b"+PONG" not in got
        bad.close()
        wait_connections(other, 1)
        assert (srv.rss_kb() - rss0) / 1024 < 200
    assert "output_hard_limit" in srv.stderr()


def test_pipelined_small_requests_past_soft_limit_while_reading_slowly(server_factory):
    """Many small replies adding up to far more than the soft limit, read in small bites."""
    srv = limited_server(server_factory)
    n = 20_000
    with Client(srv.port, rcvbuf=RCVBUF, timeout=5) as c:
        payload = b"".join(f"SELECT {i}, '{'x' * 50}'\n".encode() for i in range(n))
        c.send_raw(payload)   # ~1.2 MB of replies; requests fit the socket buffers
        for i in range(n):
            data, status = c.read_response()
            assert data[1] == f"={i}\t{'x' * 50}", i
        c.assert_usable()


def test_sigterm_with_a_client_that_never_reads(server_factory):
    """Graceful shutdown must not wait forever for a client that never reads its replies."""
    srv = limited_server(server_factory)
    bad = Client(srv.port, rcvbuf=RCVBUF)
    line = ("SELECT hex(zeroblob(20000))" + " " * 1000 + "\n").encode()
    send_until_blocked(bad.sock, line, cap_bytes=64 * MB)
    try:
        status = srv.terminate(timeout=STOP)
        assert status == 0, srv.stderr()
    finally:
        bad.close()


def _hwm_kb(srv):
    """The server's peak RSS so far (VmHWM): a reply built and dropped within milliseconds
    still shows."""
    with open(f"/proc/{srv.pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])


def _big_batch(n, nbytes):
    return "".join([f"BATCH {n}\n"] + [f"SELECT zeroblob({nbytes}), {i}\n" for i in range(n)]).encode()


def test_read_batch_from_a_non_reader_stays_under_the_hard_limit(server_factory):
    """A read-only BATCH builds its whole reply in one go: the hard limit is applied while it
    grows (not only afterwards), or 150 lines of 1 MB each are all held at once."""
    srv = limited_server(server_factory, "--workers", "1")
    with srv.client() as other:
        wait_connections(other, 1)
        hwm0 = _hwm_kb(srv)
        dropped0 = other.stats()["connections_dropped"]
        bad = Client(srv.port, rcvbuf=RCVBUF, timeout=5)
        bad.send_raw(_big_batch(150, 500_000))
        time.sleep(1.5)
        grown = (_hwm_kb(srv) - hwm0) / 1024
        assert grown < 60, f"RSS grew {grown:.0f} MB for one client's unread BATCH"
        wait_until(lambda: other.stats()["connections_dropped"] > dropped0, what="connections_dropped to grow")
        other.assert_usable()
        got = bad.read_until_eof()
        assert b"+OK batch" not in got
        bad.close()
    assert "output_hard_limit" in srv.stderr()


def test_cached_read_batch_from_a_non_reader_stays_under_the_hard_limit(server_factory):
    """The same when every line is a cache hit (answered from the cache in one go)."""
    srv = limited_server(server_factory, "--workers", "1")
    n = 300
    batch = _big_batch(n, 60_000)                    # 120 KB of hex per line: cacheable
    with srv.client() as other, Client(srv.port, timeout=10) as filler:
        wait_connections(other, 2)
        for line in batch.decode().splitlines()[1:]:  # a reader fills the cache, line by line
            filler.send(line)
            filler.read_response()
        hits0 = other.stats()["cache_hits"]
        hwm0 = _hwm_kb(srv)
        dropped0 = other.stats()["connections_dropped"]
        bad = Client(srv.port, rcvbuf=RCVBUF, timeout=5)
        bad.send_raw(batch)
        time.sleep(1.5)
        grown = (_hwm_kb(srv) - hwm0) / 1024
        assert grown < 20, f"RSS grew {grown:.0f} MB for one client's unread cached BATCH"
        wait_until(lambda: other.stats()["connections_dropped"] > dropped0, what="connections_dropped to grow")
        other.assert_usable()
        bad.close()
        assert other.stats()["cache_hits"] > hits0, "the batch was not answered from the cache"


def test_write_batch_reply_past_the_hard_limit_applies_nothing(server_factory):
    """A BATCH that writes is built whole by the writer before any of it is sent: a reply past
    output_hard_limit fails the batch (54000), so nothing is applied and the client keeps its place."""
    srv = limited_server(server_factory)
    with srv.client() as c:
        c.request("CREATE TABLE IF NOT EXISTS bp_w (x)")
        lines = ["INSERT INTO bp_w VALUES (1)"] + [f"SELECT zeroblob(100000), {i}" for i in range(20)]
        c.send(f"BATCH {len(lines)}", *lines)
        replies = [c.read_response() for _ in lines]
        _, final = c.read_response()
        assert final.startswith("-ERR 54000"), final
        assert any(s.startswith("-ERR 54000") and "output_hard_limit" in s for _, s in replies), replies
        assert c.scalar("SELECT count(*) FROM bp_w") == "0"
        c.assert_usable()


def test_write_batch_whose_error_lines_pass_the_hard_limit_keeps_the_client(server_factory):
    """A write batch whose lines all fit under output_hard_limit, but whose error lines after a
    failure (and its status) pass it: the client got its connection dropped, as if the batch had
    gone over by itself. Now it is answered as refused whole (n lines and the status), nothing is
    applied, and the client keeps its place. The first line's size sweeps the boundary, which lies
    exactly at a reallocation (256k, a power of two)."""
    srv = limited_server(server_factory)
    with srv.client() as c:
        c.request("CREATE TABLE IF NOT EXISTS bp_u (v UNIQUE)")
        for x in range(130990, 131050):
            lines = [f"SELECT hex(zeroblob({x})) AS h", f"INSERT INTO bp_u VALUES ({x})",
                     f"INSERT INTO bp_u VALUES ({x})", "SELECT 1"]
            c.send(f"BATCH {len(lines)}", *lines)
            replies = [c.read_response() for _ in lines]
            _, final = c.read_response()
            assert final.startswith(("-ERR 23505", "-ERR 54000")), (x, final)
            assert [s for _, s in replies][-1] == "-ERR 25P02 batch aborted", (x, replies[-1])
        assert c.scalar("SELECT count(*) FROM bp_u") == "0"
        c.assert_usable()
