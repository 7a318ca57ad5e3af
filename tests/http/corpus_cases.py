"""Gunicorn's request corpus as test data: loading, config mapping, feeding strategies and a driver."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monoceros.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Request,
    RequestParser,
)

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "gunicorn"

# Gunicorn setting name -> RequestParser keyword (same value).
_SAME_NAME = {
    "limit_request_line",
    "limit_request_fields",
    "limit_request_field_size",
    "permit_unconventional_http_method",
    "permit_unconventional_http_version",
    "casefold_http_method",
    "strip_header_spaces",
    "permit_obsolete_folding",
    "header_map",
    "proxy_protocol",
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    config: dict[str, Any]
    wire: bytes
    data: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


def load_cases(kind: str) -> list[Case]:
    cases = []
    for path in sorted((CORPUS / kind).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        wire = data["wire_bytes_latin1"].encode("latin-1")
        cases.append(Case(data["name"], kind, data["config"], wire, data))
    return cases


def parser_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The corpus runs with peer address None, which Gunicorn trusts (Unix-socket semantics); many of its
    valid HTTP/1.1 cases have no Host header, so ``require_host`` is off for the corpus."""
    kwargs: dict[str, Any] = {"peer_trusted": True, "proxy_trusted": True, "require_host": False}
    for name, value in config.items():
        if name in _SAME_NAME:
            kwargs[name] = value
        elif name != "forwarded_allow_ips":  # only gates scheme headers: the wsgi layer's job
            raise AssertionError(f"unmapped corpus setting {name}")
    return kwargs


Splitter = Callable[[bytes, str], list[bytes]]


def whole(data: bytes, seed: str) -> list[bytes]:
    return [data]


def bytewise(data: bytes, seed: str) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_chunks(data: bytes, seed: str) -> list[bytes]:
    rng = random.Random(zlib.crc32(seed.encode()))
    chunks, pos = [], 0
    while pos < len(data):
        size = rng.randint(1, 16)
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


def one_then_rest(data: bytes, seed: str) -> list[bytes]:
    return [data[:1], data[1:]] if len(data) > 1 else [data]


SPLITTERS: dict[str, Splitter] = {
    "whole": whole,
    "bytewise": bytewise,
    "random": random_chunks,
    "one_then_rest": one_then_rest,
}


@dataclass
class Parsed:
    request: Request
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)


def drive(
    parser: RequestParser, chunks: Iterable[bytes], max_requests: int | None = None, eof: bool = True
) -> list[Parsed]:
    """Feed ``chunks`` (then EOF) only when the parser asks for data; collect requests like Gunicorn does:
    stop after a request that does not allow keep-alive, after ``max_requests``, or at ConnectionClosed.
    Chunks not needed yet stay in ``chunks`` when it is an iterator."""
    feed: Iterator[bytes] = iter(chunks)
    done: list[Parsed] = []
    current: Parsed | None = None
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            chunk = next(feed, None)
            if chunk is None:
                if not eof or parser.trailing_data[1]:
                    return done + ([current] if current else [])  # with a message still incomplete
                parser.receive_data(b"")
            else:
                parser.receive_data(chunk)
        elif isinstance(event, Request):
            current = Parsed(event)
        elif isinstance(event, Data):
            assert current is not None
            current.body += event.data
        elif isinstance(event, EndOfMessage):
            assert current is not None
            current.trailers = event.trailers
            done.append(current)
            if not current.request.keep_alive or len(done) == max_requests:
                return done
            assert parser.next_event() is PAUSED
            parser.start_next_cycle()
            current = None
        else:
            assert isinstance(event, ConnectionClosed), event
            return done
