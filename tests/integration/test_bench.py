"""test_bench.py - litecached-bench against a live server: what it reports matches the server's STATS.

Each workload runs for about a second with --json. The test takes its own STATS before and after the
tool runs: the server's queries/reads/writes deltas must equal what the tool says it sent (its set-up
and warming included; STATS requests are not queries), and the tool's own STATS delta over the
measured run must equal the requests it sent times the queries per request. Where the server reports
cache counters, a hit run must be (almost) all hits and mixed must come near its target ratio. A run
against a stopped server, or one whose requests fail, exits non-zero and says so on stderr.
"""
import json
import os
import pathlib
import signal
import subprocess

import pytest

from conftest import BENCH_BIN, REPO, make_env, wait_until

POPULATE = ("--populate", 3000, "--populate-connections", 3)   # 3,000 users: 15,000 rows
QUICK = ["--duration", "1", "--warmup", "0.2", "--connections", "4", "--depth", "4", "--threads", "2"]


@pytest.fixture(scope="module")
def bench_bin():
    """`make test` builds the server and the unit tests, not the tool: build it here (a no-op when
    up to date) unless a binary was named explicitly."""
    if not os.environ.get("LITECACHED_BENCH_BIN"):
        r = subprocess.run(["make", "-s", "litecached-bench"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"make litecached-bench failed:\n{r.stdout}\n{r.stderr}"
    assert pathlib.Path(BENCH_BIN).exists(), BENCH_BIN
    return BENCH_BIN


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory, bench_bin):
    """One server for the workload runs, populated once by the tool itself (test_populate checks
    that on a server of its own, so each test here can also run alone)."""
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("bench")).start()
    r = run_bench(srv.port, *POPULATE)
    assert r.returncode == 0, r.stderr
    yield srv
    try:
        srv.stop()
    finally:
        srv.kill()


def run_bench(port, *args, timeout=60):
    return subprocess.run([BENCH_BIN, "--port", str(port), *[str(a) for a in args]], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def run_json(srv, *args):
    """Run the tool with --json between two STATS snapshots of the test's own; returns
    (parsed JSON, server delta dict)."""
    with srv.client() as c:
        before = c.stats()
        r = run_bench(srv.port, *args, "--json")
        after = c.stats()
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    out = json.loads(r.stdout)
    delta = {k: after[k] - before[k] for k in after if k in before}
    return out, delta


def check_row(row, qpr=1):
    """The tool's own accounting: errors none, STATS delta over the run = requests sent x qpr."""
    assert row["errors"] == 0 and row["lost"] == 0 and row["connection_failures"] == 0, row
    assert row["first_error"] is None, row
    assert row["queries_per_request"] == qpr
    assert row["requests"] > 0 and row["requests_per_s"] > 0
    assert row["completed"] == row["sent"]
    assert row["requests"] <= row["sent"]
    lat = row["latency_us"]
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    sd = row["stats_delta"]
    assert sd is not None
    assert sd["queries"] == row["sent"] * qpr, (sd, row["sent"])
    assert sd["errors"] == 0


def check_totals(rows, delta):
    """The test's STATS delta over the whole invocation = everything the tool says it sent."""
    sent = {k: sum(r["tool_sent"][k] for r in rows) for k in ("queries", "reads", "writes")}
    for k in ("queries", "reads", "writes"):
        assert delta[k] == sent[k], f"{k}: server counted {delta[k]}, tool sent {sent[k]}"
    assert delta["errors"] == 0


def hits_of(row):
    return row["stats_delta"].get("cache_hits")


def test_populate(server_factory, bench_bin):
    srv = server_factory()
    out, delta = run_json(srv, *POPULATE)
    pop = out["populate"]
    assert out["workload"] == "populate"
    assert pop["users"] == 3000 and pop["rows"] == 15000 and pop["first_id"] == 1
    assert pop["seconds"] > 0
    with srv.client() as c:
        assert c.count("users") == 3000
        assert c.count("items") == 6000
        assert c.count("posts") == 6000
        assert c.scalar("SELECT users FROM global_stats") == "3000"
    # each BATCH line is one write (a CALL of a PREPAREd 50-row INSERT: users + items + posts), plus
    # one max(id) read; the PREPAREs are commands, not queries
    assert delta["writes"] == 60 + 120 + 120
    assert delta["reads"] == 1 and delta["queries"] == delta["writes"] + 1


def test_hit(bench_server):
    out, delta = run_json(bench_server, "hit", *QUICK, "--keys", 300)
    check_row(out)
    check_totals([out], delta)
    # set-up warmed each of the 300 keys twice (cache_admission), on top of one max(id) lookup
    assert out["tool_sent"]["queries"] == out["sent"] + 2 * 300 + 1
    h = hits_of(out)
    if h is not None:
        assert h >= 0.99 * out["sent"], f"{h} hits for {out['sent']} lookups"
        assert out["hit_ratio"] > 0.99


def test_hit_rowbytes(bench_server):
    out, delta = run_json(bench_server, "hit", *QUICK, "--keys", 200, "--row-bytes", 100)
    check_row(out)
    check_totals([out], delta)
    with bench_server.client() as c:
        assert c.scalar("SELECT count(*) FROM bench_kv") == "200"
        assert c.scalar("SELECT min(length(v)) = 100 AND max(length(v)) = 100 FROM bench_kv") == "1"


def test_miss(bench_server):
    out, delta = run_json(bench_server, "miss", *QUICK)
    check_row(out)
    check_totals([out], delta)
    h = hits_of(out)
    if h is not None:
        assert h <= 0.01 * out["sent"] + 5, f"miss run got {h} hits"


def test_miss_call_prepares_again_after_passing_over_every_id(bench_server):
    """A bug fixed: a connection that had looked up every id PREPAREd its next salted lookup under
    the name it already had, and got 42P05 (it showed once misses passed 20,000 per connection)."""
    with bench_server.client() as c:
        users = int(c.scalar("SELECT max(id) FROM users"))
    conns = 4
    requests = 3 * users   # each connection passes over every id about three times
    out, delta = run_json(bench_server, "miss", "--call", "--requests", requests, "--connections", conns,
                          "--depth", 4, "--threads", 2, "--warmup", 0)
    assert out["errors"] == 0 and out["first_error"] is None, out
    assert delta["errors"] == 0
    # every connection went past the end of the ids at least twice (the PREPAREs are not reads)
    assert delta["reads"] >= requests - 4 * conns, (delta["reads"], requests)
    h = hits_of(out)
    if h is not None:
        assert h <= 0.01 * out["sent"] + 5, f"miss run got {h} hits"


def test_mixed(bench_server):
    out, delta = run_json(bench_server, "mixed", *QUICK, "--keys", 200, "--hit-ratio", 0.5)
    check_row(out)
    check_totals([out], delta)
    assert out["hit_ratio_target"] == 0.5
    if hits_of(out) is not None and out["hit_ratio"] is not None:
        assert abs(out["hit_ratio"] - 0.5) < 0.05, out["hit_ratio"]


def test_mixed_list(bench_server, tmp_path):
    svg = tmp_path / "mixed.svg"
    out, delta = run_json(bench_server, "mixed", "--duration", 0.4, "--warmup", 0, "--connections", 2,
                          "--keys", 100, "--hit-ratio", "0,1", "--plot", svg)
    assert [r["hit_ratio_target"] for r in out] == [0, 1]
    for r in out:
        check_row(r)
    check_totals(out, delta)
    assert svg.read_text().startswith("<svg")


def test_write(bench_server):
    with bench_server.client() as c:
        c.request("CREATE TABLE IF NOT EXISTS bench_w(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)")
        rows_before = c.count("bench_w")
    out, delta = run_json(bench_server, "write", *QUICK, "--value-size", 50)
    check_row(out)
    check_totals([out], delta)
    assert out["stats_delta"]["writes"] == out["sent"]
    with bench_server.client() as c:
        assert c.count("bench_w") - rows_before == out["sent"]


def test_named(bench_server):
    out, delta = run_json(bench_server, "named", *QUICK, "--keys", 500)
    check_row(out)
    check_totals([out], delta)
    assert out["stats_delta"]["reads"] == out["sent"]


def test_batch(bench_server, tmp_path):
    svg = tmp_path / "batch.svg"
    out, delta = run_json(bench_server, "batch", "--sizes", "1,10,50", "--duration", 0.5, "--warmup", 0.1,
                          "--connections", 3, "--keys", 300, "--plot", svg)
    assert [r["batch_size"] for r in out] == [1, 10, 50]
    for r in out:
        check_row(r, qpr=r["batch_size"])
        assert r["queries_per_s"] == pytest.approx(r["requests_per_s"] * r["batch_size"], rel=0.01, abs=2)
        assert r["per_query_us"] == pytest.approx(r["time_per_request_us"] / r["batch_size"], rel=0.01, abs=0.01)
    check_totals(out, delta)
    assert "<polyline" in svg.read_text()


def test_requests_mode(bench_server):
    """--requests N measures exactly N requests."""
    out, delta = run_json(bench_server, "named", "--requests", 500, "--warmup", 0, "--connections", 3,
                          "--depth", 2, "--keys", 100)
    check_row(out)
    assert out["requests"] == 500 and out["sent"] == 500
    check_totals([out], delta)


def test_inproc(bench_server):
    """The in-process baseline reads the live server's database file directly."""
    r = run_bench(bench_server.port, "inproc", "--db", bench_server.db_path, "--duration", 0.5, "--warmup", 0,
                  "--threads", 2, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["workload"] == "inproc" and out["errors"] == 0
    assert out["requests"] > 1000 and out["queries_per_s"] > 0


def test_table_output(bench_server):
    r = run_bench(bench_server.port, "hit", "--duration", 0.3, "--warmup", 0, "--connections", 2, "--keys", 50)
    assert r.returncode == 0, r.stderr
    head, row = r.stdout.splitlines()[:2]
    assert head.split()[:4] == ["workload", "conns", "depth", "requests"]
    assert row.split()[0] == "hit"
    assert "\r" not in r.stdout   # no progress line when stdout is not a terminal


def test_csv_output(bench_server):
    r = run_bench(bench_server.port, "named", "--duration", 0.3, "--warmup", 0, "--connections", 2, "--csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("workload,") and lines[1].startswith("named,")


def test_stopped_server(server_factory, bench_bin):
    srv = server_factory()
    port = srv.port
    srv.stop()
    r = run_bench(port, "hit", "--duration", 0.5, "--warmup", 0)
    assert r.returncode == 1
    assert "ERROR" in r.stderr and "cannot connect" in r.stderr, r.stderr


def test_server_killed_mid_run(server_factory, bench_bin):
    """The server dies while requests are in flight: the tool notices at once (no stall until the
    end of the run), counts the connections and the unanswered requests, and exits 1."""
    srv = server_factory()
    proc = subprocess.Popen([BENCH_BIN, "--port", str(srv.port), "write", "--duration", "20", "--warmup", "0",
                             "--connections", "4", "--depth", "4", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    def writes():
        with srv.client() as c:
            return int(c.stats()["writes"])
    wait_until(lambda: writes() >= 200, timeout=10)
    assert srv.terminate(signal.SIGKILL) == -signal.SIGKILL
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1, err
    res = json.loads(out)
    assert res["connection_failures"] == 4 and res["seconds"] < 10, res
    assert res["lost"] > 0 and res["first_error"], res
    assert "ERROR" in err and "4 connections failed" in err, err


def test_failing_requests(server_factory, bench_bin):
    """Every insert violates a CHECK constraint: the run counts the -ERR replies and exits 1."""
    srv = server_factory()
    with srv.client() as c:
        c.write("CREATE TABLE bench_w(id INTEGER PRIMARY KEY, k INTEGER NOT NULL CHECK (k < 0), v TEXT NOT NULL)")
    r = run_bench(srv.port, "write", "--duration", 0.5, "--warmup", 0, "--connections", 2, "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["errors"] == out["sent"] > 0
    assert "23514" in out["first_error"]
    assert "ERROR" in r.stderr and "requests failed" in r.stderr and "23514" in r.stderr, r.stderr


def test_refused_connections(server_factory, bench_bin):
    """More connections than the server admits: the refused ones are reported, exit 1."""
    srv = server_factory("--max_connections", 2)
    r = run_bench(srv.port, "named", "--duration", 0.5, "--warmup", 0, "--connections", 4)
    assert r.returncode == 1
    # Which connection is refused first depends on when the server notices earlier ones closing:
    # the load's (counted), or the tool's set-up connection (named in the message).
    assert "ERROR" in r.stderr, r.stderr
    assert any(s in r.stderr for s in ("connections failed", "53300", "closed the connection")), r.stderr


def test_bad_usage(bench_bin):
    r = subprocess.run([BENCH_BIN, "nosuchworkload"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "unknown workload" in r.stderr


def test_goals_script_small():
    """bench/goals.sh (`make bench-goals`), small and without Redis: it starts its servers, runs every
    pair in interleaved rounds (the side-by-side misses in twice as many), counts a miss's
    instructions under callgrind, and prints every row measured, each ratio the quotient of its two
    medians and each round's ratio beside it; it stops what it started."""
    env = make_env()
    r = subprocess.run(["make", "-s", "litecached", "litecached-bench"], cwd=REPO, capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    env.update(GOALS_REDIS="0", GOALS_DURATION="1", GOALS_USERS="2000", GOALS_ROUNDS="2",
               MI_USERS="2000", MI_WARM="2000", MI_MISSES="1000")
    r = subprocess.run(["bench/goals.sh"], cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in r.stdout.splitlines()
            if ln.startswith("| ") and not ln.startswith("| goal")]
    assert len(rows) == 20, r.stdout
    compared = 0
    for what, measured, against, ratio, each in rows:
        if measured.startswith("left out"):
            assert what.startswith("reference") and not (against or ratio or each)
            continue
        assert float(measured) > 0, what
        if not against:
            continue  # the populate time and the cached BATCH rate stand alone
        assert abs(float(ratio) - float(measured) / float(against)) < 0.006, (what, measured, against, ratio)
        if "callgrind" in what:  # one count per side: the cache-on server runs more instructions a miss
            assert each == "one count" and float(measured) > float(against), (what, measured, against)
            compared += 1
            continue
        rounds = 4 if "at the same time" in what or "side by side" in what else 2
        assert len(each.split(", ")) == rounds and all(float(x) > 0 for x in each.split(", ")), (what, each)
        compared += 1
    assert compared == 13, r.stdout
    assert "medians of 2 interleaved runs" in r.stdout
    leftover = subprocess.run(["pgrep", "-f", "litecached --port .* --unix_socket_dir /tmp/lc-goals"],
                              capture_output=True, text=True)
    assert leftover.stdout == "", "goals.sh left servers running: " + leftover.stdout
    leftover = subprocess.run(["pgrep", "-f", "callgrind-out-file=/tmp/lc-mi"], capture_output=True, text=True)
    assert leftover.stdout == "", "miss_instr.sh left servers running: " + leftover.stdout
