"""Property tests: on any input, only RemoteProtocolError escapes, and EOF never leaves the parser waiting."""

from __future__ import annotations

from corpus_cases import load_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monoceros.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    RemoteProtocolError,
    RequestParser,
)

SEEDS = [case.wire for case in load_cases("valid") + load_cases("invalid")]
EDIT = st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.binary(min_size=1, max_size=4))
LIMITS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes, bytewise: bool) -> None:
    """Feed ``data`` then EOF and drive every message to its end; return, or raise RemoteProtocolError."""
    parser = RequestParser(proxy_protocol="auto", proxy_trusted=True, limit_request_fields=10)
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    chunks.append(b"")
    for _ in range(100_000):
        event = parser.next_event()
        if event is NEED_DATA:
            assert chunks, "NEED_DATA after EOF: the parser would wait forever"
            parser.receive_data(chunks.pop(0))
        elif type(event) is EndOfMessage:
            assert parser.next_event() is PAUSED
            parser.start_next_cycle()
        elif isinstance(event, ConnectionClosed):
            return
    raise AssertionError("no end after 100000 steps")


def mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for kind, position, chunk in edits:
        at = position % (len(data) + 1)
        if kind == 0:
            data[at:at] = chunk  # insert
        elif kind == 1:
            del data[at : at + len(chunk)]  # delete
        else:
            data[at : at + len(chunk)] = chunk  # overwrite
    return bytes(data)


def check(data: bytes, bytewise: bool) -> None:
    try:
        run(data, bytewise)
    except RemoteProtocolError as exc:
        assert exc.status in (400, 403, 414, 417, 431, 501, 505)


@LIMITS
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes(data: bytes, bytewise: bool) -> None:
    check(data, bytewise)


@LIMITS
@given(
    st.sampled_from(SEEDS),
    st.lists(EDIT, max_size=4),
    st.booleans(),
)
def test_mutated_corpus(seed: bytes, edits: list[tuple[int, int, bytes]], bytewise: bool) -> None:
    check(mutate(seed, edits), bytewise)


@LIMITS
@given(st.sampled_from(SEEDS), st.integers(0, 10_000))
def test_truncated_corpus_whole_vs_bytewise(seed: bytes, cut: int) -> None:
    """The outcome (error class or success) does not depend on how the bytes were split."""
    data = seed[: cut % (len(seed) + 1)]
    outcomes = []
    for bytewise in (False, True):
        try:
            run(data, bytewise)
            outcomes.append(None)
        except RemoteProtocolError as exc:
            outcomes.append(exc.status)
    assert outcomes[0] == outcomes[1]


def outcome(data: bytes, pieces: list[bytes], **limits: object) -> tuple[str, int] | None:
    """(error class, status) of feeding ``pieces`` (which join to ``data``) then EOF, or None if accepted."""
    assert b"".join(pieces) == data
    parser = RequestParser(proxy_protocol="auto", proxy_trusted=True, **limits)  # type: ignore[arg-type]
    chunks = [*pieces, b""]
    try:
        for _ in range(100_000):
            event = parser.next_event()
            if event is NEED_DATA:
                parser.receive_data(chunks.pop(0))
            elif type(event) is EndOfMessage:
                parser.next_event()
                parser.start_next_cycle()
            elif isinstance(event, ConnectionClosed):
                return None
    except RemoteProtocolError as exc:
        return type(exc).__name__, exc.status
    raise AssertionError("no end after 100000 steps")


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (modulo its length); no piece is empty (b"" means EOF to a parser)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a] or [data]


# Small limits, so that limit errors and syntax errors meet often in one input.
SMALL_LIMITS = st.fixed_dictionaries(
    {
        "limit_request_line": st.sampled_from([0, 24, 40, 4094]),
        "limit_request_field_size": st.sampled_from([16, 40, 8190]),
        "limit_request_fields": st.sampled_from([2, 10]),
        "permit_obsolete_folding": st.booleans(),
        "strip_header_spaces": st.booleans(),
        "header_map": st.sampled_from(["drop", "refuse"]),
    }
)
# Edits that make framing and limit cases likely: long runs, bare LF/CR, framing fields, a second message.
EDGE = st.sampled_from(
    [
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b";",
        b"\x80",
        b"a" * 50,
        b";" + b"e" * 60,
        b"Content-Length: 5\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Host: a b\r\n",
        b"HTTP/1.0",
        b"X" * 70 + b": v\r\n",
        b"\r\n \t",
        b"X_Y: 1\r\n",
        b"Expect: nothing\r\n",
        b"Trailer-X : y\r\n",
        b"\r\n0\r\nX: " + b"t" * 40 + b"\r\n\r\n",
    ]
)
EDGE_EDIT = st.tuples(
    st.integers(0, 2), st.integers(0, 10_000), st.one_of(EDGE, st.binary(min_size=1, max_size=3))
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(EDGE_EDIT, max_size=3),
    SMALL_LIMITS,
    st.lists(st.integers(0, 10_000), max_size=6),
)
def test_mutated_corpus_whole_vs_split(
    seed: bytes, edits: list[tuple[int, int, bytes]], limits: dict[str, object], cuts: list[int]
) -> None:
    """One input, one outcome: the same error class and status whole, byte by byte and in random pieces."""
    data = mutate(seed, edits)
    whole = outcome(data, [data], **limits)
    assert outcome(data, [data[i : i + 1] for i in range(len(data))], **limits) == whole, "bytewise"
    assert outcome(data, splits(data, cuts), **limits) == whole, "split"
