"""Load with wrk against a real server: no errors, no non-2xx answers, nothing dropped.

`make test` runs the short version of each; `make test-all` also runs the long soak (marked slow).
These tests check correctness under load; speed is measured by `bench/`, never asserted here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server

Factory = Callable[..., Server]
WRK = shutil.which("wrk")
needs_wrk = pytest.mark.skipif(WRK is None, reason="wrk is not installed (make test installs it)")

PIPELINE_LUA = """
local r = {}
for i = 1, 8 do r[i] = wrk.format("GET", "/environ?n=" .. i, { Host = "localhost" }) end
local batch = table.concat(r)
request = function() return batch end
"""

KINDS = {
    "sync": ["--worker-class", "sync", "--workers", "2"],
    "gthread": ["--worker-class", "gthread", "--threads", "4", "--workers", "2"],
}


def run_wrk(server: Server, seconds: int, connections: int, extra: list[str]) -> dict[str, int]:
    assert WRK is not None
    out = subprocess.run(
        [
            WRK,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            *extra,
            f"http://{server.address}/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def check_load(server_factory: Factory, kind: str, seconds: int, tmp_path: Path) -> None:
    server = server_factory([*KINDS[kind], "--keep-alive", "30"], app="servingapp:app", tcp=True)
    script = tmp_path / "pipeline.lua"
    script.write_text(PIPELINE_LUA)
    for connections, extra in (
        (50, []),
        (20, ["-H", "Connection: close"]),
        (10, ["-s", str(script)]),
    ):
        result = run_wrk(server, seconds, connections, extra)
        assert result["requests"] > 0, (extra, result)
        assert result["socket_errors"] == 0, (extra, result)
        assert result["non2xx"] == 0, (extra, result)
    assert "Traceback" not in server.log
    assert server.request("/").status == 200


@needs_wrk
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_load_short(server_factory: Factory, kind: str, tmp_path: Path) -> None:
    check_load(server_factory, kind, 2, tmp_path)


@needs_wrk
@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_load_soak(server_factory: Factory, kind: str, tmp_path: Path) -> None:
    check_load(server_factory, kind, 30, tmp_path)
