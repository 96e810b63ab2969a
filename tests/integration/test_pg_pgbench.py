"""test_pg_pgbench.py - pgbench, unmodified, against litecached: client-side (COPY) and server-side initialization, then the select-only, TPC-B-like and simple-update scripts in simple, extended and prepared modes, with zero failures and balanced books."""
import re

import pytest

from pghelp import needs_pgbench, needs_psql, pgbench, sql

pytestmark = [needs_psql, needs_pgbench]

DURATION = 2  # seconds per run: 9 runs, the whole module stays well under a minute


def books(srv):
    """sum(abalance), sum(tbalance), sum(bbalance), sum(delta) as ints."""
    row = sql(srv, "/*+ nocache */ SELECT (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts), "
                   "(SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers), "
                   "(SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches), "
                   "(SELECT coalesce(sum(delta), 0) FROM pgbench_history)")[0]
    return [int(v) for v in row]


def run(srv, *args):
    out = pgbench(srv, "-n", "-c", 8, "-j", 2, "-T", DURATION, *args)
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    assert processed > 0, out
    assert failed is None or int(failed.group(1)) == 0, out
    assert "aborted" not in out, out
    return processed


def test_initialize_client_side_with_copy(server_factory):
    srv = server_factory()
    out = pgbench(srv, "-i", "-s", 1)
    assert "done in" in out and "client-side generate" in out
    assert sql(srv, "SELECT count(*) FROM pgbench_accounts") == [["100000"]]
    assert sql(srv, "SELECT count(*), sum(bid) FROM pgbench_tellers") == [["10", "10"]]
    assert books(srv) == [0, 0, 0, 0]


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp("pgbench")).start()
    out = pgbench(srv, "-i", "-s", 1, "-I", "dtGvp")
    assert "server-side generate" in out
    assert sql(srv, "SELECT count(*) FROM pgbench_accounts") == [["100000"]]
    yield srv
    srv.stop()


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_select_only(bench_server, mode):
    run(bench_server, "-S", "-M", mode)


def test_tpcb_like_balances(bench_server):
    """Every TPC-B-like transaction moves the same delta through all four tables (compared as
    changes, so the test holds whichever of this module's tests ran before it)."""
    a0, t0, b0, h0 = books(bench_server)
    n0 = int(sql(bench_server, "SELECT count(*) FROM pgbench_history")[0][0])
    done = 0
    for mode in ("simple", "extended", "prepared"):
        done += run(bench_server, "-M", mode)
    a, t, b, h = books(bench_server)
    assert a - a0 == t - t0 == b - b0 == h - h0, (a - a0, t - t0, b - b0, h - h0)
    assert int(sql(bench_server, "SELECT count(*) FROM pgbench_history")[0][0]) - n0 == done


def test_simple_update_balances(bench_server):
    a0, t0, b0, h0 = books(bench_server)
    for mode in ("simple", "extended", "prepared"):
        run(bench_server, "-N", "-M", mode)
    a, t, b, h = books(bench_server)
    # -N leaves tellers and branches alone: accounts still match the history.
    assert (t, b) == (t0, b0)
    assert a - a0 == h - h0 and a == h
