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
