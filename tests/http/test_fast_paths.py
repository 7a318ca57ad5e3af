"""Differential tests: the parser's fast paths give what the strict line-by-line walk gives, or its error.

The fast paths (``clean_lines`` + ``CLEAN_*`` regexes, obs-folds joined by one substitution) rely on an
argument spread over several checks; these tests generate heads from fragments that hit every corner of it
(CTLs, bare CR and LF, HTAB, obs-text, "?" and "#", folds, spaces before the colon) and compare the outcome
with the reference: ``parse_request_line`` and ``split_slowly``, which look at one line at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monoceros.http import ProtocolError, Request, RequestParser, _fields
from monoceros.http._fields import (
    FieldRules,
    LineChecker,
    clean_lines,
    line_fault,
    split_fields,
    split_slowly,
)
from monoceros.http._parser import MAX_REQUEST_LINE, find_head_end
from monoceros.http._request_line import RequestLineRules, parse_request_line
from monoceros.http._semantics import HeaderPolicy, HeadFields, build_request

LIMITS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


ROUTES = (0, 10**9)  # CLEAN_FROM: every section through clean_lines and the CLEAN_* patterns, and none


@contextmanager
def route(clean_from: int) -> Iterator[None]:
    saved = _fields.CLEAN_FROM
    _fields.CLEAN_FROM = clean_from
    try:
        yield
    finally:
        _fields.CLEAN_FROM = saved


@pytest.fixture(params=ROUTES, ids=["clean-route", "strict-route"])
def either_route(request: pytest.FixtureRequest) -> Iterator[None]:
    with route(request.param):
        yield


FIELD_PIECES = [
    "Host",
    "X-A",
    "a_b",
    "Name",
    ":",
    " ",
    "\t",
    "  ",
    "v",
    "a b",
    "\r\n",
    "\r\n ",
    "\r\n\t",
    "\r",
    "\n",
    "\x00",
    "\x01",
    "\x7f",
    "\xe9",
    "\x85",
    '"',
    "=",
]
TARGET_PIECES = ["/", "a", "b/", "a", "/", "?", "x=1&y", "?", "#", "q=1", "%20", "*", "//x"]
TARGET_PIECES += ["\t", " ", "\xe9", "\x7f", "\r", "\n"]
SECTION = st.lists(st.sampled_from(FIELD_PIECES), max_size=24).map(lambda parts: "".join(parts) + "\r\n")
GOOD_LINES = ["Host: a", "X-A: v", "Name:\t a b \t", "a_b: 1", "X-A:", "Name: \xe9\x85"]
# A field line: mostly a valid one, sometimes fragments that may make anything.
LINE = st.one_of(
    st.sampled_from(GOOD_LINES),
    st.sampled_from(GOOD_LINES),
    st.sampled_from(GOOD_LINES).map(lambda line: " " + line),
    st.lists(st.sampled_from(FIELD_PIECES), min_size=1, max_size=6).map("".join),
)
TARGET = st.tuples(
    st.sampled_from(["/", "/", "/", "", "http://h"]), st.lists(st.sampled_from(TARGET_PIECES), max_size=6)
)


def outcome(call: object, *args: object) -> object:
    try:
        return call(*args)  # type: ignore[operator]
    except ProtocolError as exc:
        return type(exc)


@LIMITS
@given(SECTION, st.booleans(), st.booleans())
def test_split_fields_agrees_with_the_line_walk(section: str, folding: bool, strip: bool) -> None:
    rules = FieldRules(5, 40, strip, folding)
    raw = section.encode("latin-1")
    expected = outcome(split_slowly, section, 0, rules)
    for clean_from in ROUTES:
        with route(clean_from):
            assert outcome(split_fields, section, 0, rules, clean_lines(raw)) == expected


@pytest.mark.usefixtures("either_route")
def test_folds_are_joined_as_the_line_walk_joins_them() -> None:
    rules = FieldRules(100, 8190, False, True)
    for section in [
        "X: a\r\n b\r\n",
        "X:\r\n b\r\n",
        "X: a \r\n \t b \t\r\nY: c\r\n",
        "X: a\r\n   \r\n c\r\n",
        "X: a\r\n \r\n",
        "X:\r\n \r\n\t\r\n",
    ]:
        raw = section.encode("latin-1")
        assert split_fields(section, 0, rules, clean_lines(raw)) == split_slowly(section, 0, rules)


def test_clean_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fields, "CLEAN_FROM", 0)
    assert clean_lines(b"a: b\r\nc:\td \xff\r\n") == 2
    for dirty in [b"a\nb\r\r\n", b"a\x00\r\n", b"a\x7f\r\n", b"a\r\n\n", b"a\r\r\n", b"\n\r"]:
        assert clean_lines(dirty) == -1
    # A CR and an LF apart but in order pass this check; no line match can end there, so the match count
    # refuses the section (the differential tests cover it).
    assert clean_lines(b"a\rb\nc\r\n") == 2
    rules = FieldRules(100, 8190, False, True)
    section = "a: \rb\nc\r\n"
    assert outcome(split_fields, section, 0, rules, 2) is outcome(split_slowly, section, 0, rules)


def reference(head: bytes, line_limit: int) -> object:
    """The strict walk: the request line alone, then the field lines one by one, each with what it means
    (the first error met in line order wins), then the head as a whole."""
    text = head.decode("latin-1")
    line_end = text.find("\r\n")
    # Bare LF or overflow, whichever a byte-by-byte reading meets first (line_fault is tested on its own).
    fault = line_fault(text[:line_end] + "\r", 0, line_limit + 2)
    if fault is not None:
        return "LimitRequestLine" if fault == "size" else "InvalidRequestLine"
    rules = FieldRules(100, 8190, False, False)
    policy = HeaderPolicy("drop", frozenset(), False, False, {}, set())
    try:
        line = parse_request_line(text[:line_end], RequestLineRules(False, False, False))
        lines, fields = LineChecker(rules), HeadFields(policy, line.version)
        for raw in text[line_end + 2 :].split("\r\n")[:-1]:
            name, value = lines.line(raw)
            if name is not None:
                fields.field(name, value)
        request = build_request(*line, split_slowly(text, line_end + 2, rules), policy)
    except ProtocolError as exc:
        return type(exc).__name__
    return request._replace(keep_alive=False)


def parsed(head: bytes, line_limit: int) -> object:
    parser = RequestParser(limit_request_line=line_limit, require_host=False, forwarder_headers=[])
    parser.receive_data(head + b"\r\n")
    try:
        event = parser.next_event()
    except ProtocolError as exc:
        return type(exc).__name__
    assert isinstance(event, Request)
    return event._replace(keep_alive=False)


@LIMITS
@given(
    st.sampled_from(["GET", "GET", "GET", "POST", "CONNECT", "OPTIONS", "get", "G"]),
    TARGET,
    st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 "]),
    st.lists(LINE, max_size=6),
    st.sampled_from([4094, 4094, 4094, 20]),
)
def test_head_agrees_with_the_line_walk(
    method: str, target: tuple[str, list[str]], version: str, lines: list[str], line_limit: int
) -> None:
    start, rest = target
    head = f"{method} {start}{''.join(rest)} {version}\r\n" + "".join(line + "\r\n" for line in lines)
    raw = head.encode("latin-1")
    assume(b"\r\n\r\n" not in raw and not raw.endswith(b"\r\n\r"))
    assert line_limit <= MAX_REQUEST_LINE
    expected = reference(raw, line_limit)
    for clean_from in ROUTES:
        with route(clean_from):
            assert parsed(raw, line_limit) == expected


@pytest.mark.usefixtures("either_route")
def test_a_target_with_a_space_is_refused() -> None:
    # `.*` in the fast request line takes spaces; the target must then be refused, not split at the last one.
    head = b"GET /a HTTP/1.1 HTTP/1.1\r\n"
    assert parsed(head, 4094) == reference(head, 4094) == "InvalidHTTPVersion"


@LIMITS
@given(
    st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"a", b"a" * 300, b"b" * 600]), max_size=12),
    st.integers(0, 3000),
)
def test_find_head_end_is_find(parts: list[bytes], start: int) -> None:
    buf = bytearray(b"".join(parts))
    start = start % (len(buf) + 1)
    assert find_head_end(buf, start) == buf.find(b"\r\n\r\n", start)


@pytest.mark.usefixtures("either_route")
@pytest.mark.timeout(20)
@pytest.mark.parametrize("bad", [b"\x01", b"\rb\n"])
def test_a_failing_field_line_costs_linear_time(bad: bytes) -> None:
    # Before the empty value was tied to the line end, each space given back by the leading OWS was rescanned:
    # this head took about 35 s (quadratic); now it is refused in milliseconds.
    head = b"GET / HTTP/1.1\r\nX:" + b" " * 128_000 + b"a" + bad + b"\r\n"
    assert parsed(head, 4094) in ("InvalidHeader", "LimitRequestHeaders")


@LIMITS
@given(
    st.sampled_from(["http://", "https://", "h2+x.y://"]),
    st.sampled_from(["example.com", "u:p@h:8080", "[::1]:80", "h", ""]),
    st.lists(st.sampled_from(["/", "a", "?", "#", "q=1", "%2F", "[", "]", "@", ":", "\xe9"]), max_size=8),
)
def test_absolute_form_splits_as_urlsplit(scheme: str, authority: str, rest: list[str]) -> None:
    target = scheme + authority + "".join(rest)
    try:
        line = parse_request_line(f"GET {target} HTTP/1.1", RequestLineRules(False, False, False))
    except ProtocolError:
        return  # refused: nothing to compare
    parts = urlsplit(target)  # it raises for what the parser refused
    assert (line.path, line.query, line.fragment) == (parts.path, parts.query, parts.fragment)


@pytest.mark.usefixtures("either_route")
def test_a_fold_never_gives_a_line_its_colon() -> None:
    # Joined, "Host" and " :" would read "Host :", which strip_header_spaces accepts; the line walk refuses
    # the first line, which has no colon (found by the differential test above).
    rules = FieldRules(100, 8190, True, True)
    section = "Host\r\n :\r\n"
    assert outcome(split_fields, section, 0, rules, -1) is outcome(split_slowly, section, 0, rules)
    assert outcome(split_slowly, section, 0, rules).__name__ == "InvalidHeader"  # type: ignore[attr-defined]
