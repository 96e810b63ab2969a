"""test_ops.py - running litecached as a daemon: /metrics, /health, /stats over real HTTP, log_file and
SIGUSR1, the slow-query log, SIGHUP reloads, EXPLAIN, --check-config, sd_notify, make install."""
import fcntl
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import BENCH_BIN, BIN, READ_OK, REPO, free_port, make_env, run_litecached, wait_until

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
SLOW_CTE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"


# ---------------------------------------------------------------- helpers

def http(port, path, method="GET"):
    """(status, content type, body text) of one request."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}, and {family: (type, help)}; asserts the format."""
    samples, families, seen_sample = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kind, name, rest = line.split(" ", 3)
            assert NAME.match(name), line
            assert name not in seen_sample, f"{kind} after samples of {name}"
            t, h = families.get(name, (None, None))
            if kind == "HELP":
                assert h is None, f"two HELP lines for {name}"
                h = rest
            else:
                assert t is None, f"two TYPE lines for {name}"
                assert rest in ("counter", "gauge", "histogram"), line
                t = rest
            families[name] = (t, h)
            continue
        assert not line.startswith("#") and line, repr(line)
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), lm.group(2))
                pos = lm.end()
        family = name
        if family not in families:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert families.get(family, ("",))[0] == "histogram", f"sample {name} of no family"
        seen_sample.add(family)
        samples[(name, frozenset(labels.items()))] = float(value)
    for name, (t, h) in families.items():
        assert t and h, f"{name}: HELP {h!r} TYPE {t!r}"
        if t == "counter":
            assert name.endswith("_total"), name
        if t == "histogram":
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items() if k[0] == name + "_bucket"))
            assert buckets and buckets[-1][0] == float("inf"), f"{name}: no +Inf bucket"
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{name}: buckets are not cumulative: {buckets}"
            assert buckets[-1][1] == samples[(name + "_count", frozenset())], f"{name}: +Inf != _count"
    return samples, families


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(port):
    status, ctype, body = http(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype, (status, ctype)
    return parse_metrics(body)[0]


def start_http(server_factory, *args, **kw):
    """A server with its HTTP endpoint on a free port: (server, http port)."""
    port = free_port()
    return server_factory("--http_port", port, *args, **kw), port


def read_status(c, sql):
    data, status = c.request(sql)
    assert READ_OK.match(status), f"{sql!r} -> {status!r}"
    return data, re.search(r" cache=(\w+)", status).group(1)


# ---------------------------------------------------------------- HTTP

def test_metrics_move_with_traffic(server_factory):
    srv, port = start_http(server_factory)
    before = scrape(port)
    _, families = parse_metrics(http(port, "/metrics")[2])
    for name in ("litecached_build_info", "litecached_requests_total", "litecached_errors_total",
                 "litecached_cache_hits_total", "litecached_statement_duration_seconds",
                 "litecached_writer_group_size", "litecached_connections", "litecached_wal_bytes",
                 "litecached_checkpoints_total", "litecached_uptime_seconds"):
        assert name in families, name
    with srv.client() as c:
        for i in range(5):
            c.create_user(f"m{i}@example.com")
        assert read_status(c, "SELECT count(*) FROM users")[1] == "miss"
        assert read_status(c, "SELECT count(*) FROM users")[1] == "hit"
        c.rows("CALL getUserById 1")
        c.error("SELECT * FROM no_such_table", "42P01")
        c.error("SELECT * FROM no_such_table", "42P01")
        c.error("CALL createUser", "22023")
        after = scrape(port)
    assert metric(after, "litecached_build_info", version=run_litecached("--version").stdout.split()[1],
                  sqlite=sqlite3.sqlite_version) == 1 or any(k[0] == "litecached_build_info" for k in after)
    d = lambda name, **l: metric(after, name, **l) - metric(before, name, **l)  # noqa: E731
    assert d("litecached_requests_total", protocol="line", command="sql") == 4
    assert d("litecached_requests_total", protocol="line", command="call") == 7
    assert d("litecached_cache_hits_total", tier="1") == 1
    assert d("litecached_cache_misses_total") >= 2
    assert d("litecached_errors_total", sqlstate="42P01") == 2
    assert d("litecached_errors_total", sqlstate="22023") == 1
    assert d("litecached_queries_total", kind="write") == 5
    assert d("litecached_writer_group_size_count") >= 1
    assert d("litecached_writer_group_size_sum") == 5
    assert d("litecached_writer_jobs_total") == 5
    # 5 writes, 2 reads that ran, 1 CALL, 2 failed plain reads ran too; the hit did not run.
    assert d("litecached_statement_duration_seconds_count") >= 8
    assert metric(after, "litecached_connections_total") >= 1
    assert metric(after, "litecached_cache_entries", tier="1") >= 1
    assert metric(after, "litecached_wal_bytes") > 0


def test_health_stats_and_errors(server_factory):
    srv, port = start_http(server_factory)
    status, ctype, body = http(port, "/health")
    assert status == 200 and ctype == "application/json"
    assert body.endswith("\n") and body.count("\n") == 1
    assert json.loads(body)["status"] == "ok"
    with srv.client() as c:
        c.ping()
        c.rows("SELECT 1")
        status, ctype, body = http(port, "/stats")
        assert status == 200 and ctype == "application/json" and body.count("\n") == 1
        stats = json.loads(body)
        line_stats = c.stats()
    assert stats["cmd_ping"] == 1 and stats["cmd_sql"] == 1
    assert set(line_stats) == set(stats), "/stats and STATS list the same counters"
    assert http(port, "/nope")[0] == 404
    assert http(port, "/")[0] == 404
    for method in ("POST", "PUT", "DELETE"):
        assert http(port, "/metrics", method)[0] == 405
    assert http(port, "/metrics?x=1")[0] == 200


def test_health_503_when_the_database_is_locked(server_factory):
    srv, port = start_http(server_factory)
    assert http(port, "/health")[0] == 200
    # Root ignores file permissions, and `PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE` cannot be
    # had while the server's connections hold the WAL open. What every reader needs is one of the
    # WAL-index locks (bytes 120..127 of the -shm file, SQLite's unix VFS): hold them all.
    fd = os.open(f"{srv.db_path}-shm", os.O_RDWR)
    try:
        wait_until(lambda: try_lock(fd), what="the WAL-index locks")
        t0 = time.monotonic()
        status, _, body = http(port, "/health")
        took = time.monotonic() - t0
        assert status == 503, body
        doc = json.loads(body)
        assert doc["status"] == "unavailable" and doc["error"], doc
        assert took < 5, f"/health took {took:.1f} s: it must answer by its deadline"
        # The main loop stayed free meanwhile: /metrics answers at once.
        assert http(port, "/metrics")[0] == 200
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 8, 120)
        os.close(fd)
    wait_until(lambda: http(port, "/health")[0] == 200, timeout=30, interval=0.5, what="/health to recover")


def try_lock(fd):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120)
        return True
    except OSError:
        return False


def test_health_503_when_the_file_is_not_a_database(server_factory, tmp_path):
    srv, port = start_http(server_factory)
    # The database (and its WAL, which holds page 1 too) moved away, garbage in its place: the
    # server's own connections keep the old files open; a fresh one finds no database.
    files = [srv.db_path, pathlib.Path(f"{srv.db_path}-wal"), pathlib.Path(f"{srv.db_path}-shm")]
    aside = tmp_path / "aside"
    aside.mkdir()
    for f in files:
        os.rename(f, aside / f.name)
    try:
        srv.db_path.write_bytes(b"this is not a database\n" * 1000)
        status, _, body = http(port, "/health")
        assert status == 503, body
        assert json.loads(body) == {**json.loads(body), "status": "unavailable"} and "not a database" in body
        os.unlink(srv.db_path)
        status, _, body = http(port, "/health")
        assert status == 503 and "unable to open" in body, body
    finally:
        for f in files:
            os.rename(aside / f.name, f)
    assert http(port, "/health")[0] == 200


def test_http_port_taken_stops_the_start(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        r = subprocess.run([BIN, "--port", str(free_port()), "--db_path", str(tmp_path / "d.db"),
                            "--http_port", str(taken)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"cannot listen on http 127.0.0.1:{taken}" in r.stderr


# ---------------------------------------------------------------- logs

def test_log_file_and_sigusr1_reopen(server_factory, tmp_path):
    log = tmp_path / "lc.log"
    srv = server_factory("--log_file", log, "--slow_query_ms", "0")
    wait_until(lambda: log.exists() and "listening on" in log.read_text(), what="the start in log_file")
    with srv.client() as c:
        c.rows("SELECT 'before rotation'")
        wait_until(lambda: "slow query:" in log.read_text(), what="a line for the statement")
        rotated = tmp_path / "lc.log.1"
        os.rename(log, rotated)
        os.kill(srv.pid, signal.SIGUSR1)
        wait_until(lambda: log.exists() and "log file reopened" in log.read_text(), what="a new log file")
        size = rotated.stat().st_size
        c.rows("SELECT 'after rotation'")
        wait_until(lambda: "slow query:" in log.read_text(), what="the statement in the new file")
    assert rotated.stat().st_size == size, "the old file stopped growing"
    line = next(l for l in log.read_text().splitlines() if "slow query:" in l)
    # timestamp, level, connection id, message
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  c\d+ slow query: ms=", line), line
    assert "listening on" not in log.read_text()


def test_slow_query_log(server_factory, tmp_path):
    log = tmp_path / "slow.log"
    srv = server_factory("--log_file", log, "--slow_query_ms", "20")
    with srv.client() as c:
        c.rows("SELECT 1 + 1")
        assert c.scalar(SLOW_CTE) == "3000000"
        c.request("PREPARE slow AS " + SLOW_CTE.replace("3000000", "?"))
        c.rows("CALL slow 2500000")
        wait_until(lambda: log.read_text().count("slow query:") >= 2, what="two slow-query lines")
    lines = [l for l in log.read_text().splitlines() if "slow query:" in l]
    assert len(lines) == 2, lines
    plain, call = lines
    m = re.search(r"slow query: ms=(\d+\.\d+) rows=1 cache=(\w+)", plain)
    assert m and float(m.group(1)) >= 20 and m.group(2) == "miss", plain
    assert "sql=WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + ? FROM c WHERE x < ?) SELECT count(*) FROM c" in plain
    assert "3000000" not in plain and "SELECT 1 + 1" not in log.read_text()
    assert "call=slow args=[?]" in call and "2500000" not in call


def test_slow_query_log_with_parameters(server_factory, tmp_path):
    log = tmp_path / "slow.log"
    srv = server_factory("--log_file", log, "--slow_query_ms", "20", "--log_parameters", "on", "--cache_mode", "off")
    with srv.client() as c:
        c.request("PREPARE slow AS " + SLOW_CTE.replace("3000000", "?") + " WHERE ? IS NOT NULL")
        c.rows('CALL slow 2500000 "a \\"quoted\\" word"')
        wait_until(lambda: "slow query:" in log.read_text(), what="a slow-query line")
    line = next(l for l in log.read_text().splitlines() if "slow query:" in l)
    assert 'args=[2500000,"a \\"quoted\\" word"]' in line and "cache=off" in line, line
    assert "SELECT 1 UNION ALL" in line


# ---------------------------------------------------------------- SIGHUP

def test_sighup_reloads_live_settings(server_factory, tmp_path):
    conf = tmp_path / "lc.conf"
    conf.write_text("cache_ttl = 60\nlog_level = info\ncache_shards = 16\n")
    srv, port = start_http(server_factory, "-c", conf)
    with srv.client() as c:
        assert read_status(c, "SELECT 1 + 41")[1] == "miss"
        conf.write_text("cache_ttl = 1\nlog_level = debug\ncache_shards = 32\n")
        os.kill(srv.pid, signal.SIGHUP)
        wait_until(lambda: "read again" in srv.stderr(), what="the reload")
        err = srv.stderr()
        assert "reload: cache_ttl changed from 60 to 1" in err
        assert "reload: cache_shards changed: needs a restart" in err
        # The command line still wins: the file never set port, and a reload does not touch it.
        assert "port changed" not in err
        # TTL 1 s from now on.
        assert read_status(c, "SELECT 2 + 40")[1] == "miss"
        assert read_status(c, "SELECT 2 + 40")[1] == "hit"
        wait_until(lambda: read_status(c, "SELECT 2 + 40")[1] == "miss", timeout=5, interval=0.2,
                   what="the entry to expire after 1 s")
        # log_level debug: connection closes are logged now.
        with srv.client() as c2:
            c2.ping()
        wait_until(lambda: " DEBUG " in srv.stderr(), what="a DEBUG line")
        # A bad file changes nothing.
        conf.write_text("cache_ttl = 0\n")
        os.kill(srv.pid, signal.SIGHUP)
        wait_until(lambda: "reload failed" in srv.stderr(), what="the failed reload")
        assert "cache_ttl" in srv.stderr().split("reload failed")[1]
        c.assert_usable()
        assert read_status(c, "SELECT 3 + 39")[1] == "miss"
        assert read_status(c, "SELECT 3 + 39")[1] == "hit"
        wait_until(lambda: read_status(c, "SELECT 3 + 39")[1] == "miss", timeout=5, interval=0.2,
                   what="TTL still 1 s")
    samples = scrape(port)
    assert metric(samples, "litecached_config_reloads_total", result="ok") == 1
    assert metric(samples, "litecached_config_reloads_total", result="error") == 1


def test_sighup_slow_query_ms_and_limits(server_factory, tmp_path):
    conf = tmp_path / "lc.conf"
    log = tmp_path / "lc.log"
    conf.write_text(f"slow_query_ms = -1\nmax_batch = 10\nlog_file = {log}\n")
    srv = server_factory("-c", conf)
    with srv.client() as c:
        c.rows(SLOW_CTE)
        c.error("BATCH 20", "54000")
        conf.write_text(f"slow_query_ms = 10\nmax_batch = 100\nlog_file = {log}\n")
        os.kill(srv.pid, signal.SIGHUP)
        wait_until(lambda: "read again" in log.read_text(), what="the reload")
        c.rows(SLOW_CTE.replace("3000000", "2900000"))
        wait_until(lambda: "slow query:" in log.read_text(), what="the slow-query log, now on")
        c.send("BATCH 20", *["SELECT 1"] * 20)
        for _ in range(20):
            c.read_response()
        assert c.read_response() == ([], "+OK batch 20")


def test_sighup_raises_cache_max_entry_bytes(server_factory, tmp_path):
    conf = tmp_path / "lc.conf"
    conf.write_text("cache_max_entry_bytes = 1k\n")
    srv = server_factory("-c", conf)
    big = "SELECT replace(printf('%3000s', ''), ' ', 'x') AS v"
    value = "x" * 3000
    with srv.client() as c:
        assert read_status(c, big)[1] == "miss"
        assert read_status(c, big)[1] == "miss"
        too_big = c.error(f"SET k {value}", "53200")
        conf.write_text("cache_max_entry_bytes = 1m\n")
        os.kill(srv.pid, signal.SIGHUP)
        wait_until(lambda: "read again" in srv.stderr(), what="the reload")
        assert "reload: cache_max_entry_bytes changed from 1k to 1m" in srv.stderr()
        assert read_status(c, big)[1] == "miss"
        data, state = read_status(c, big)
        assert state == "hit" and value in data[-1]
        assert c.request(f"SET k {value}") == ([], "+OK")
        assert c.request("GET k") == ([f"={value}"], "+OK 1 rows")
    assert "cache_max_entry_bytes" in too_big, too_big  # the setting that refused it, not cache_max_bytes


def test_sighup_without_a_file(server_factory):
    srv = server_factory()
    os.kill(srv.pid, signal.SIGHUP)
    wait_until(lambda: "reload failed" in srv.stderr(), what="the failed reload")
    assert "without -c" in srv.stderr()
    with srv.client() as c:
        c.assert_usable()


# ---------------------------------------------------------------- EXPLAIN

def test_explain_is_never_cached(server_factory):
    srv = server_factory()
    with srv.client() as c:
        c.create_user("e@example.com")
        for _ in range(2):
            data, state = read_status(c, "EXPLAIN QUERY PLAN SELECT * FROM users WHERE id = 1")
            assert state == "off"
            assert data[0] == "#id\tparent\tnotused\tdetail"
            assert any("users" in line for line in data[1:]), data
        for _ in range(2):
            data, state = read_status(c, "EXPLAIN SELECT email FROM users WHERE id = 1")
            assert state == "off" and data[0].startswith("#addr\topcode")
        # EXPLAIN of a write explains it and changes nothing.
        data, state = read_status(c, "EXPLAIN INSERT INTO users(email, password_hash) VALUES ('x@y', 'h')")
        assert state == "off" and len(data) > 1
        assert c.count("users") == 1
        # The same through nc, as a person would type it.
    if shutil.which("nc"):
        r = subprocess.run(["nc", "-q", "1", "127.0.0.1", str(srv.port)], input="EXPLAIN QUERY PLAN SELECT * FROM users\n",
                           capture_output=True, text=True, timeout=20)
        assert "SCAN users" in r.stdout and "cache=off" in r.stdout, r.stdout


# ---------------------------------------------------------------- --check-config

def test_check_config_checks_query_files(tmp_path):
    good = tmp_path / "good.sql"
    good.write_text("-- name: byEmail\nSELECT id FROM users WHERE email = :email;\n")
    bad = tmp_path / "bad.sql"
    bad.write_text("-- name: fine\nSELECT 1;\n\n-- name: broken\nSELECT * FROM no_such_table;\n")
    db = tmp_path / "d.db"
    r = run_litecached("--check-config", "--db_path", db, "--query_files", good)
    assert r.returncode == 0 and "is valid" in r.stdout, r.stderr
    r = run_litecached("--check-config", "--db_path", db, "--query_files", f"{good},{bad}")
    assert r.returncode == 2 and "bad.sql:4" in r.stderr and "broken" in r.stderr and "no_such_table" in r.stderr
    r = run_litecached("--check-config", "--db_path", db, "--query_files", tmp_path / "missing.sql")
    assert r.returncode == 2 and "missing.sql" in r.stderr
    r = run_litecached("--check-config", "--db_path", db, "--log_file", tmp_path / "nodir" / "x.log")
    assert r.returncode == 2 and "log_file" in r.stderr
    r = run_litecached("--check-config", "--db_path", tmp_path / "nodir" / "d.db")
    assert r.returncode == 2 and "db_path" in r.stderr
    assert not db.exists(), "checking creates no database"


def test_check_config_sees_tables_of_the_live_database(server_factory, tmp_path):
    srv = server_factory()
    with srv.client() as c:
        c.write("CREATE TABLE extra(id INTEGER PRIMARY KEY, v TEXT)")
    q = tmp_path / "extra.sql"
    q.write_text("-- name: extraById\nSELECT v FROM extra WHERE id = :id;\n")
    r = run_litecached("--check-config", "--db_path", srv.db_path, "--query_files", q)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- systemd

def test_sd_notify(server_factory, tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        conf = tmp_path / "lc.conf"
        conf.write_text("cache_ttl = 5\n")
        srv = server_factory("-c", conf)
        assert sock.recv(4096) == b"READY=1"
        os.kill(srv.pid, signal.SIGHUP)
        msg = sock.recv(4096).decode()
        assert msg.startswith("RELOADING=1\nMONOTONIC_USEC="), msg
        assert sock.recv(4096) == b"READY=1"
        srv.stop()
        assert sock.recv(4096) == b"STOPPING=1"


def test_the_sanitizer_build_has_its_own_load_generator():
    """test-asan once relinked ./litecached-bench with ASan (test_bench builds the tool, and make's
    variables reach that nested make), and `make bench-goals` then measured with a generator a
    quarter slower. The sanitizer build must name its own, and hand that name to the tests."""
    r = subprocess.run(["make", "-n", "-B", "test-asan"], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env=make_env())
    assert r.returncode == 0, r.stderr
    links = [ln for ln in r.stdout.splitlines() if " -o litecached-bench" in ln]
    assert links and all("-fsanitize=address" in ln and " -o litecached-bench-asan " in ln for ln in links), links
    assert f"LITECACHED_BENCH_BIN={REPO}/litecached-bench-asan " in r.stdout, r.stdout[-2000:]


def shell_scripts():
    """Every shell script of the repository: *.sh, and files whose first line names sh or bash."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            first = f.readline()
        if name.endswith(".sh") or re.match(rb"#!\s*/\S*(/env\s+)?(ba)?sh\b", first):
            found.append(name)
    return found


def test_shell_scripts_pass_shellcheck():
    """The bench scripts run only when someone benchmarks, and CI's scripts only in CI: shellcheck
    (warnings and errors, following sourced files) is what looks at them on every test run."""
    scripts = shell_scripts()
    assert {"bench/goals.sh", "bench/compare.sh", "bench/lib.sh", "scripts/install-deps", ".ci/run"} <= set(scripts)
    r = subprocess.run(["shellcheck", "-x", "-S", "warning", *scripts], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_micro_benchmarks_build_and_run(tmp_path):
    """bench/micro holds programs outside the build: compile each against the library, warnings as
    errors, and run the cache one small (it exits 1 when a new key fails to lead its miss, or a
    stored key is not a hit)."""
    env = make_env()
    r = subprocess.run(["make", "-s", "build/liblitecached.a"], cwd=REPO, capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    sources = sorted((REPO / "bench/micro").glob("*.c"))
    assert {p.name for p in sources} >= {"cache_miss.c", "replica_layout.c"}
    for src in sources:
        exe = tmp_path / src.stem
        r = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-Iproxy", "-Icache", str(src),
                            "build/liblitecached.a", "-o", str(exe), "-lsqlite3", "-levent_pthreads", "-levent",
                            "-linih", "-lcrypto", "-pthread", "-lm"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, src.name + ": " + r.stderr
    for admission in ("always", "repeat"):
        r = subprocess.run([tmp_path / "cache_miss", "4", "100000", admission], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        stats = re.search(r"tier 1: (\d+) entries, (\d+) bytes, (\d+) evictions, (\d+) refused; 4 MiB cap", r.stdout)
        assert stats, r.stdout
        entries, used, evictions, refused = (int(x) for x in stats.groups())
        # 150,000 new keys through a 4 MiB hot map: full, never over its cap, and every key beyond it
        # evicted one (always) or was turned away, evicting nothing (repeat: none came back)
        assert 0 < used <= 4 << 20, r.stdout
        if admission == "always":
            assert entries + evictions == 150000 and refused == 0, r.stdout
        else:
            assert entries + refused == 150000 and evictions == 0, r.stdout
        assert "hit (" in r.stdout and "miss, whole round" in r.stdout


def test_reverse_order_runs_each_files_tests_last_to_first():
    """make test-asan sets LITECACHED_TEST_ORDER=reverse to catch tests that lean on the one before."""
    def collected(order):
        env = dict(os.environ, LITECACHED_TEST_ORDER=order)
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                            "tests/integration/test_pg_psql.py", "tests/integration/test_ops.py"],
                           cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        return [ln for ln in r.stdout.splitlines() if "::" in ln]
    forward, backward = collected("forward"), collected("reverse")
    psql_tests = [t for t in forward if "test_pg_psql.py" in t]
    ops_tests = [t for t in forward if "test_ops.py" in t]
    assert len(psql_tests) > 5 and len(ops_tests) > 5
    assert backward == psql_tests[::-1] + ops_tests[::-1]


def test_make_install(tmp_path):
    dest = tmp_path / "stage"
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    root = dest / "usr/local"
    binary = root / "bin/litecached"
    assert binary.exists() and os.access(binary, os.X_OK)
    assert subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.startswith("litecached ")
    if pathlib.Path(BENCH_BIN).exists():
        assert os.access(root / "bin/litecached-bench", os.X_OK)
    conf = root / "etc/litecached/litecached.conf"
    assert conf.read_text() == (REPO / "config/litecached.conf").read_text()
    for f in (REPO / "schema").glob("*.sql"):
        target = root / "share/litecached" / ("queries.sql" if f.name == "queries.sql" else f"schema/{f.name}")
        assert target.read_text() == f.read_text(), target
    man = root / "share/man/man1/litecached.1"
    text = man.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "LINE PROTOCOL", "FILES", "SIGNALS", "EXAMPLES"):
        assert f".SH {section}" in text, section
    for name in re.findall(r"^  (?:-\w, )?--([a-z_-]+)", run_litecached("--help").stdout, re.M):
        assert "\\-\\-" + name.replace("-", "\\-") in text, f"--{name} missing from the man page"
    if shutil.which("man"):
        r = subprocess.run(["man", "--warnings", "-l", str(man)], capture_output=True, text=True,
                           env={**os.environ, "MANWIDTH": "100"})
        assert r.returncode == 0 and "SIGHUP" in r.stdout and r.stderr == "", r.stderr
    unit = root / "lib/systemd/system/litecached.service"
    u = unit.read_text()
    for want in ("ExecStart=/usr/local/bin/litecached -c /usr/local/etc/litecached/litecached.conf",
                 "Restart=on-failure", "User=litecached", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "ReadWritePaths=/var/lib/litecached",
                 "StateDirectory=litecached", "WorkingDirectory=/var/lib/litecached", "LimitNOFILE=65536",
                 "Type=notify"):
        assert want in u.splitlines(), want
    # A second install keeps a config the operator edited.
    conf.write_text("port = 6000\n")
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and conf.read_text() == "port = 6000\n"
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed: the unit file was not verified")
    # verify wants the ExecStart binary to exist: point it into the staging tree.
    staged = tmp_path / "litecached.service"
    staged.write_text(u.replace("/usr/local/bin/litecached", str(binary)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(staged)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sighup_reads_users_file_again(server_factory, tmp_path):
    from pghelp import psql, sql  # noqa: E402 (PostgreSQL helpers: psql is needed here only)
    if not shutil.which("psql"):
        pytest.skip("psql is not installed")

    def user_line(user, role, pw):
        r = run_litecached("--make-verifier", pw)
        assert r.returncode == 0, r.stderr
        return f"{user} {role} {r.stdout.strip()}\n"
    users = tmp_path / "users"
    users.write_text(user_line("alice", "admin", "secret1"))
    conf = tmp_path / "lc.conf"
    conf.write_text(f"auth = scram-sha-256\nusers_file = {users}\n")
    srv = server_factory("-c", conf)
    assert sql(srv, "SELECT current_user", user="alice", env={"PGPASSWORD": "secret1"}) == [["alice"]]
    assert psql(srv, "-c", "SELECT 1", user="carol", env={"PGPASSWORD": "pw3"}, check=False).returncode != 0
    users.write_text(user_line("alice", "admin", "secret1") + user_line("carol", "readonly", "pw3"))
    os.kill(srv.pid, signal.SIGHUP)
    wait_until(lambda: "read again" in srv.stderr(), what="the reload")
    assert sql(srv, "SELECT current_user", user="carol", env={"PGPASSWORD": "pw3"}) == [["carol"]]
    # A broken users file is reported and the users stay as they were.
    users.write_text("carol superuser nonsense\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_until(lambda: "users_file not read again" in srv.stderr(), what="the refused users file")
    assert sql(srv, "SELECT current_user", user="carol", env={"PGPASSWORD": "pw3"}) == [["carol"]]
