"""test_pg_node.py - node-postgres (the `pg` package, pinned in pgclients/package.json) against litecached: parameters, types, transactions, errors, named statements, CALL and the shared cache. The checks live in pgclients/node_pg_test.js."""
from pghelp import run_node


def test_node_postgres(server):
    r = run_node("node_pg_test.js", server.port)
    oks = [line for line in r.stdout.splitlines() if line.startswith("ok ")]
    assert r.returncode == 0, f"node-postgres checks failed after {oks}:\n{r.stdout}\n{r.stderr}"
    assert len(oks) == 6, r.stdout
