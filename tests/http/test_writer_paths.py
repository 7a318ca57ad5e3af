"""The two response writers are one: the Python reference (``_writer.ResponseWriter``) and the native one
(``_speedups.ResponseWriter``) given the same calls give the same bytes, the same attributes and the same
errors (class, status and message), with cold caches, warm caches and each other's caches.

The calls come from a generator of valid, near-valid and hostile responses: statuses with odd reasons,
header lists with every hop-by-hop and framing header in any case, control characters, non-latin-1 text,
non-str items, conflicting or huge Content-Lengths, bodies of the wrong type, trailers, and a stop
(``closing``) arriving between the calls. ``FUZZ_EXAMPLES`` raises the number of examples (``make fuzz``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monoceros.http import NATIVE_AVAILABLE, Caches, LocalProtocolError, NativeResponseWriter, ResponseWriter

COMPARES_PATHS = True
pytestmark = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the native module was not built")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or 3000
_DATE = re.compile(rb"Date: [^\r]*\r\n")

SPECIAL = [
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Trailers",
    "Transfer-Encoding",
    "Upgrade",
    "Server",
    "Date",
    "Content-Length",
    "Content-Type",
]


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper(), name.swapcase()])


ODD_CHARS = "\r\n\x00\x7f\t :;\x80\xff\u0100\u2028é_"
names = st.one_of(
    st.sampled_from(SPECIAL).flatmap(_cased),
    st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}", fullmatch=True),
    st.text(alphabet=st.sampled_from("aZ-" + ODD_CHARS), max_size=6),
)
values = st.one_of(
    st.sampled_from(
        ["12", " 5 ", "0", "007", "x", "", "websocket", "upgrade", "Upgrade, keep-alive", "close", "chunked"]
    ),
    st.from_regex(r"[0-9]{17,21}", fullmatch=True),
    st.integers(min_value=0, max_value=40).map(str),
    st.text(alphabet=st.sampled_from("ab 1" + ODD_CHARS), max_size=10),
)
fields = st.one_of(
    st.tuples(names, values),
    st.tuples(st.sampled_from(["Content-Length", "Upgrade", "Connection"]), values),
    st.sampled_from(
        [["X-List", "1"], ("X-Three", "a", "b"), (b"X-Bytes", b"1"), ("X-None", None), 5, ("X",)]
    ),
)
header_lists = st.lists(fields, max_size=6)
statuses = st.one_of(
    st.sampled_from(
        ["200 OK", "204 No Content", "304 Not Modified", "101 Switching Protocols", "103 Early Hints"]
    ),
    st.sampled_from(["200", "404 Not Found", "500 Oops", "599 x", "600 No", "099 x", "200OK", "2000 OK"]),
    st.builds(
        lambda code, reason: f"{code} {reason}", st.integers(90, 610), st.text(ODD_CHARS + "ab", max_size=5)
    ),
    st.sampled_from([b"200 OK", 200, None, ["200 OK"]]),
)
bodies = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", bytearray(b"abc"), "text", memoryview(b"mv"), None]),
)


def _container(kind: str, items: list[Any]) -> Any:
    if kind == "list":
        return list(items)
    if kind == "tuple":
        return tuple(items)
    if kind == "iterator":
        return iter(list(items))
    return 42  # not iterable


# One response: the writer's arguments and its calls, in order.
responses = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "HEAD", "POST"]),
        "version": st.sampled_from([(1, 0), (1, 1)]),
        "keep_alive": st.booleans(),
        "server": st.sampled_from([b"monoceros", None, b"srv/1.0"]),
        "starts": st.lists(
            st.tuples(statuses, header_lists, st.sampled_from(["list", "tuple", "iterator", "no"])),
            min_size=1,
            max_size=2,
        ),
        "closing": st.booleans(),
        "whole": st.booleans(),
        "chunks": st.lists(bodies, max_size=4),
        "trailers": st.one_of(st.just(()), header_lists, st.just(5)),
        "late": st.booleans(),  # calls out of order once the response is done
    }
)


def _outcome(call: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        result = call(*args)
    except LocalProtocolError as exc:
        return ("refused", exc.status, str(exc))
    except (TypeError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))
    if isinstance(result, bytes):
        result = _DATE.sub(b"Date: -\r\n", result)
    return ("ok", result)


def _state(w: Any, started: bool) -> tuple[Any, ...]:
    common = (w.keep_alive, w.bytes_sent, w.ended, w.head_sent, w.closing, w.method, w.version)
    if not started:
        return common
    return (*common, w.status_code, w.content_length, w.chunked, w.upgrade, w.remaining, w.complete)


def _run(writer_type: Any, r: dict[str, Any], caches: Caches) -> list[Any]:
    """Every outcome and the writer's state after each call."""
    log: list[Any] = []
    try:
        w = writer_type(r["method"], r["version"], r["keep_alive"], r["server"], caches)
    except (TypeError, ValueError) as exc:
        return [("constructor", type(exc).__name__, str(exc))]
    started = False
    for status, headers, kind in r["starts"]:
        out = _outcome(w.start, status, _container(kind, headers))
        started = started or out[0] == "ok"
        log += [out, _state(w, started)]
    if r["closing"]:
        w.closing = True
    if r["whole"]:
        data = r["chunks"][0] if r["chunks"] else b""
        log += [_outcome(w.whole, data), _state(w, started)]
    else:
        log += [_outcome(w.head), _state(w, started)]
        for chunk in r["chunks"]:
            log += [_outcome(w.body, chunk), _state(w, started)]
        log += [_outcome(w.end, r["trailers"]), _state(w, started)]
    if r["late"]:
        log += [_outcome(w.head), _outcome(w.body, b"x"), _outcome(w.end)]
        log += [_outcome(w.start, "200 OK", []), _state(w, started)]
    return log


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses)
def test_generated_responses_are_framed_alike(r: dict[str, Any]) -> None:
    python_caches, native_caches = Caches(), Caches()
    cold = _run(ResponseWriter, r, python_caches)
    assert _run(NativeResponseWriter, r, native_caches) == cold
    # warm: the caches each filled answer the same calls again; and each writer reads what the other stored
    warm = _run(ResponseWriter, r, python_caches)
    assert _run(NativeResponseWriter, r, native_caches) == warm
    assert _run(NativeResponseWriter, r, python_caches) == warm
    assert _run(ResponseWriter, r, native_caches) == warm


def test_the_native_writer_is_what_a_native_connection_uses() -> None:
    from monoceros.http import ConnectionFactory

    native = ConnectionFactory(native=True)()
    python = ConnectionFactory(native=False)()
    native.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    python.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert type(native.respond(native.next_event())) is NativeResponseWriter
    assert type(python.respond(python.next_event())) is ResponseWriter


def test_a_huge_content_length_is_refused_alike() -> None:
    for writer_type in (ResponseWriter, NativeResponseWriter):
        w = writer_type("GET", (1, 1), True)
        with pytest.raises(LocalProtocolError, match="invalid Content-Length"):
            w.start("200 OK", [("Content-Length", "9223372036854775808")])
        w.start("200 OK", [("Content-Length", "9223372036854775807")])
        assert w.remaining == 2**63 - 1


def test_headers_from_an_iterator_are_read_once() -> None:
    # (the reference once took the tuple of an iterator for the cache and then validated the exhausted one)
    for writer_type in (ResponseWriter, NativeResponseWriter):
        w = writer_type("GET", (1, 1), True)
        w.start("200 OK", iter([("Content-Length", "2"), ("X-A", "1")]))
        assert w.content_length == 2
        assert b"X-A: 1\r\n" in w.whole(b"ok")
