"""Section "Server Socket": the addresses to listen on."""

from __future__ import annotations

from collections.abc import Mapping

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


def _bind_from_port(env: Mapping[str, str]) -> tuple[object, str] | None:
    # Platforms like Heroku announce the port to serve in $PORT.
    if "PORT" in env:
        return ["0.0.0.0:" + env["PORT"]], "env PORT"
    return None


class ServerSocketSettings(Section, title="Server Socket"):
    bind = Setting[list[str]](
        cli=["-b", "--bind"],
        meta="ADDRESS",
        action="append",
        validator=v.bind_list,
        default=["127.0.0.1:8000"],
        default_factory=_bind_from_port,
        default_doc="['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set",
        implemented=True,
        doc="""The socket to bind. Repeat the flag to listen on several addresses. Accepted forms are
        `HOST`, `HOST:PORT`, `[IPv6]:PORT`, `tcp://HOST:PORT`, `unix:PATH` and `fd://FD` (an inherited
        file descriptor).""",
    )
    backlog = Setting[int](
        cli=["--backlog"],
        meta="INT",
        validator=v.to_int,
        default=2048,
        implemented=True,
        doc="""The maximum number of pending connections the kernel queues for each listening socket
        (the listen(2) backlog). Connections beyond it are refused or dropped by the kernel.""",
    )
