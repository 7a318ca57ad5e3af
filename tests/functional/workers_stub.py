"""A tiny worker for master tests: one HTTP/1.0 request per connection, answered by the WSGI app.

It exists so that the arbiter can be tested without the real I/O engine: it uses the base class's
contract exactly (notify, PIPE, count_request, parent_alive) and nothing else.
"""

from __future__ import annotations

import io
import os
import select
import socket
import sys

from monoceros.workers.base import Worker


class StubWorker(Worker):
    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        while self.alive:
            self.notify()
            if not self.parent_alive():
                return
            ready, _, _ = select.select([*self.sockets, self.PIPE[0]], [], [], self.timeout)
            if self.PIPE[0] in ready:
                _drain(self.PIPE[0])
            for listener in ready:
                if listener is not self.PIPE[0] and self.alive:
                    self._accept(listener)

    def _accept(self, listener: object) -> None:
        try:
            conn, _ = listener.accept()  # type: ignore[attr-defined]
        except BlockingIOError:
            return
        with conn:
            conn.setblocking(True)
            self._serve(conn)
        self.count_request()

    def _serve(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        path, _, query = target.decode("latin-1").partition("?")
        environ = {
            "REQUEST_METHOD": method.decode("latin-1"),
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "stub",
            "SERVER_PORT": "0",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        status_headers: list[object] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
            status_headers[:] = [status, headers]

        body = b"".join(self.wsgi(environ, start_response))
        status, headers = status_headers
        lines = [f"HTTP/1.0 {status}", *(f"{k}: {v}" for k, v in headers), f"X-Worker-Pid: {os.getpid()}"]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
