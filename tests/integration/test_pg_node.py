"""test_pg_node.py - node-postgres (the `pg` package, pinned in pgclients/package.json) against litecached: parameters, types, transactions, errors, named statements, CALL and the shared cache. The checks live in pgclients/node_pg_test.js."""
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent / "pgclients"
NODE = shutil.which("node")
NPM = shutil.which("npm")


@pytest.fixture(scope="module")
def node_pg():
    if not NODE or not NPM:
        pytest.skip("node/npm are not installed (scripts/install-deps installs nodejs and npm)")
    if not (HERE / "node_modules" / "pg").is_dir():
        # The lock file pins every package; ci installs exactly that.
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return HERE / "node_pg_test.js"


def test_node_postgres(server, node_pg):
    r = subprocess.run([NODE, str(node_pg), str(server.port)], cwd=HERE, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    oks = [line for line in r.stdout.splitlines() if line.startswith("ok ")]
    assert r.returncode == 0, f"node-postgres checks failed after {oks}:\n{r.stdout}\n{r.stderr}"
    assert len(oks) == 6, r.stdout
