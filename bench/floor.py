"""The floor reference: the simplest single-threaded epoll loop that can serve a WSGI app.

It splits a request head, builds a minimal environ, calls the app and sends the answer: no
validation, no limits, no features. Whatever it does per second on a core is about the most pure
Python can do; the benchmark reports Monoceros as a percentage of it.

    python bench/floor.py PORT MODULE:APP
"""

from __future__ import annotations

import importlib
import select
import socket
import sys
from typing import Any


def main() -> None:
    port = int(sys.argv[1])
    module, _, name = sys.argv[2].partition(":")
    sys.path.insert(0, ".")
    app = getattr(importlib.import_module(module), name or "application")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(2048)
    listener.setblocking(False)
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, socket.socket] = {}
    status: list[Any] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status[:] = [s, headers]
        return None

    while True:
        for fd, _ in ep.poll():
            if fd == listener.fileno():
                try:
                    while True:
                        sock, _ = listener.accept()
                        sock.setblocking(False)
                        conns[sock.fileno()] = sock
                        ep.register(sock.fileno(), select.EPOLLIN)
                except BlockingIOError:
                    pass
                continue
            sock = conns[fd]
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                del conns[fd]
                sock.close()
                continue
            out = []
            for head in data.split(b"\r\n\r\n")[:-1]:
                lines = head.split(b"\r\n")
                method, path, _ = lines[0].split(b" ")
                environ = {"REQUEST_METHOD": method.decode(), "PATH_INFO": path.decode()}
                body = b"".join(app(environ, start_response))
                fields = "\r\n".join(f"{name}: {value}" for name, value in status[1])
                head_out = f"HTTP/1.1 {status[0]}\r\n{fields}\r\n\r\n"
                out.append(head_out.encode() + body)
            sock.send(b"".join(out))


if __name__ == "__main__":
    main()
