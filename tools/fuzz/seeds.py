"""Write the request heads of the corpus (tests/corpus) as seed files for the native fuzzer: each head up to
the CRLF of its last line, as `HeadScanner` is given it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "http"))

from corpus_cases import load_cases  # noqa: E402


def main(out: str) -> None:
    target = Path(out)
    for case in load_cases("valid") + load_cases("invalid"):
        end = case.wire.find(b"\r\n\r\n")
        head = case.wire if end < 0 else case.wire[: end + 2]
        (target / case.id.replace("/", "_")).write_bytes(head)
    (target / "wrk").write_bytes(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")


if __name__ == "__main__":
    main(sys.argv[1])
