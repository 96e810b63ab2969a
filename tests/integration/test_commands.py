"""test_commands.py - every command of the line protocol with exact expectations."""
import json

import pytest

from conftest import ERR, READ_OK, parse_result, result_sets, wait_connections


# ---------------------------------------------------------------- PING, HELP, QUIT, keywords

def test_ping(client):
    assert client.request("PING") == ([], "+PONG")


@pytest.mark.parametrize("line", ["ping", "PiNg", "  PING", "\tping  "])
def test_keywords_are_case_insensitive_and_trimmed(client, line):
    assert client.request(line) == ([], "+PONG")


def test_crlf_is_accepted(client):
    client.send_raw(b"PING\r\nSELECT 'a' || 'b'\r\n")
    assert client.read_response() == ([], "+PONG")
    data, status = client.read_response()
    assert READ_OK.match(status), status
    assert parse_result(data) == (["'a' || 'b'"], [["ab"]])


def test_empty_lines_get_no_response(client):
    client.send_raw(b"\n\r\n   \n\t\nSELECT 1\n\n\nSELECT 2\n")
    assert client.read_response()[0] == ["#1", "=1"]
    assert client.read_response()[0] == ["#2", "=2"]
    # Nothing else is queued: the next reply is the next request's.
    assert client.scalar("SELECT 3") == "3"


def test_help(client):
    data, status = client.request("HELP")
    assert status == "+OK"
    assert len(data) >= 8
    assert all(line.startswith("=") for line in data)
    text = "\n".join(data)
    for word in ("CALL", "PREPARE", "DEALLOCATE", "BATCH", "FORMAT", "STATS", "PING", "HELP", "QUIT"):
        assert word in text, f"HELP does not mention {word}"
    assert client.request("help") == (data, "+OK")


@pytest.mark.parametrize("word", ["QUIT", "quit"])
def test_quit(server, word):
    with server.client() as c:
        c.ping()
        c.send(word, "PING")   # nothing after QUIT is served
        assert c.read_response() == ([], "+BYE")
        assert c.read_until_eof() == b""


# ---------------------------------------------------------------- results: values and escaping

def test_result_set_shape(client):
    data, status = client.request("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'")
    assert data == ["#a\tb", "=1\tx", "=2\ty"]
    assert READ_OK.match(status) and status.startswith("+OK 2 rows ms=")


def test_empty_result_has_header_only(client):
    data, status = client.request("SELECT id, email FROM users WHERE id = -1")
    assert data == ["#id\temail"]
    assert status.startswith("+OK 0 rows ms=")


def test_value_types_tsv(client):
    data, _ = client.request("SELECT 1 AS i, -7 AS neg, 1.5 AS r, -0.25 AS r2, 2.0 AS r3, 1e300 AS big, "
                             "NULL AS n, X'00ff' AS b, X'' AS eb, 'txt' AS t, '' AS e, "
                             "9223372036854775807 AS imax")
    assert data == [
        "#i\tneg\tr\tr2\tr3\tbig\tn\tb\teb\tt\te\timax",
        "=1\t-7\t1.5\t-0.25\t2.0\t1.0e+300\t\\N\t\\x00ff\t\\x\ttxt\t\t9223372036854775807",
    ]


def test_real_numbers_use_sqlites_text_form(client):
    # Whatever SQLite's own conversion gives, the wire must carry the same text.
    for expr in ("1/3.0", "0.1", "1e-7", "123456789.125", "-2.5e-300", "4e15"):
        cols, rows = client.ok(f"SELECT {expr} AS v, CAST({expr} AS TEXT) AS t, typeof({expr}) AS ty")
        v, t, ty = rows[0]
        assert ty == "real"
        assert v == t, f"{expr}: wire {v!r} != SQLite text {t!r}"


def test_text_escaping_round_trip(client):
    nasty = "tab\there\nnew line\rcr\\backslash \\t not-a-tab \\N end\t"
    uid = client.create_user("escape@example.com", "h", nasty, None)
    data, status = client.request(f"CALL getUserById {uid}")
    assert READ_OK.match(status)
    cols, rows = parse_result(data)
    raw_fields = data[1][1:].split("\t")
    i = cols.index("full_name")
    assert raw_fields[i] == ("tab\\there\\nnew line\\rcr\\\\backslash \\\\t not-a-tab \\\\N end\\t")
    assert rows[0][i] == nasty
    # Column names are escaped the same way.
    data, _ = client.request("SELECT 1 AS \"a\tb\\c\"")
    assert data[0] == "#a\\tb\\\\c"
    # Text that merely looks like NULL or a blob stays text.
    data, _ = client.request("SELECT '\\N' AS n, '\\x00' AS x")
    assert data[1] == "=\\\\N\t\\\\x00"
    assert parse_result(data)[1] == [["\\N", "\\x00"]]
    # A NUL in a value is written \0, not sent raw (C string readers cut the field there).
    data, _ = client.request("SELECT 'x' || char(0) || 'y' AS v")
    assert data[1] == "=x\\0y"
    assert parse_result(data)[1] == [["x\0y"]]


def test_unicode_text(client):
    s = "héllo wörld ✓ 🚀"
    cols, rows = client.ok(f"CALL getUserById {client.create_user('uni@example.com', 'h', s)}")
    assert rows[0][cols.index("full_name")] == s


def test_blobs(client):
    cols, rows = client.ok("SELECT X'00ff' AS a, X'DEADbeef' AS b, zeroblob(3) AS z, CAST('AB' AS BLOB) AS c")
    assert rows == [[b"\x00\xff", b"\xde\xad\xbe\xef", b"\x00\x00\x00", b"AB"]]
    data, _ = client.request("SELECT X'DEADBEEF'")
    assert data[1] == "=\\xdeadbeef"   # lowercase hex


# ---------------------------------------------------------------- FORMAT json

def test_format_json(server):
    with server.client() as c:
        assert c.request("FORMAT json") == ([], "+OK format json")
        data, status = c.request("SELECT 1 AS i, -2 AS neg, 1.5 AS r, NULL AS n, X'00ff' AS b, "
                                 "'a\"b\\c\td' AS t, 9223372036854775807 AS imax, 2.0 AS r2")
        assert READ_OK.match(status)
        assert json.loads(data[0][1:]) == ["i", "neg", "r", "n", "b", "t", "imax", "r2"]
        row = json.loads(data[1][1:])
        assert row == [1, -2, 1.5, None, "\\x00ff", 'a"b\\c\td', 9223372036854775807, 2.0]
        assert type(row[0]) is int and type(row[2]) is float and type(row[7]) is float
        # Control characters, unicode and invalid UTF-8 still give a parseable row.
        data, _ = c.request("SELECT char(1) || 'x' || char(10) AS c, 'é✓' AS u, CAST(X'ff41' AS TEXT) AS bad")
        row = json.loads(data[1][1:])
        assert row[0] == "\x01x\n" and row[1] == "é✓"
        assert row[2] == "\ufffdA"
        # Non-finite reals are null.
        data, _ = c.request("SELECT 1e999 AS inf, -1e999 AS ninf")
        assert json.loads(data[1][1:]) == [None, None]
        # Named queries and writes in json too.
        uid = c.write('CALL createUser "json@example.com" "pw" "J \\"quoted\\"" {"k":[1,2]}')[1]
        data, _ = c.request(f"CALL getUserById {uid}")
        cols, rows = parse_result(data, "json")
        user = dict(zip(cols, rows[0]))
        assert user["id"] == uid and user["email"] == "json@example.com"
        assert user["full_name"] == 'J "quoted"'
        assert json.loads(user["meta"]) == {"k": [1, 2]}
        assert user["last_login"] is None and user["is_active"] == 1
        # Back to tsv.
        assert c.request("format TSV") == ([], "+OK format tsv")
        assert c.request("SELECT NULL")[0] == ["#NULL", "=\\N"]


def test_format_is_per_connection(server):
    with server.client() as a, server.client() as b:
        assert a.request("FORMAT json")[1] == "+OK format json"
        assert a.request("SELECT 1 AS x")[0] == ['#["x"]', "=[1]"]
        assert b.request("SELECT 1 AS x")[0] == ["#x", "=1"]


def test_format_bad_argument(client):
    client.error("FORMAT xml", "22023")
    client.error("FORMAT", "22023")
    assert client.request("SELECT 1")[0] == ["#1", "=1"]   # still tsv


# ---------------------------------------------------------------- writes and their status

def test_write_status_and_last_id(client):
    changed, last_id, data = client.write(
        "INSERT INTO users (email, password_hash) VALUES ('w1@example.com', 'h')")
    assert changed == 1 and last_id > 0 and data == []
    assert client.scalar(f"SELECT email FROM users WHERE id = {last_id}") == "w1@example.com"
    changed2, last2, _ = client.write(
        "INSERT INTO users (email, password_hash) VALUES ('w2@example.com', 'h'), ('w3@example.com', 'h');")
    assert changed2 == 2 and last2 == last_id + 2
    # A statement that inserts nothing reports last_id=0, even right after an insert.
    assert client.write(f"UPDATE users SET full_name = 'W' WHERE id IN ({last_id}, {last2})")[:2] == (2, 0)
    assert client.write("UPDATE users SET full_name = 'none' WHERE id = -1")[:2] == (0, 0)
    assert client.write(f"DELETE FROM users WHERE id = {last2}")[:2] == (1, 0)
    assert client.count(f"users WHERE id = {last2}") == 0


def test_write_with_returning(client):
    changed, last_id, data = client.write(
        "INSERT INTO users (email, password_hash, full_name) VALUES ('ret@example.com', 'h', 'R') "
        "RETURNING id, email, full_name")
    assert changed == 1
    assert parse_result(data) == (["id", "email", "full_name"], [[str(last_id), "ret@example.com", "R"]])


def test_read_your_writes_on_other_connection(server):
    with server.client() as a, server.client() as b:
        uid = a.create_user("visible@example.com")
        assert b.scalar(f"SELECT email FROM users WHERE id = {uid}") == "visible@example.com"


# ---------------------------------------------------------------- CALL

def test_call_named_queries(client):
    uid = client.create_user("call@example.com", "hash1", "Call Me", '{"country":"NL","phone":"123"}')
    cols, rows = client.ok(f"CALL getUserById {uid}")
    user = dict(zip(cols, rows[0]))
    assert user["email"] == "call@example.com" and user["password_hash"] == "hash1"
    assert user["full_name"] == "Call Me" and user["role"] == "user" and user["is_active"] == "1"
    assert json.loads(user["meta"]) == {"country": "NL", "phone": "123"}
    # Bare words are text.
    cols2, rows2 = client.ok("call getUserByEmail call@example.com")
    assert rows2 == rows and cols2 == cols
    cols, rows = client.ok("CALL searchUsersByMeta country NL")
    assert [r[cols.index("id")] for r in rows] == [str(uid)]
    assert "password_hash" not in cols
    cols, rows = client.ok('CALL searchUsersByMeta "phone" "123"')
    assert [r[0] for r in rows] == [str(uid)]
    # updateUser: null keeps a column.
    changed, last_id, _ = client.write(f'CALL updateUser {uid} null "New Name" null')
    assert (changed, last_id) == (1, 0)
    cols, rows = client.ok(f"CALL getUserById {uid}")
    user = dict(zip(cols, rows[0]))
    assert user["full_name"] == "New Name" and user["email"] == "call@example.com"
    client.write(f"CALL updateUserMeta {uid} tier gold")
    meta = json.loads(client.scalar(f"SELECT meta FROM users WHERE id = {uid}"))
    assert meta == {"country": "NL", "phone": "123", "tier": "gold"}
    # getUsersBatch takes a JSON array.
    other = client.create_user("call2@example.com")
    cols, rows = client.ok(f"CALL getUsersBatch [{other},{uid},-5]")
    assert [r[0] for r in rows] == [str(uid), str(other)]


def test_call_argument_types(client):
    assert client.request("PREPARE ty AS SELECT typeof(:v) AS t, :v AS v")[1] == "+OK prepared ty params=1 read"
    cases = {
        "42": ["integer", "42"], "-7": ["integer", "-7"], "0": ["integer", "0"],
        "1.5": ["real", "1.5"], "1e3": ["real", "1000.0"], "-0.5": ["real", "-0.5"],
        "true": ["integer", "1"], "false": ["integer", "0"], "null": ["null", None],
        '"text"': ["text", "text"], '"42"': ["text", "42"], '""': ["text", ""],
        "bare": ["text", "bare"], "12abc": ["text", "12abc"], "nullable": ["text", "nullable"],
        '{"a": 1}': ["text", '{"a": 1}'], "[1,2]": ["text", "[1,2]"], '{"a":[1,{"b":null}]}': ["text", '{"a":[1,{"b":null}]}'],
        '"tab\\tnl\\nq\\"u\\u00e9"': ["text", 'tab\tnl\nq"ué'],
        "9223372036854775807": ["integer", "9223372036854775807"],
    }
    for arg, want in cases.items():
        cols, rows = client.ok(f"CALL ty {arg}")
        assert rows == [want], f"CALL ty {arg}: got {rows!r}, want {want!r}"
    # Several arguments, separated by spaces or tabs.
    client.request("PREPARE three AS SELECT :a || '|' || :b || '|' || :c")
    assert client.scalar('CALL three x  "y z"\t3') == "x|y z|3"
    # A JSON object with spaces inside is one argument.
    cols, rows = client.ok('CALL ty {"a": 1, "b": [1, 2]}')
    assert rows == [["text", '{"a": 1, "b": [1, 2]}']]


def test_call_bad_json_argument(client):
    client.request("PREPARE one AS SELECT :x")
    assert "unterminated string" in client.error('CALL one "abc', "22023")
    assert "argument 1" in client.error('CALL one [1,2', "22023")
    assert "argument 1" in client.error('CALL one "a"b', "22023")
    client.assert_usable()


def test_call_multi_statement_read_returns_every_result_set(client):
    uid = client.create_user("profile@example.com", "h", "Pro")
    pid = int(parse_result(client.write(f'CALL createPost {uid} "First" "body"')[2])[1][0][0])
    data, status = client.request(f"CALL getUserProfile {uid}")
    assert status.startswith("+OK ") and READ_OK.match(status)
    sets = result_sets(data)
    assert len(sets) == 3
    assert sets[0][0][:2] == ["id", "email"] and sets[0][1][0][:2] == [str(uid), "profile@example.com"]
    assert sets[1][0][0] == "user_id" and sets[1][1][0][:2] == [str(uid), "1"]
    assert sets[2][1][0][:2] == [str(pid), "First"]
    assert int(READ_OK.match(status).group(1)) == 3
    # A user without posts: the third set is a header alone.
    other = client.create_user("profile2@example.com")
    sets = result_sets(client.request(f"CALL getUserProfile {other}")[0])
    assert len(sets) == 3 and sets[2][1] == []


def test_call_multi_statement_write_is_one_transaction(client):
    users = client.count("users")
    changed, last_id, data = client.write('CALL createUserWithPreferences "prefs@example.com" "h" "P" "dark" "fr"')
    cols, rows = parse_result(data)
    uid = int(rows[0][0])
    assert cols == ["user_id"] and changed == 2
    assert client.rows(f"SELECT theme, language FROM user_preferences WHERE user_id = {uid}") == [["dark", "fr"]]
    # The second statement fails its CHECK: the first one's user must not stay behind.
    state = ERR.match(client.request(
        'CALL createUserWithPreferences "prefs2@example.com" "h" "P" "purple" "fr"')[1]).group(1)
    assert state == "23514"
    assert client.count("users WHERE email = 'prefs2@example.com'") == 0
    assert client.count("users") == users + 1


# ---------------------------------------------------------------- PREPARE / DEALLOCATE

def test_prepare_call_deallocate(server):
    with server.client() as c:
        assert c.request("PREPARE add AS SELECT :x + :y AS s") == ([], "+OK prepared add params=2 read")
        assert c.ok("CALL add 40 2") == (["s"], [["42"]])
        assert "x, y" in c.error("CALL add 1", "22023")
        assert c.request("prepare ins as INSERT INTO users (email, password_hash) VALUES (:e, 'h')") == \
            ([], "+OK prepared ins params=1 write")
        changed, last_id, _ = c.write("CALL ins prep@example.com")
        assert changed == 1 and c.scalar(f"SELECT email FROM users WHERE id = {last_id}") == "prep@example.com"
        assert c.request("PREPARE anon AS SELECT ?, ?")[1] == "+OK prepared anon params=2 read"
        assert c.rows("CALL anon 1 two") == [["1", "two"]]
        # Duplicate name.
        c.error("PREPARE add AS SELECT 1", "42P05")
        assert c.ok("CALL add 1 1")[1] == [["2"]]   # the old one is untouched
        # Connection-local.
        with server.client() as other:
            other.error("CALL add 1 2", "42883")
        # Deallocate.
        assert c.request("DEALLOCATE add") == ([], "+OK 1 deallocated")
        c.error("CALL add 1 2", "42883")
        assert "add" in c.error("DEALLOCATE add", "26000")
        assert c.request("DEALLOCATE PREPARE ins") == ([], "+OK 1 deallocated")
        assert c.request("DEALLOCATE ALL") == ([], "+OK 1 deallocated")
        assert c.request("deallocate all") == ([], "+OK 0 deallocated")
        c.error("CALL anon 1 2", "42883")
        c.assert_usable()


def test_prepared_shadows_named_query(server):
    with server.client() as c:
        uid = c.create_user("shadow@example.com")
        assert c.request("PREPARE getUserById AS SELECT 'shadowed' AS s, :id AS id")[1] == \
            "+OK prepared getUserById params=1 read"
        assert c.ok(f"CALL getUserById {uid}") == (["s", "id"], [["shadowed", str(uid)]])
        with server.client() as other:
            cols, rows = other.ok(f"CALL getUserById {uid}")
            assert rows[0][cols.index("email")] == "shadow@example.com"
        assert c.request("DEALLOCATE getUserById")[1] == "+OK 1 deallocated"
        cols, rows = c.ok(f"CALL getUserById {uid}")
        assert rows[0][cols.index("email")] == "shadow@example.com"


def test_prepare_errors(client):
    client.error("PREPARE bad AS SELEC 1", "42601")
    client.error("PREPARE nosql", "42601")
    client.error("PREPARE x SELECT 1", "42601")
    client.error("PREPARE t AS SELECT * FROM no_such_table", "42P01")   # as the statement would get
    client.error("PREPARE t AS SELECT no_such_column FROM users", "42703")
    client.error("PREPARE t AS ATTACH DATABASE ':memory:' AS other", "42501")
    client.error("CALL bad", "42883")       # a failed PREPARE leaves nothing behind
    client.error("PREPARE tx AS BEGIN", "42601")
    client.assert_usable()


def test_prepared_statements_are_freed_on_close(server):
    # Many connections each preparing statements, closed without DEALLOCATE (leaks show under ASan).
    for i in range(20):
        with server.client() as c:
            for j in range(5):
                assert c.request(f"PREPARE p{j} AS SELECT {j} + :x")[1].startswith("+OK prepared")
            assert c.scalar("CALL p3 1") == "4"


# ---------------------------------------------------------------- STATS

def test_stats_fields_and_counters(server):
    with server.client() as c:
        wait_connections(c, 1)
        s0 = c.stats()
        for name in ("uptime", "connections", "connections_total", "connections_refused", "connections_dropped",
                     "queries", "reads", "writes", "errors", "cmd_sql", "cmd_call", "cmd_prepare",
                     "cmd_deallocate", "cmd_batch", "cmd_format", "cmd_ping", "cmd_help", "cmd_quit",
                     "cmd_stats"):
            assert name in s0, f"STATS lacks {name}"
        assert s0["connections"] == 1 and s0["connections_total"] >= 1 and s0["uptime"] >= 0
        c.ping()
        c.scalar("SELECT 1")
        c.create_user("stats@example.com")
        c.request("CALL getUserById 1")
        s1 = c.stats()
        assert s1["cmd_ping"] - s0["cmd_ping"] == 1
        assert s1["cmd_sql"] - s0["cmd_sql"] == 1
        assert s1["cmd_call"] - s0["cmd_call"] == 2
        assert s1["cmd_stats"] - s0["cmd_stats"] == 1
        assert s1["queries"] - s0["queries"] == 3
        assert s1["reads"] - s0["reads"] == 2
        assert s1["writes"] - s0["writes"] == 1
        assert s1["errors"] == s0["errors"]
        c.error("SELECT * FROM nope", "42P01")
        c.error("CALL nope", "42883")
        s2 = c.stats()
        assert s2["errors"] - s1["errors"] == 2
        with server.client() as other:
            other.ping()
            s3 = c.stats()
            assert s3["connections"] == 2
            assert s3["connections_total"] == s2["connections_total"] + 1
        wait_connections(c, 1)


# ---------------------------------------------------------------- the key-value tier

@pytest.mark.parametrize("value", ["true", "false", "1.0", "0.1", "99999999999999999999", "1e400", "-0",
                                   "null", "007", '{"a":1.50}', "[1,2.0]", "word"])
def test_set_stores_the_value_as_sent(client, value):
    """SET keeps a value's text (Redis does too): decoding a number to a double and printing it
    back turned 1.0 into 1, 0.1 into 0.10000000000000001, 1e400 into inf."""
    assert client.request(f"SET kv:asis {value}") == ([], "+OK")
    assert client.request("GET kv:asis") == ([f"={value}"], "+OK 1 rows")


def test_set_decodes_a_json_string(client):
    assert client.request('SET kv:str "a b\\"c"') == ([], "+OK")
    assert client.request("GET kv:str") == (['=a b"c'], "+OK 1 rows")


@pytest.mark.parametrize("keys,deleted", [
    ("zz true", {"zz", "true"}),  # "true" is a key, not JSON true (which DEL took as key "1")
    ('a "b"', {"a", '"b"'}),      # quotes are part of the key
    ("a {b", {"a", "{b"}),        # no JSON error: 22023 before
    ("a 1.0", {"a", "1.0"}),
])
def test_del_takes_every_key_byte_for_byte(client, keys, deleted):
    for k in ("1", "b", "true", "a", '"b"', "{b", "1.0", "zz"):
        assert client.request(f"SET {k} x") == ([], "+OK")
    assert client.request(f"DEL {keys}") == ([], f"+OK {len(deleted)} deleted")
    for k in ("1", "b", "true", "a", '"b"', "{b", "1.0"):
        assert client.request(f"GET {k}")[1] == ("+OK 0 rows" if k in deleted else "+OK 1 rows"), k


def test_del_many_keys(client):
    keys = [f"kv:many:{i}" for i in range(600)]
    for k in keys[::50]:
        client.request(f"SET {k} 1")
    assert client.request("DEL " + " ".join(keys)) == ([], f"+OK {len(keys[::50])} deleted")


def test_ttl_follows_format_json(client):
    client.request("SET kv:ttl x")
    client.request("SET kv:ttl2 x EX 100")
    assert client.request("FORMAT json")[1] == "+OK format json"
    try:
        assert client.request("GET kv:ttl") == (['=["x"]'], "+OK 1 rows")
        assert client.request("TTL kv:ttl") == (["=[-1]"], "+OK 1 rows")
        assert client.request("TTL kv:absent") == (["=[-2]"], "+OK 1 rows")
        data, status = client.request("TTL kv:ttl2")
        assert status == "+OK 1 rows" and 0 < json.loads(data[0][1:])[0] <= 100
    finally:
        client.request("FORMAT tsv")
    assert client.request("TTL kv:ttl") == (["=-1"], "+OK 1 rows")
