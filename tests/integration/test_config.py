"""test_config.py - settings: bad values and unknown keys stop the start (exit 2), the shipped file works."""
import re

import pytest

from conftest import REPO, run_litecached


def assert_config_error(result, *needles):
    assert result.returncode == 2, f"exit {result.returncode}, stderr {result.stderr!r}"
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one message, got {result.stderr!r}"
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    assert result.stdout == ""


@pytest.mark.parametrize("args,needle", [
    (["--port", "abc"], "--port"),
    (["--port", "0"], "--port"),
    (["--port", "65536"], "--port"),
    (["--port=-1"], "--port"),
    (["--workers", "many"], "--workers"),
    (["--max_line", "1x"], "--max_line"),
    (["--max_line", "8"], "--max_line"),
    (["--foreign_keys", "maybe"], "--foreign_keys"),
    (["--synchronous", "sometimes"], "--synchronous"),
    (["--bogus", "1"], "--bogus"),
    (["--port"], "--port"),
    (["stray"], "stray"),
])
def test_bad_command_line(tmp_path, args, needle):
    db = tmp_path / "never.db"
    r = run_litecached("--db_path", db, *args)
    assert_config_error(r, needle)
    assert not db.exists(), "a config error must start nothing"


def test_bad_config_file_line(tmp_path):
    db = tmp_path / "never.db"
    conf = tmp_path / "bad.conf"
    conf.write_text(f"# comment\nport = 6000\ndb_path = {db}\nthis line is wrong\n")
    r = run_litecached("-c", conf)
    assert_config_error(r, f"{conf}:4")
    assert not db.exists()


@pytest.mark.parametrize("body,lineno,key", [
    ("port = 6000\nbogus = 1\n", 2, "bogus"),
    ("workers = 2\n\nport = seventy\n", 3, "port"),
    ("[server]\nport = 6000\n", 1, ""),
    ("max_connections = 0\n", 1, "max_connections"),
])
def test_bad_config_file_values(tmp_path, body, lineno, key):
    conf = tmp_path / "bad.conf"
    conf.write_text(body)
    r = run_litecached("-c", conf)
    assert_config_error(r, f"{conf}:{lineno}", key)


def test_missing_config_file(tmp_path):
    r = run_litecached("-c", tmp_path / "nope.conf")
    assert r.returncode == 2
    assert "nope.conf" in r.stderr


def test_shipped_config_works(server_factory, tmp_path):
    conf = REPO / "config" / "litecached.conf"
    assert conf.exists()
    # The file sets port 5433 and data.db; the command line (given before -c here) still wins.
    srv = server_factory("-c", conf)
    with srv.client() as c:
        c.assert_usable()
        assert c.create_user("conf@example.com") == 1
    assert srv.db_path.exists()


def test_command_line_overrides_config_file(server_factory, tmp_path):
    conf = tmp_path / "small.conf"
    conf.write_text("max_line = 64k\nmax_batch = 5\n")
    srv = server_factory("-c", conf, "--max_batch", "3")
    with srv.client() as c:
        assert "max_batch (3)" in c.error("BATCH 4", "54000")
        c.send("BATCH 3", "SELECT 1", "SELECT 2", "SELECT 3")
        for _ in range(3):
            c.read_response()
        assert c.read_response() == ([], "+OK batch 3")
        # max_line came from the file.
        c.error("SELECT '" + "x" * 70000 + "'", "54000")
        c.assert_usable()


def test_equals_form_on_the_command_line(server_factory):
    srv = server_factory("--max_batch=2")
    with srv.client() as c:
        c.error("BATCH 3", "54000")


def test_help():
    r = run_litecached("--help")
    assert r.returncode == 0
    assert "--port" in r.stdout and "--db_path" in r.stdout and "--max_line" in r.stdout
    assert run_litecached("-h").stdout == r.stdout


def test_version():
    r = run_litecached("--version")
    assert r.returncode == 0
    assert re.match(r"^litecached \d+\.\d+\.\d+", r.stdout), r.stdout
    assert run_litecached("-V").returncode == 0
