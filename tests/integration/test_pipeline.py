"""test_pipeline.py - pipelining, framing (split and overlong lines) and how clients go away."""
import socket
import time


from conftest import READ_OK, WRITE_OK, wait_connections, wait_until

SERVER_ARGS = ["--max_line", "1024"]


def test_pipeline_10000_requests_in_order(server):
    with server.client(timeout=30) as c:
        uid = c.create_user("pipe@example.com", "h", "Pipe")
        lines = []
        for i in range(10000):
            k = i % 4
            if k == 0:
                lines.append("PING")
            elif k == 1:
                lines.append(f"SELECT {i}")
            elif k == 2:
                lines.append(f"CALL getUserById {uid}")
            else:
                lines.append(f"call getUserById {-i}")   # no such user: a header alone
        payload = b"".join(l.encode() + b"\n" for l in lines)
        # All requests go out before a single byte is read. The replies (~1.3 MB) fit in the kernel's
        # socket buffers plus the server's output_soft_limit, so the server keeps reading.
        c.send_raw(payload)
        statuses = 0
        for i, line in enumerate(lines):
            data, status = c.read_response()
            statuses += 1
            k = i % 4
            if k == 0:
                assert (data, status) == ([], "+PONG"), (i, data, status)
            elif k == 1:
                assert data == [f"#{i}", f"={i}"] and READ_OK.match(status), (i, data, status)
            elif k == 2:
                assert data[1].startswith(f"={uid}\tpipe@example.com\t") and status.startswith("+OK 1 rows"), \
                    (i, data, status)
            else:
                assert data[0].startswith("#id\temail") and len(data) == 1 and status.startswith("+OK 0 rows"), \
                    (i, data, status)
        assert statuses == 10000
        # Nothing extra is queued behind them.
        assert c.scalar("SELECT 'end'") == "end"


def test_pipelined_writes_and_reads_keep_order(client):
    before = client.count("items")
    lines = []
    for i in range(200):
        lines.append(f"INSERT INTO items (title) VALUES ('ordered {i}')")
        lines.append("SELECT count(*) FROM items")
    client.send(*lines)
    for i in range(200):
        changed, *_ = WRITE_OK.match(client.read_response()[1]).groups()
        assert changed == "1"
        data, status = client.read_response()
        assert data == ["#count(*)", f"={before + i + 1}"], (i, data)


def test_request_sent_byte_by_byte(client):
    payload = b"SELECT 'split'\r\nPING\nSELECT 2\n"
    for i in range(len(payload)):
        client.send_raw(payload[i:i + 1])
    assert client.read_response()[0] == ["#'split'", "=split"]
    assert client.read_response() == ([], "+PONG")
    assert client.read_response()[0] == ["#2", "=2"]


def test_crlf_split_between_packets(client):
    client.send_raw(b"PING\r")
    client.send_raw(b"\nSELECT 1\r")
    client.send_raw(b"\n")
    assert client.read_response() == ([], "+PONG")
    assert client.read_response()[0] == ["#1", "=1"]


# ---------------------------------------------------------------- max_line

def select_of_length(n):
    """A SELECT line of exactly n bytes."""
    base = "SELECT '"
    line = base + "a" * (n - len(base) - 1) + "'"
    assert len(line) == n
    return line


def test_line_at_the_limit_is_served(client):
    cols, rows = client.ok(select_of_length(1024))
    assert rows == [["a" * (1024 - 9)]]
    client.send_raw(select_of_length(1024).encode() + b"\r\n")   # the CR does not count
    assert READ_OK.match(client.read_response()[1])


def test_line_over_the_limit(client):
    assert client.request(select_of_length(1025)) == ([], "-ERR 54000 line too long")
    client.assert_usable()
    assert client.request("SELECT '" + "z" * 100000 + "'") == ([], "-ERR 54000 line too long")
    client.assert_usable()


def test_overlong_line_followed_by_lines_in_the_same_packet(client):
    client.send_raw(("x" * 3000 + "\nPING\nSELECT 9\n").encode())
    assert client.read_response() == ([], "-ERR 54000 line too long")
    assert client.read_response() == ([], "+PONG")
    assert client.read_response()[0] == ["#9", "=9"]


def test_overlong_line_in_chunks_with_pauses(client):
    """The server sees the line grow past max_line before its end arrives; the rest is discarded."""
    client.send_raw("SELECT '" + "a" * 600)
    time.sleep(0.05)
    client.send_raw("b" * 600)             # now past 1024, still no newline
    time.sleep(0.05)
    client.send_raw("c" * 600)
    time.sleep(0.05)
    client.send_raw("d" * 100 + "'\nPING\n")   # end of the long line and a complete request behind it
    assert client.read_response() == ([], "-ERR 54000 line too long")
    assert client.read_response() == ([], "+PONG")
    client.assert_usable()


def test_overlong_line_end_arrives_alone(client):
    """Same, with the next request sent only after the long line's end."""
    client.send_raw("x" * 2000)
    time.sleep(0.05)
    client.send_raw("y" * 10 + "\n")
    time.sleep(0.05)
    client.send_raw("PING\n")
    assert client.read_response() == ([], "-ERR 54000 line too long")
    assert client.read_response() == ([], "+PONG")


def test_two_overlong_lines_in_a_row(client):
    client.send_raw(("q" * 2000 + "\n") * 2 + "PING\n")
    assert client.read_response() == ([], "-ERR 54000 line too long")
    assert client.read_response() == ([], "-ERR 54000 line too long")
    assert client.read_response() == ([], "+PONG")


# ---------------------------------------------------------------- clients going away

def test_disconnect_mid_line_executes_nothing(server):
    with server.client() as watcher:
        wait_connections(watcher, 1)
        c = server.client()
        c.send("INSERT INTO users (email, password_hash) VALUES ('before-mid@x', 'h')")
        c.send_raw("INSERT INTO users (email, password_hash) VALUES ('mid@x','h'")   # no newline
        c.close()
        # The complete line was served; once the server has dropped the connection, the partial
        # line is known never to run.
        wait_until(lambda: watcher.count("users WHERE email = 'before-mid@x'") == 1, what="the complete line")
        wait_connections(watcher, 1)
        assert watcher.count("users WHERE email = 'mid@x'") == 0
        watcher.assert_usable()


def test_disconnect_mid_line_alone(server):
    with server.client() as watcher:
        wait_connections(watcher, 1)
        accepted = watcher.stats()["connections_total"]
        c = server.client()
        c.send_raw("INSERT INTO users (email, password_hash) VALUES ('mid2@x','h')")   # complete SQL, no LF
        c.close()
        wait_connections(watcher, 1, accepted_since=accepted)
        assert watcher.count("users WHERE email = 'mid2@x'") == 0


def test_half_close_still_gets_every_reply(server):
    with server.client() as c:
        lines = ["PING", "SELECT 1", "INSERT INTO items (title) VALUES ('half-close')", "SELECT 'last'"]
        c.send(*lines)
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_response() == ([], "+PONG")
        assert c.read_response()[0] == ["#1", "=1"]
        assert WRITE_OK.match(c.read_response()[1])
        assert c.read_response()[0] == ["#'last'", "=last"]
        assert c.read_until_eof() == b""     # then the server closes


def test_half_close_with_unterminated_last_line(server):
    with server.client() as c:
        c.send("SELECT 'done'")
        c.send_raw("INSERT INTO items (title) VALUES ('half-close-partial')")
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_response()[0] == ["#'done'", "=done"]
        assert c.read_until_eof() == b""
    with server.client() as w:
        assert w.count("items WHERE title = 'half-close-partial'") == 0


def test_close_without_reading_pipelined_replies(server):
    """A client that pipelines and closes without reading. The server may stop at the first reply it
    cannot deliver, but what it ran is a prefix of the requests, in order, and it cleans up."""
    with server.client() as watcher:
        wait_connections(watcher, 1)
        accepted = watcher.stats()["connections_total"]
        c = server.client()
        c.send(*[f"INSERT INTO items (title) VALUES ('gone-{i}')" for i in range(50)])
        c.close()
        # A bug fixed (in this test): the count was once read before the server had even accepted
        # the connection, and the SELECT below ran before the first INSERT.
        wait_connections(watcher, 1, accepted_since=accepted)
        rows = watcher.rows("SELECT title FROM items WHERE title LIKE 'gone-%' ORDER BY id")
        ran = [int(r[0].split("-")[1]) for r in rows]
        assert ran == list(range(len(ran))), ran
        assert len(ran) >= 1, "the first complete line arrived before the close and must have run"
        watcher.assert_usable()


def test_many_short_lived_connections(server):
    with server.client() as watcher:
        for i in range(100):
            with server.client() as c:
                if i % 2:
                    c.ping()
        wait_connections(watcher, 1)
        watcher.assert_usable()
