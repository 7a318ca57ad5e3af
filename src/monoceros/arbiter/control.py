"""The control socket (Gunicorn 27's wire format): a Unix socket on which the master takes commands.

A message is a 4-byte big-endian length, then that many bytes of UTF-8 JSON. A request is
``{"id": N, "command": "show workers", "args": []}``; the answer echoes the id, with ``"status": "ok"``
and ``"data"``, or ``"status": "error"`` and ``"error"``. A connection carries any number of requests,
answered in order. So Gunicorn's own client, ``gunicornc -s PATH``, works unchanged against Monoceros.

Unlike Gunicorn's, which runs in a thread with its own event loop and is torn down and rebuilt around
every fork (dropping open connections each time a worker is forked), this one runs in the master's main
loop, a ``PolledServer`` like the metrics endpoint: a fork never touches it, and its commands run where the
master's state is changed anyway. What a command does is in ``arbiter_commands``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monoceros.observability.polled import Client, PolledServer, is_socket

MAX_MESSAGE = 1 << 20  # commands are a few bytes; Gunicorn allows 16 MiB, nothing needs more than this
IDLE_SECONDS = 300.0  # as Gunicorn: a connection without a complete message for this long is closed
MAX_CLIENTS = 32
_LENGTH = struct.Struct(">I")

Dispatch = Callable[[Any], dict[str, Any]]


def frame(message: Any) -> bytes:
    payload = json.dumps(message).encode()
    return _LENGTH.pack(len(payload)) + payload


def unframe(buffer: bytes) -> tuple[Any, bytes] | None:
    """(message, rest) when ``buffer`` holds a whole message; None when more is needed; ValueError when
    the length or the JSON is not acceptable."""
    if len(buffer) < 4:
        return None
    (length,) = _LENGTH.unpack_from(buffer)
    if length == 0 or length > MAX_MESSAGE:
        raise ValueError(f"message length {length}")
    if len(buffer) < 4 + length:
        return None
    return json.loads(buffer[4 : 4 + length].decode()), buffer[4 + length :]


class ControlServer(PolledServer):
    """Length-prefixed JSON requests, any number per connection, answered in order by ``dispatch``."""

    max_clients = MAX_CLIENTS
    idle_seconds = IDLE_SECONDS

    def __init__(self, path: str, mode: int, dispatch: Dispatch) -> None:
        self.path = path
        self.dispatch = dispatch
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.path.lexists(path):
            if not is_socket(path):
                raise OSError(f"{path} exists and is not a socket")
            if _answers(path):
                raise OSError(f"another server answers on {path}")
            os.unlink(path)  # a stale socket of a server that is gone
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # never more open than 0600 before the chmod below
        try:
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        os.chmod(path, mode)
        sock.listen(16)
        super().__init__(sock, path)

    def received(self, client: Client) -> None:
        client.deadline = time.monotonic() + IDLE_SECONDS
        while True:
            try:
                taken = unframe(client.inbox)
            except (ValueError, UnicodeDecodeError):
                self.drop(client)  # as Gunicorn: a malformed message ends the connection unanswered
                return
            if taken is None:
                return
            message, client.inbox = taken
            try:
                answer = self.dispatch(message)
            except ValueError:
                self.drop(client)  # not a request object at all: unanswered, as Gunicorn does
                return
            client.outbox += frame(answer)
            self.flush(client)
            if client.sock.fileno() < 0:
                return


def runtime_dir(env: Mapping[str, str] = os.environ) -> str:
    """Where per-instance control sockets go: ``$XDG_RUNTIME_DIR/monoceros``, else ``~/.monoceros``."""
    base = env.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return os.path.join(base, "monoceros")
    return os.path.join(os.path.expanduser("~"), ".monoceros")


def instance_name(listeners: Sequence[object]) -> str:
    """A file name for this server, from its first listener: ``127.0.0.1-8000``, ``unix-run-app.sock``."""
    first = str(listeners[0]) if listeners else "monoceros"
    first = re.sub(r"^https?://", "", first)
    return re.sub(r"[^A-Za-z0-9.]+", "-", first).strip("-") or "monoceros"


def control_socket_path(cfg: Any, listeners: Sequence[object]) -> str:
    """The control socket's path: the setting when given (relative to the working directory), else one per
    instance (named after the first listener), so two servers on one machine never share a default path."""
    configured = cfg.control_socket
    if configured:
        return os.path.abspath(os.path.expanduser(str(configured)))
    return os.path.join(runtime_dir(), instance_name(listeners) + ".ctl")


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
