"""test_batch.py - BATCH <n>: per-line replies, the final status, all-or-nothing writes, limits."""
import os
import threading

import pytest

from conftest import ERR, READ_OK, WRITE_OK, parse_result

SERVER_ARGS = ["--max_batch", "50", "--max_line", "1024"]


def uniq(prefix):
    return f"{prefix}-{os.urandom(4).hex()}@example.com"


def run_batch(c, lines, n=None):
    """Send BATCH n and the lines in one write; returns ([replies per line], final status)."""
    n = len(lines) if n is None else n
    c.send(f"BATCH {n}", *lines)
    replies = [c.read_response() for _ in range(n)]
    data, final = c.read_response()
    assert data == [], f"the final batch status carries no data: {data!r}"
    return replies, final


def state_of(reply):
    data, status = reply
    m = ERR.match(status)
    assert m and data == [], reply
    return m.group(1)


def test_all_read_batch(client):
    uid = client.create_user(uniq("br"))
    replies, final = run_batch(client, ["SELECT 1 AS one", f"CALL getUserById {uid}", "PING",
                                        "select 'a' || 'b'"])
    assert final == "+OK batch 4"
    assert replies[0][0] == ["#one", "=1"] and READ_OK.match(replies[0][1])
    cols, rows = parse_result(replies[1][0])
    assert rows[0][0] == str(uid)
    assert replies[2] == ([], "+PONG")
    assert replies[3][0][1] == "=ab"


def test_batch_of_one_and_lowercase(client):
    client.send("batch 1", "ping")
    assert client.read_response() == ([], "+PONG")
    assert client.read_response() == ([], "+OK batch 1")


def test_write_batch_success(client):
    before = client.count("users")
    emails = [uniq("bw") for _ in range(3)]
    lines = [f"INSERT INTO users (email, password_hash) VALUES ('{e}', 'h')" for e in emails]
    lines.append(f"SELECT count(*) FROM users WHERE email IN ('{emails[0]}', '{emails[1]}', '{emails[2]}')")
    lines.append(f'CALL createUser "{uniq("bw")}" "h" null null')
    replies, final = run_batch(client, lines)
    assert final == "+OK batch 5"
    ids = []
    for r in replies[:3]:
        m = WRITE_OK.match(r[1])
        assert m and m.group(1) == "1" and r[0] == [], r
        ids.append(int(m.group(2)))
    assert ids == sorted(ids) and len(set(ids)) == 3
    # The read inside the batch sees the batch's own earlier writes.
    assert replies[3][0] == ["#count(*)", "=3"]
    assert WRITE_OK.match(replies[4][1]) and parse_result(replies[4][0])[0] == ["id"]
    assert client.count("users") == before + 4


def test_write_batch_failing_half_way_applies_nothing(client):
    taken = uniq("taken")
    client.create_user(taken)
    before = {t: client.count(t) for t in ("users", "user_stats", "posts")}
    gbefore = client.rows("SELECT * FROM global_stats")
    e1, e2, e4 = uniq("b1"), uniq("b2"), uniq("b4")
    lines = [
        f"INSERT INTO users (email, password_hash) VALUES ('{e1}', 'h')",
        f'CALL createUser "{e2}" "h" null null',
        f"INSERT INTO users (email, password_hash) VALUES ('{taken}', 'h')",   # UNIQUE
        f"INSERT INTO users (email, password_hash) VALUES ('{e4}', 'h')",
        "SELECT 1",
    ]
    replies, final = run_batch(client, lines)
    assert WRITE_OK.match(replies[0][1]) and WRITE_OK.match(replies[1][1])
    assert state_of(replies[2]) == "23505"
    assert replies[3] == ([], "-ERR 25P02 batch aborted")
    assert replies[4] == ([], "-ERR 25P02 batch aborted")
    assert final == "-ERR 23505 batch failed at line 3; nothing was applied"
    for e in (e1, e2, e4):
        assert client.count(f"users WHERE email = '{e}'") == 0
    assert {t: client.count(t) for t in ("users", "user_stats", "posts")} == before
    assert client.rows("SELECT * FROM global_stats") == gbefore
    client.assert_usable()


def test_write_batch_with_multi_statement_call_rolls_back_entirely(client):
    before = client.count("users"), client.count("user_preferences")
    lines = [
        f'CALL createUserWithPreferences "{uniq("mp")}" "h" "M" "dark" "en"',
        "INSERT INTO posts (user_id, title) VALUES (987654321, 'orphan')",   # FK
    ]
    replies, final = run_batch(client, lines)
    assert WRITE_OK.match(replies[0][1])
    assert state_of(replies[1]) == "23503"
    assert final == "-ERR 23503 batch failed at line 2; nothing was applied"
    assert (client.count("users"), client.count("user_preferences")) == before


def test_read_batch_failure(client):
    replies, final = run_batch(client, ["SELECT 1", "SELECT * FROM nope", "SELECT 3"])
    assert replies[0][0] == ["#1", "=1"]
    assert state_of(replies[1]) == "42P01"
    assert replies[2] == ([], "-ERR 25P02 batch aborted")
    assert final == "-ERR 42P01 batch failed at line 2; nothing was applied"
    client.assert_usable()


def test_batch_first_line_fails(client):
    replies, final = run_batch(client, ["CALL no_such", "SELECT 2"])
    assert state_of(replies[0]) == "42883"
    assert replies[1] == ([], "-ERR 25P02 batch aborted")
    assert final == "-ERR 42883 batch failed at line 1; nothing was applied"


@pytest.mark.parametrize("cmd", ["BATCH 2", "PREPARE p AS SELECT 1", "DEALLOCATE ALL", "FORMAT json",
                                 "QUIT", "HELP", "STATS", "batch 1", "quit"])
def test_forbidden_command_inside_batch(client, cmd):
    e = uniq("forb")
    before = client.count("users")
    replies, final = run_batch(client, [f"INSERT INTO users (email, password_hash) VALUES ('{e}', 'h')", cmd,
                                        "SELECT 1"])
    assert WRITE_OK.match(replies[0][1])
    assert state_of(replies[1]) == "0A000"
    assert cmd.split()[0].upper() in replies[1][1].upper()
    assert replies[2] == ([], "-ERR 25P02 batch aborted")
    assert final == "-ERR 0A000 batch failed at line 2; nothing was applied"
    assert client.count("users") == before
    # QUIT did not close, FORMAT did not switch, PREPARE did not prepare, BATCH did not start a batch.
    client.assert_usable()
    assert client.request("SELECT 1")[0] == ["#1", "=1"]
    client.error("CALL p", "42883")


@pytest.mark.parametrize("line", ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s"])
def test_transaction_control_inside_batch(client, line):
    e = uniq("txb")
    replies, final = run_batch(client, [f"INSERT INTO users (email, password_hash) VALUES ('{e}', 'h')", line])
    assert state_of(replies[1]) == "0A000"
    assert final == "-ERR 0A000 batch failed at line 2; nothing was applied"
    assert client.count(f"users WHERE email = '{e}'") == 0
    client.error("COMMIT", "25P01")      # no transaction was left open


def test_batch_count_errors_then_lines_are_normal(client):
    client.error("BATCH 0", "22023")
    client.error("BATCH abc", "22023")
    client.error("BATCH -2", "22023")
    client.error("BATCH 1.5", "22023")
    client.error("BATCH 1 2", "42601")
    msg = client.error("BATCH 51", "54000")
    assert "max_batch" in msg
    client.error("BATCH 99999999999999999999", "54000")
    # None of them opened a batch: the next lines are served one by one.
    client.ping()
    assert client.scalar("SELECT 5") == "5"


def test_batch_at_max_batch(client):
    lines = [f"SELECT {i}" for i in range(50)]
    replies, final = run_batch(client, lines)
    assert final == "+OK batch 50"
    assert [r[0][1] for r in replies] == [f"={i}" for i in range(50)]


def test_too_long_line_inside_batch(client):
    long_line = "SELECT '" + "x" * 2000 + "'"
    replies, final = run_batch(client, ["SELECT 1", long_line, "SELECT 3"])
    assert replies[0][0] == ["#1", "=1"]
    assert replies[1] == ([], "-ERR 54000 line too long")
    assert replies[2] == ([], "-ERR 25P02 batch aborted")
    assert final == "-ERR 54000 batch failed at line 2; nothing was applied"
    client.assert_usable()


def test_too_long_line_inside_write_batch_applies_nothing(client):
    e = uniq("long")
    replies, final = run_batch(client, [f"INSERT INTO users (email, password_hash) VALUES ('{e}', 'h')",
                                        "SELECT '" + "y" * 3000 + "'"])
    assert WRITE_OK.match(replies[0][1])
    assert replies[1] == ([], "-ERR 54000 line too long")
    assert final == "-ERR 54000 batch failed at line 2; nothing was applied"
    assert client.count(f"users WHERE email = '{e}'") == 0


def test_nul_byte_inside_batch(client):
    """A line with a NUL byte is refused with 22021, inside a batch as well as outside."""
    e = uniq("nul")
    client.send_raw(f"BATCH 3\nINSERT INTO users (email, password_hash) VALUES ('{e}', 'h')\n"
                    "SELECT 1\x00\nSELECT 3\n".encode())
    assert WRITE_OK.match(client.read_response()[1])
    assert state_of(client.read_response()) == "22021"
    assert client.read_response() == ([], "-ERR 25P02 batch aborted")
    assert client.read_response() == ([], "-ERR 22021 batch failed at line 2; nothing was applied")
    assert client.count(f"users WHERE email = '{e}'") == 0


def test_batch_lines_arriving_one_by_one(client):
    e = uniq("slow")
    client.send("BATCH 3")
    client.send(f"INSERT INTO users (email, password_hash) VALUES ('{e}', 'h')")
    client.send("PING")
    client.send(f"SELECT email FROM users WHERE email = '{e}'")
    r1 = client.read_response()
    assert WRITE_OK.match(r1[1])
    assert client.read_response() == ([], "+PONG")
    assert client.read_response()[0] == ["#email", f"={e}"]
    assert client.read_response() == ([], "+OK batch 3")


def test_batch_in_json_format(server):
    with server.client() as c:
        c.request("FORMAT json")
        replies, final = run_batch(c, ["SELECT 1 AS a, NULL AS b", "SELECT 'x' AS c"])
        assert final == "+OK batch 2"
        assert replies[0][0] == ['#["a","b"]', "=[1,null]"]
        assert replies[1][0] == ['#["c"]', '=["x"]']


def test_batch_with_prepared_statement(server):
    with server.client() as c:
        assert c.request("PREPARE ins AS INSERT INTO users (email, password_hash) VALUES (:e, 'h')")[1] \
            .startswith("+OK prepared ins params=1 write")
        e1, e2 = uniq("pb"), uniq("pb")
        replies, final = run_batch(c, [f"CALL ins {e1}", f"CALL ins {e2}", "CALL ins"])
        assert state_of(replies[2]) == "22023"
        assert final == "-ERR 22023 batch failed at line 3; nothing was applied"
        assert c.count(f"users WHERE email IN ('{e1}', '{e2}')") == 0
        replies, final = run_batch(c, [f"CALL ins {e1}", f"CALL ins {e2}"])
        assert final == "+OK batch 2"
        assert c.count(f"users WHERE email IN ('{e1}', '{e2}')") == 2


def test_big_write_batch(server):
    with server.client() as c:
        before = c.count("items")
        # Three batches of 50 (max_batch) pipelined back to back.
        out = []
        for b in range(3):
            out.append("BATCH 50")
            out += [f"INSERT INTO items (title) VALUES ('bulk {b}-{i}')" for i in range(50)]
        c.send(*out)
        for b in range(3):
            for i in range(50):
                assert WRITE_OK.match(c.read_response()[1])
            assert c.read_response() == ([], "+OK batch 50")
        assert c.count("items") == before + 150
        assert c.rows("SELECT items_active FROM global_stats")[0][0] == str(c.count("items WHERE status = 'active'"))


def test_batch_state_is_per_connection(server):
    with server.client() as a, server.client() as b:
        a.send("BATCH 2", "SELECT 'a1'")
        b.ping()                                 # b is not inside a's batch
        assert b.scalar("SELECT 'b'") == "b"
        a.send("SELECT 'a2'")
        assert a.read_response()[0][1] == "=a1"
        assert a.read_response()[0][1] == "=a2"
        assert a.read_response() == ([], "+OK batch 2")


def test_batch_of_calls_keeps_each_lines_arguments(server):
    """Every line's arguments reach its own statement, however many lines carry them: the job keeps
    them in one growing array (grown by doubling, past its first 8), with text arguments in an arena."""
    with server.client() as c:
        assert c.request("PREPARE pair AS SELECT :a AS a, :b AS b")[1].startswith("+OK prepared pair params=2")
        lines = [f'CALL pair {i} "t{i}"' if i % 3 else f"CALL pair {i} {i * 10}" for i in range(50)]
        replies, final = run_batch(c, lines)
        assert final == "+OK batch 50"
        for i, (data, status) in enumerate(replies):
            assert READ_OK.match(status), (i, status)
            cols, rows = parse_result(data)
            assert rows == [[str(i), f"t{i}" if i % 3 else str(i * 10)]], (i, rows)


class _Inserter:
    """A connection inserting into a table as fast as the server takes it, on a thread of its own:
    pipelined single-row INSERTs, each its own commit (and its own cache invalidation)."""

    def __init__(self, server, table):
        self.client = server.client()
        self.table = table
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            while not self.stop.is_set():
                self.client.send(*[f"INSERT INTO {self.table} (v) VALUES (1)"] * 16)
                for _ in range(16):
                    assert WRITE_OK.match(self.client.read_response()[1])
        except Exception as e:  # reported by the test, not lost on the thread
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        self.client.close()
        assert self.error is None, self.error


def _counts(c, table, repeat):
    """Send BATCH 2 of two different count queries on table (separate cache entries), repeat times
    back to back, and return the pairs of counts each batch answered."""
    lines = ["BATCH 2", f"SELECT count(*) FROM {table}", f"SELECT count(*), 1 FROM {table}"]
    c.send(*lines * repeat)
    pairs = []
    for _ in range(repeat):
        replies, final = [c.read_response() for _ in range(2)], c.read_response()
        assert final == ([], "+OK batch 2"), final
        (_, a), (_, b) = (parse_result(d) for d, _ in replies)
        pairs.append((int(a[0][0]), int(b[0][0])))
    return pairs


@pytest.mark.parametrize("repeat", [1, 2], ids=["each-batch-once", "each-batch-twice-so-hits"])
def test_read_batch_reads_one_snapshot_under_writes(server, repeat):
    """README: "A read-only batch reads one snapshot" - its cache hits included. Two lines that
    count the same table must agree while another connection inserts into it. Sent twice in a row,
    the second batch finds entries the first stored (a hit beside a miss, or two hits)."""
    table = f"snap_{os.urandom(4).hex()}"
    with server.client() as c:
        c.write(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v INT)")
        hits = c.stats()["cache_hits"]
        with _Inserter(server, table):
            torn = []
            for _ in range(4000 // repeat):
                torn += [p for p in _counts(c, table, repeat) if p[0] != p[1]]
        assert torn == [], f"{len(torn)} batches read two states, e.g. {torn[:5]}"
        assert c.count(table) > 0
        if repeat == 2:
            assert c.stats()["cache_hits"] > hits, "the variant meant to mix in cache hits had none"
