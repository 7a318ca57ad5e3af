"""Seed files for the native fuzzers: the request heads of the corpus (tests/corpus) for the scanner, each
up to the CRLF of its last line as `HeadScanner` is given it, and a few responses for the writer (in the
layout `fuzz_writer.c` reads: a flags byte, the status, header lines, an empty line, body pieces)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "http"))

from corpus_cases import load_cases  # noqa: E402

RESPONSES = {
    "hello": (0x04, "200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello"),
    "chunked": (0x04, "200 OK\nContent-Type: text/html\n\nab\ncd"),
    "trailers": (0x24, "200 OK\nTrailer: x\n\npiece\n"),
    "head": (0x05, "304 Not Modified\nETag: x\nContent-Length: 9\n\n"),
    "http10": (0x16, "204\nContent-Length: 3\nServer: app\nDate: now\n\nabc"),
    "upgrade": (0x04, "101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n"),
    "odd": (0xC8, "200 \xe9t\xe9\nX-A: \x01\n!\nContent-Length: 2\ncontent-length: 3\n\nxyz"),
}


def main(out: str, writer_out: str | None = None) -> None:
    target = Path(out)
    for case in load_cases("valid") + load_cases("invalid"):
        end = case.wire.find(b"\r\n\r\n")
        head = case.wire if end < 0 else case.wire[: end + 2]
        (target / case.id.replace("/", "_")).write_bytes(head)
    (target / "wrk").write_bytes(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    if writer_out is not None:
        for name, (flags, text) in RESPONSES.items():
            (Path(writer_out) / name).write_bytes(bytes([flags]) + text.encode("latin-1"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
