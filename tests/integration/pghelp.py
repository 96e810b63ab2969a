"""pghelp.py - helpers for the PostgreSQL-protocol tests: running psql and pgbench against a litecached Server.

psql(srv, *args, input=None, user="postgres", port=None, host="127.0.0.1", env=None, check=True) -> CompletedProcess (text)
sql(srv, query) -> rows as lists of str (psql -At, '|' separated; NULL as the string "NULL")
line_stats(srv) -> STATS of the line protocol, for cache counters
"""
import os
import pathlib
import shutil
import subprocess

import pytest

PSQL = shutil.which("psql")
NODE = shutil.which("node")
NPM = shutil.which("npm")
PGCLIENTS = pathlib.Path(__file__).resolve().parent / "pgclients"
PGBENCH = shutil.which("pgbench")

needs_psql = pytest.mark.skipif(not PSQL, reason="psql is not installed (scripts/install-deps installs it)")
needs_pgbench = pytest.mark.skipif(not PGBENCH, reason="pgbench is not installed (scripts/install-deps)")


def pg_env(extra=None):
    env = dict(os.environ)
    # No ~/.psqlrc, no PG* variables from the caller's shell, no pager, a fixed locale.
    for k in list(env):
        if k.startswith("PG"):
            del env[k]
    env.update({"PGCONNECT_TIMEOUT": "5", "PAGER": "cat", "LC_ALL": "C.UTF-8", "PGCLIENTENCODING": "UTF8"})
    if extra:
        env.update(extra)
    return env


def psql(srv, *args, input=None, user="postgres", port=None, host="127.0.0.1", env=None, check=True, timeout=60):
    """host: an address, or a directory holding the Unix-domain socket .s.PGSQL.<port>."""
    cmd = [PSQL, "-X", "-h", str(host), "-p", str(port or srv.port), "-U", user, "-d", "postgres",
           "-v", "ON_ERROR_STOP=1", *[str(a) for a in args]]
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=pg_env(env),
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"{cmd} -> {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def sql(srv, query, **kw):
    out = psql(srv, "-At", "-P", "null=NULL", "-c", query, **kw).stdout
    return [line.split("|") for line in out.splitlines()]


def pgbench(srv, *args, timeout=120):
    cmd = [PGBENCH, "-h", "127.0.0.1", "-p", str(srv.port), "-U", "postgres", *[str(a) for a in args], "postgres"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=pg_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{cmd} -> {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout + r.stderr


def line_stats(srv):
    with srv.client() as c:
        return c.stats()


def run_node(script, *args, timeout=60):
    """Run pgclients/<script> with node-postgres installed (npm ci from the lock file on first use);
    skips when node/npm are missing. Returns the CompletedProcess (text)."""
    if not NODE or not NPM:
        pytest.skip("node/npm are not installed (scripts/install-deps installs nodejs and npm)")
    if not (PGCLIENTS / "node_modules" / "pg").is_dir():
        # The lock file pins every package; ci installs exactly that.
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=PGCLIENTS, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return subprocess.run([NODE, script, *[str(a) for a in args]], cwd=PGCLIENTS, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
