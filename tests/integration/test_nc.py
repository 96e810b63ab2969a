"""test_nc.py - sessions driven through the real nc(1) binary, as a person would."""
import os
import shutil
import subprocess

import pytest

from conftest import strip_ms

NC = "/usr/bin/nc" if os.path.exists("/usr/bin/nc") else shutil.which("nc")
pytestmark = pytest.mark.skipif(NC is None, reason="nc is not installed")


def nc(port, text, *opts, timeout=20):
    r = subprocess.run([NC, *opts, "127.0.0.1", str(port)], input=text.encode(), capture_output=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_nc_ping_select_quit(server):
    # Exactly as a person would type it (-q 2 keeps nc up for 2 s after its input ends).
    out = nc(server.port, "PING\nSELECT 1\nQUIT\n", "-q", "2")
    assert strip_ms(out) == "+PONG\n#1\n=1\n+OK 1 rows ms=X\n+BYE\n"


def test_nc_session(server):
    script = (
        'CALL createUser "nc@example.com" "pw" "Net Cat" {"country":"NO"}\n'
        "SELECT id, email, full_name, meta, last_login FROM users WHERE email = 'nc@example.com'\n"
        "\n"
        "SELECT count(*) FROM users\n"
        "SELECT * FROM nope\n"
        "FORMAT json\n"
        "SELECT id, email, last_login FROM users\n"
        "BATCH 2\n"
        "PING\n"
        "SELECT 'a\tb'\n"
        "QUIT\n"
        "PING\n"
    )
    out = nc(server.port, script, "-N")
    assert strip_ms(out) == (
        "#id\n=1\n+OK 1 changed last_id=1 ms=X\n"
        '#id\temail\tfull_name\tmeta\tlast_login\n=1\tnc@example.com\tNet Cat\t{"country":"NO"}\t\\N\n'
        "+OK 1 rows ms=X\n"
        "#count(*)\n=1\n+OK 1 rows ms=X\n"
        "-ERR 42P01 no such table: nope\n"
        "+OK format json\n"
        '#["id","email","last_login"]\n=[1,"nc@example.com",null]\n+OK 1 rows ms=X\n'
        "+PONG\n"
        '#["\'a\\tb\'"]\n=["a\\tb"]\n+OK 1 rows ms=X\n'
        "+OK batch 2\n"
        "+BYE\n"
    )


def test_nc_half_close_without_quit(server):
    # -N shuts the socket down after stdin's EOF; the server answers everything, then closes.
    out = nc(server.port, "PING\nSELECT 2 + 2\nSELECT 'unterminated'", "-N")
    assert strip_ms(out) == "+PONG\n#2 + 2\n=4\n+OK 1 rows ms=X\n"


def test_nc_crlf(server):
    out = nc(server.port, "PING\r\nSELECT 'x'\r\nQUIT\r\n", "-N")
    assert strip_ms(out) == "+PONG\n#'x'\n=x\n+OK 1 rows ms=X\n+BYE\n"
