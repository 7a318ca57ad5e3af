"""Logs and metrics of a real server: access log, USR1 rotation, syslog and StatsD on real sockets."""

from __future__ import annotations

import json
import re
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Server, parse_response, wait_for

Factory = Callable[..., Server]

CLF = re.compile(
    r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"GET /x\?y=1 HTTP/1\.1" 200 \d+ "-" "-"$'
)


def lines(path: Path) -> list[str]:
    """The complete lines of a log file the server may be writing to right now (a line still being
    written, with no newline yet, is left for the next look)."""
    if not path.exists():
        return []
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def raw_get(server: Server, path: str, *headers: str) -> int:
    with server.connect() as sock:
        head = "".join(f"{h}\r\n" for h in headers)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return parse_response(data).status


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def receive_until(
    sock: socket.socket, wanted: Callable[[list[str]], bool], timeout: float = 10.0
) -> list[str]:
    got: list[str] = []
    sock.settimeout(timeout)
    while not wanted(got):
        got.append(sock.recv(65536).decode())
    return got


def test_access_log_lines_in_gunicorns_format(server_factory: Factory, tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    server = server_factory(["--access-logfile", str(access)], tcp=True)
    assert server.request("/x?y=1").status == 200
    wait_for(lambda: any("/x?y=1" in line for line in lines(access)), what="the access line")
    (line,) = [line for line in lines(access) if "/x?y=1" in line]
    assert CLF.match(line), line


def test_pipelined_burst_every_line_in_order(server_factory: Factory, tmp_path: Path) -> None:
    # Lines are held while the worker has events to handle and written when it would wait, or when 16 KiB
    # are held: 300 pipelined requests (~30 KiB of lines) take both ways out; none is lost or reordered.
    access = tmp_path / "access.log"
    server = server_factory(["--access-logfile", str(access)], tcp=True)
    count = 300
    with server.connect() as sock:
        sock.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: t\r\n\r\n" % n for n in range(count)))
        data = b""
        while data.count(b"HTTP/1.1 200") < count:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            data += chunk

    def paths() -> list[str]:  # the harness's own readiness requests are in the log too
        return [p for p in (line.split('"')[1].split()[1] for line in lines(access)) if p.startswith("/p")]

    wait_for(lambda: len(paths()) == count, what="every access line")
    assert paths() == [f"/p{n}" for n in range(count)]


@pytest.mark.parametrize("kind", ["sync", "gthread"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_held_lines_are_written_when_the_server_stops(
    server_factory: Factory, tmp_path: Path, sig: signal.Signals, kind: str
) -> None:
    # A line may be held for up to 0.1 s; a graceful (TERM) or quick (INT: workers get QUIT) stop right
    # after the response must still write it. (gthread: the signal is handled in the main thread, while
    # the loop, which holds the lines, runs in a pool thread.)
    access = tmp_path / "access.log"
    server = server_factory(["--access-logfile", str(access)], tcp=True, worker_class=kind)
    assert server.request("/last-words").status == 200
    assert server.stop(sig) == 0
    assert any("/last-words" in line for line in lines(access))


def test_no_access_log_unless_configured(server_factory: Factory) -> None:
    server = server_factory([], tcp=True)
    server.request("/quiet")
    assert server.stop() == 0
    assert "/quiet" not in server.log


def test_json_access_log_to_stdout(server_factory: Factory) -> None:
    server = server_factory(["--access-logfile", "-", "--access-logformat", "json"], tcp=True)
    assert raw_get(server, "/j?k=v", "X-Request-Id: abc-1", "User-Agent: t/1") == 200
    server.wait_log('"request_id":"abc-1"')
    (line,) = [line for line in server.log.splitlines() if "abc-1" in line]
    record = json.loads(line)
    assert record["path"] == "/j" and record["query"] == "k=v" and record["status"] == 200
    assert record["user_agent"] == "t/1" and record["remote"] == "127.0.0.1" and record["pid"] > 0


def test_usr1_rotation_loses_no_access_line(server_factory: Factory, tmp_path: Path) -> None:
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    server = server_factory(["--access-logfile", str(access), "--error-logfile", str(errors)], tcp=True)
    sent = 1  # the harness's readiness probe
    for _ in range(5):
        server.request("/before")
        sent += 1
    access.rename(tmp_path / "access.log.1")
    errors.rename(tmp_path / "error.log.1")
    server.send(signal.SIGUSR1)

    def a_line_in_the_new_file() -> bool:
        nonlocal sent
        server.request("/after")
        sent += 1
        return any("/after" in line for line in lines(access))

    wait_for(a_line_in_the_new_file, what="the worker to reopen the access log")
    # a line is written just after its response (lines of a round of events go out together)
    wait_for(lambda: len(lines(tmp_path / "access.log.1")) + len(lines(access)) == sent, what="every line")
    old, new = lines(tmp_path / "access.log.1"), lines(access)
    assert len(old) + len(new) == sent
    assert all("/after" in line for line in new)
    assert server.stop() == 0
    assert "Handling signal: usr1" in (tmp_path / "error.log.1").read_text()
    assert "Shutting down: Master" in errors.read_text()


def test_statsd_datagrams(server_factory: Factory, udp: socket.socket) -> None:
    host, port = udp.getsockname()
    server = server_factory(["--statsd-host", f"{host}:{port}", "--statsd-prefix", "shop"], tcp=True)
    server.request("/")
    wanted = {"shop.gunicorn.request.status.200:1|c|@1.0", "shop.gunicorn.workers:1|g"}
    got = receive_until(udp, lambda got: wanted <= set(got))
    assert "shop.gunicorn.requests:1|c|@1.0" in got
    assert any(re.fullmatch(r"shop\.gunicorn\.request\.duration:\d+\.\d+\|ms", d) for d in got)


def test_statsd_and_an_access_log_together(
    server_factory: Factory, udp: socket.socket, tmp_path: Path
) -> None:
    host, port = udp.getsockname()
    access = tmp_path / "access.log"
    server = server_factory(["--statsd-host", f"{host}:{port}", "--access-logfile", str(access)], tcp=True)
    server.request("/both")
    got = receive_until(udp, lambda got: "gunicorn.request.status.200:1|c|@1.0" in got)
    assert "gunicorn.requests:1|c|@1.0" in got
    wait_for(lambda: any("/both" in line for line in lines(access)), what="the access line")


def test_syslog_over_udp(server_factory: Factory, udp: socket.socket) -> None:
    host, port = udp.getsockname()
    args = ["--log-syslog", "--log-syslog-to", f"udp://{host}:{port}", "--log-syslog-prefix", "shop"]
    server = server_factory([*args, "--log-syslog-facility", "local0"], tcp=True)
    server.request("/syslogged")
    got = receive_until(udp, lambda got: any("/syslogged" in d for d in got))
    access = next(d for d in got if "/syslogged" in d)
    # <facility local0 (16) * 8 + info (6)>, Gunicorn's program name, the pid, the line, a NUL
    assert re.fullmatch(
        r'<134>gunicorn\.shop\.access: \[\d+\] 127\.0\.0\.1 - - \[.*\] "GET /syslogged HTTP/1\.1" .*\x00',
        access,
    )
    assert any(
        re.fullmatch(r"<134>gunicorn\.shop\.error: \[\d+\] Booting worker with pid: \d+\x00", d) for d in got
    )


def test_syslog_over_a_unix_socket_without_access_lines(server_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        args = [
            "--log-syslog",
            "--log-syslog-to",
            f"unix://{path}#dgram",
            "--disable-redirect-access-to-syslog",
        ]
        server = server_factory(args, tcp=True)
        server.request("/not-in-syslog")
        assert server.stop() == 0
        got = receive_until(sock, lambda got: any("Shutting down" in d for d in got))
    assert not any("/not-in-syslog" in d for d in got)
    assert all(d.startswith("<14>gunicorn.") for d in got)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--access-logfile", "/nonexistent/dir/access.log"],
            "Error: '/nonexistent/dir/access.log' isn't writable",
        ),
        (
            ["--error-logfile", "/nonexistent/dir/error.log"],
            "Error: '/nonexistent/dir/error.log' isn't writable",
        ),
        (
            ["--log-syslog", "--log-syslog-to", "tcp://127.0.0.1:1"],
            "Error: cannot reach syslog at tcp://127.0.0.1:1",
        ),
        (["--log-config", "/nonexistent.ini"], "Error: log config '/nonexistent.ini' not found"),
    ],
)
def test_bad_log_destination_is_one_clear_error(
    server_factory: Factory, args: list[str], message: str
) -> None:
    server = server_factory(args, ready=False)
    assert server.wait() == 1
    assert server.log.startswith(message)
    assert "Traceback" not in server.log


PRINTING_APP = """
import sys
def app(environ, start_response):
    print("printed by the app")
    print("to stderr", file=sys.stderr)
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


def test_capture_output_sends_prints_to_the_error_log(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "printapp.py").write_text(PRINTING_APP)
    errors = tmp_path / "error.log"
    server = server_factory(["--error-logfile", str(errors), "--capture-output"], app="printapp:app")
    server.request("/")
    wait_for(lambda: "to stderr" in errors.read_text(), what="the app's stderr in the error log")
    wait_for(lambda: "printed by the app" in errors.read_text(), what="the app's stdout in the error log")


def test_log_config_json_routes_gunicorn_loggers(server_factory: Factory, tmp_path: Path) -> None:
    out = tmp_path / "routed.log"
    config = {
        "version": 1,
        "formatters": {"tagged": {"format": "%(levelname)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(out), "formatter": "tagged"}},
        "loggers": {
            "gunicorn.access": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "gunicorn.error": {"handlers": ["file"], "level": "INFO", "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": []},
    }
    (tmp_path / "log.json").write_text(json.dumps(config))
    server = server_factory(["--log-config-json", str(tmp_path / "log.json")], tcp=True)
    server.request("/routed")
    wait_for(lambda: "/routed" in out.read_text(), what="the access line in the configured file")
    text = out.read_text()
    assert "INFO Booting worker with pid" in text
    assert re.search(r'^INFO 127\.0\.0\.1 - - \[.*\] "GET /routed HTTP/1\.1" 200', text, re.M)


LOG_INI = """
[loggers]
keys=root,access
[handlers]
keys=file
[formatters]
keys=plain
[logger_root]
level=WARNING
handlers=
[logger_access]
level=INFO
handlers=file
propagate=0
qualname=gunicorn.access
[handler_file]
class=FileHandler
formatter=plain
args=('%(here)s/ini-access.log',)
[formatter_plain]
format=ini %(message)s
"""


def test_log_config_ini(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "log.ini").write_text(LOG_INI)
    server = server_factory(["--log-config", str(tmp_path / "log.ini")], tcp=True)
    server.request("/ini")
    out = tmp_path / "ini-access.log"
    wait_for(lambda: "/ini" in "".join(lines(out)), what="the access line through the ini config")
    assert any(line.startswith("ini 127.0.0.1 - - [") for line in lines(out))


CUSTOM_LOGGER = """
from monoceros.observability.logger import Logger

class StampLogger(Logger):
    def now(self):
        return "[STAMP]"
"""


def test_logger_class_customising_gunicorns_hooks(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "stamplogger.py").write_text(CUSTOM_LOGGER)
    access = tmp_path / "access.log"
    args = ["--logger-class", "stamplogger.StampLogger", "--access-logfile", str(access)]
    server = server_factory(args, tcp=True)
    server.request("/stamped")
    wait_for(lambda: "/stamped" in "".join(lines(access)), what="the access line")
    assert any(" - - [STAMP] " in line for line in lines(access))


GUNICORN_LOGGER = """
from gunicorn.glogging import Logger

class RecordingLogger(Logger):
    def access(self, resp, req, environ, request_time):
        with open(RECORD, "a") as out:
            out.write(f"{req.method} {req.path} {resp.status} {request_time.total_seconds() >= 0}\\n")
"""


def test_a_logger_class_written_for_gunicorn_gets_every_access_call(
    server_factory: Factory, tmp_path: Path
) -> None:
    # Gunicorn's workers call log.access(resp, req, environ, request_time) for every request and let the
    # logger decide; a logger class of Gunicorn's kind (not Monoceros') is called the same way here.
    pytest.importorskip("gunicorn")
    record = tmp_path / "access.txt"
    (tmp_path / "gunilogger.py").write_text(f"RECORD = {str(record)!r}\n" + GUNICORN_LOGGER)
    server = server_factory(["--logger-class", "gunilogger.RecordingLogger"], tcp=True)
    for path in ("/one", "/two"):
        assert server.request(path).status == 200
    wait_for(lambda: "GET /two" in "".join(lines(record)), what="the access calls")
    # (the harness's readiness probe comes first)
    assert lines(record)[-2:] == ["GET /one 200 OK True", "GET /two 200 OK True"]


def test_hup_applies_a_new_access_log_setting(server_factory: Factory, tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    conf = tmp_path / "conf.py"
    conf.write_text("workers = 1\n")
    server = server_factory(["-c", str(conf)])
    server.request("/")
    conf.write_text(f"workers = 1\naccesslog = {str(access)!r}\n")
    server.send(signal.SIGHUP)
    server.wait_log("Hang up: Master")
    wait_for(lambda: server.request("/env?x").status == 200 and access.exists() and access.read_text(), 10)
    assert '"GET /env?x HTTP/1.1" 200' in access.read_text()
