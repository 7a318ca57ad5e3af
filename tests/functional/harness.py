"""Run a real `monoceros` master in a subprocess and talk to it: start, wait, request, signal, stop.

No sleep-and-hope: everything waits on a condition with a deadline (`wait_for`). No port is picked
by binding and closing a socket (another process may take it in between): a TCP server gets a socket
this process bound and hands over as `fd://N`, and a server told to bind port 0 itself is asked
where it listens (its `Listening at:` line). Every server runs in its own session (process group),
which `kill()` always SIGKILLs at teardown, after a quick stop, so a failing test never leaves a
master or a worker behind.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent

# The application the master tests run: its body names the worker that served it.
APP_SOURCE = """
import os, sys, time

def app(environ, start_response):
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    if path == "/sleep":
        print("app: /sleep?%s started" % query, file=sys.stderr, flush=True)  # what tests wait for
        time.sleep(float(query or "1"))
    if path == "/env":
        body = os.environ.get(query, "<unset>").encode()
    else:
        body = ("pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, what: str | Callable[[], str] = "condition"
) -> object:
    """Poll `predicate` until it returns something truthy; fail the test at the deadline.

    `what` names the condition in the failure; a callable is called then (e.g. to show a log as it
    is at the deadline, not as it was when the wait began).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        time.sleep(0.02)


def children_of(pid: int) -> list[int]:
    """The live (non-zombie) children of `pid`, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# The environment of a server that must run without coverage measurement, when the suite runs under
# it: one that traces itself (--spew), whose tracer and coverage's would take each other's place.
UNMEASURED = {"COVERAGE_PROCESS_START": "", "COVERAGE_PROCESS_CONFIG": ""}

# How long a teardown waits for a quick stop before it SIGKILLs: workers leave 0.1 s after SIGQUIT.
QUICK_STOP_SECONDS = 3.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def worker_pid(self) -> int:
        text = self.body.decode()
        assert text.startswith("pid="), text
        return int(text[4:])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    workdir: Path
    address: str  # "unix:/path" or "127.0.0.1:port"
    log_path: Path
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self, master: int | None = None) -> list[int]:
        return children_of(self.pid if master is None else master)

    def wait_workers(self, count: int, timeout: float = 10.0, master: int | None = None) -> list[int]:
        def enough() -> tuple[list[int]] | None:
            pids = self.workers(master)
            return (pids,) if len(pids) == count else None  # truthy even for zero workers

        result = wait_for(enough, timeout, f"{count} workers (have {self.workers(master)})")
        assert isinstance(result, tuple)
        return result[0]

    def wait_log(self, text: str, timeout: float = 10.0, count: int = 1) -> None:
        wait_for(lambda: self.log.count(text) >= count, timeout, f"{text!r} x{count} in the log")

    def reported_address(self, timeout: float = 15.0) -> str:
        """Where the master says it listens (its first listener), once it has logged it: the address
        of a server bound to port 0. Fails the test if the master exits first."""

        def reported() -> str | None:
            match = _LISTENING.search(self.log)
            if match is None and self.proc.poll() is not None:
                raise AssertionError(f"the master exited with {self.proc.returncode}:\n{self.log}")
            return match[1].split(",")[0] if match else None

        listener = wait_for(reported, timeout, lambda: f"the master's 'Listening at:' line\n{self.log}")
        assert isinstance(listener, str)
        return re.sub(r"^https?://", "", listener)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        if self.address.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: object = self.address[5:]
        else:
            host, port = self.address.rsplit(":", 1)
            family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(timeout)
        try:
            sock.connect(target)  # type: ignore[arg-type]
        except OSError:
            sock.close()
            raise
        return sock

    def request(self, path: str = "/", timeout: float = 10.0) -> Response:
        with self.connect(timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return parse_response(data)

    def try_request(self, path: str = "/", timeout: float = 10.0) -> Response | None:
        try:
            return self.request(path, timeout)
        except (OSError, ValueError):
            return None

    def send(self, sig: int, pid: int | None = None) -> None:
        os.kill(self.pid if pid is None else pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        """The master's exit status once it has exited (fails the test at the deadline)."""
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.send(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        """Teardown: a quick stop (SIGQUIT), then SIGKILL for the whole process group (master, workers,
        a re-exec'd master) whatever is left.

        The quick stop lets the processes end the normal way, which is when a coverage run saves
        what they executed; it is bounded, so a stuck server costs a few seconds at most.
        """
        masters = [pid for pid in [self.pid, *self.extra_pids] if pid_alive(pid)]
        for pid in masters:
            try:
                os.kill(pid, signal.SIGQUIT)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + QUICK_STOP_SECONDS
        while any(map(pid_alive, masters)) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in [self.pid, *self.extra_pids]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


_LISTENING = re.compile(r"Listening at: (\S+) \(\d+\)")


def parse_response(data: bytes) -> Response:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"incomplete response: {data!r}")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not a status line: {lines[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, body)


def recv_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes (a reset counts as the end)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """One Content-Length response from a connection that stays open."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(parse_response(head + b"\r\n\r\n").headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def start_server(
    args: Sequence[str],
    workdir: Path,
    *,
    app: str = "masterapp:app",
    worker_class: str | None = None,
    tcp: bool = False,
    ready: bool = True,
    timeout: float = 15.0,
    env: dict[str, str] | None = None,
    bind: bool = True,
    files: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Server:
    """Start `python -m monoceros <args> <app>` in `workdir` (where `masterapp.py` and `files`, name to
    text, are written first).

    Bound to a Unix socket in a short temp dir, or with `tcp=True` to a TCP socket on 127.0.0.1 that
    this process binds and the server inherits (`--bind fd://N`), unless `args` bind an address
    themselves; when that address is a TCP port 0, `Server.address` is the one the master reports.
    With `ready`, returns once a request was answered. `prefix` runs the master under a command that
    execs it (`taskset -c 0`).
    """
    (workdir / "masterapp.py").write_text(APP_SOURCE)
    for name, text in (files or {}).items():
        (workdir / name).write_text(text)
    given = _given_bind(args)
    inherited = tcp_listener(listen=False) if tcp and bind and given is None else None
    if given is not None:
        address = bind_arg = given
    elif inherited is not None:
        address = f"127.0.0.1:{inherited.getsockname()[1]}"
        bind_arg = f"fd://{inherited.fileno()}"
    else:
        address = bind_arg = f"unix:{short_tempdir() / 's.sock'}"
    argv = [*prefix, sys.executable, "-m", "monoceros"]  # (a prefix such as `taskset -c 0` execs it)
    if bind and not given:
        argv += ["--bind", bind_arg]
    if worker_class:
        argv += ["--worker-class", worker_class]
    parser = os.environ.get("MONOCEROS_TEST_HTTP_PARSER")  # `make test` runs the wire suites on both paths
    if parser and "--http-parser" not in args:
        argv += ["--http-parser", parser]
    argv += [*args, app]
    log_path = workdir / "server.log"
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent), environ.get("PYTHONPATH", "")])
    environ["PYTHONUNBUFFERED"] = "1"
    environ["XDG_RUNTIME_DIR"] = str(workdir)  # the per-instance control socket goes there, not in ~
    environ.update(env or {})
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,
                pass_fds=() if inherited is None else (inherited.fileno(),),
            )
    finally:
        if inherited is not None:
            inherited.close()  # the server's copy is the only one now: it listens, and closes it at exit
    server = Server(proc, workdir, address, log_path)
    if ready:
        deadline = time.monotonic() + timeout
        try:
            if given is not None and _is_tcp_port_zero(given):
                server.address = server.reported_address(timeout)
            wait_for(
                lambda: _answers(server, deadline), timeout, lambda: f"the server to answer\n{server.log}"
            )
        except BaseException:
            server.kill()
            raise
    return server


def _answers(server: Server, deadline: float) -> bool:
    if server.proc.poll() is not None:
        raise AssertionError(f"the master exited with {server.proc.returncode}:\n{server.log}")
    # One probe waits as long as the start may take: a probe given up on while it waited in the
    # backlog would still be served later, and count as a request the test did not make.
    return server.try_request(timeout=max(1.0, deadline - time.monotonic())) is not None


def _given_bind(args: Sequence[str]) -> str | None:
    """The first address the caller bound itself (`-b`/`--bind`), which the probe then uses."""
    for flag, value in zip(args, args[1:], strict=False):
        if flag in ("-b", "--bind"):
            return value
    for arg in args:
        if arg.startswith("--bind="):
            return arg.split("=", 1)[1]
    return None


def _is_tcp_port_zero(address: str) -> bool:
    return not address.startswith(("unix:", "fd://")) and address.rsplit(":", 1)[-1] == "0"


def tcp_listener(listen: bool = True) -> socket.socket:
    """A TCP socket bound to a port of 127.0.0.1 that the kernel picks, for a server to inherit: the port
    stays taken from here on, unlike one found by binding and closing. With `listen=False` the server
    makes it listen (with its own backlog); until then connecting is refused, as before any start."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        if listen:
            sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


# -- the server's end of a TCP connection, from /proc/net/tcp (Linux, IPv4) ---------------------

_TCP_LISTEN = 0x0A


def _tcp_table() -> list[tuple[tuple[str, int], tuple[str, int], int, int, int]]:
    """(local, remote, state, send queue, receive queue) of every IPv4 TCP socket of this machine."""
    rows = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote = (_proc_address(field) for field in fields[1:3])
            tx_queue, rx_queue = (int(value, 16) for value in fields[4].split(":"))
            rows.append((local, remote, int(fields[3], 16), tx_queue, rx_queue))
    return rows


def _proc_address(field: str) -> tuple[str, int]:
    # "0100007F:1F90": the address is the 32-bit word as the kernel holds it (network order), printed
    # as a number of this machine's byte order; the port is a plain number.
    host, port = field.split(":")
    return socket.inet_ntoa(struct.pack("=I", int(host, 16))), int(port, 16)


def tcp_queues(local: tuple[str, int], remote: tuple[str, int]) -> tuple[int, int] | None:
    """The (send queue, receive queue) byte counts of the connection `local`-`remote` as the kernel
    sees it from `local`'s end, or None when there is no such socket. The send queue is what was
    written and not yet acknowledged by the peer, the receive queue what arrived and is not yet read."""
    for row_local, row_remote, state, tx_queue, rx_queue in _tcp_table():
        if row_local == local and row_remote == remote and state != _TCP_LISTEN:
            return tx_queue, rx_queue
    return None


def server_queues(sock: socket.socket) -> tuple[int, int] | None:
    """`tcp_queues` of the server's end of the client socket `sock` (accepted or still in the backlog)."""
    mine, theirs = sock.getsockname()[:2], sock.getpeername()[:2]
    return tcp_queues(theirs, mine)


def server_has_read(sock: socket.socket) -> bool:
    """Everything sent on the client socket `sock` reached the server (nothing unacknowledged here)
    and the server process has read it (nothing left in its receive queue)."""
    mine, theirs = sock.getsockname()[:2], sock.getpeername()[:2]
    ours, server_end = tcp_queues(mine, theirs), tcp_queues(theirs, mine)
    return ours is not None and server_end is not None and ours[0] == 0 and server_end[1] == 0


def accept_queue(address: str) -> int:
    """How many connections wait to be accepted on the TCP listener at "127.0.0.1:PORT"."""
    host, port = address.rsplit(":", 1)
    for local, _, state, _, rx_queue in _tcp_table():
        if local == (host, int(port)) and state == _TCP_LISTEN:
            return rx_queue
    raise AssertionError(f"nothing listens at {address}")


def short_tempdir() -> Path:
    """A directory with a short path: Unix socket paths are limited to ~100 bytes."""
    return Path(tempfile.mkdtemp(prefix="mcr-"))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class Failure(NamedTuple):
    at: float  # (time.monotonic())
    exc: Exception
    keep_alive: bool  # a client that keeps its connection alive
    connected: float  # when the connection had been established; 0.0: the failure was in connect()


class Load:
    """Client threads sending requests until stopped: half open a connection per request, half keep one
    alive (http.client reconnects after a response that said `Connection: close`). Every error counts."""

    def __init__(self, address: str, clients: int = 6) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.done = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.failed: list[Failure] = []
        self.bodies: set[str] = set()
        self.slowest = 0.0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i % 2 == 0,)) for i in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, keep_alive: bool) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=20)
        connected = 0.0  # when the connection in use was established (0: not yet)
        while not self.done.is_set():
            try:
                headers = {} if keep_alive else {"Connection": "close"}
                sent = time.monotonic()
                if conn.sock is None:
                    connected = 0.0
                    conn.connect()
                    connected = time.monotonic()
                conn.request("GET", "/", headers=headers)
                response = conn.getresponse()
                body = response.read().decode()
                if response.status != 200:
                    raise AssertionError(f"status {response.status}: {body}")
                if not keep_alive or response.will_close:
                    conn.close()
                took = time.monotonic() - sent
                with self.lock:
                    self.slowest = max(self.slowest, took)
                    self.ok += 1
                    self.bodies.add(body.split()[0])
            except Exception as exc:  # noqa: BLE001 (every kind of failure is what is counted)
                with self.lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    self.failed.append(Failure(time.monotonic(), exc, keep_alive, connected))
                conn.close()
        conn.close()

    def served(self) -> int:
        with self.lock:
            return self.ok
