"""The native fast path and the Python parser are one parser: on every input, split any way, the same events,
the same error (class, message, status). The corpus and generated heads (valid, nearly valid and hostile)
are fed to both; the scanner itself is checked against the Python patterns it stands in for, and for
leaks. `make fuzz` runs the generated heads at 10^6 examples (FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from corpus_cases import SPLITTERS, drive, load_cases, parser_kwargs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monoceros.http import NATIVE_AVAILABLE, Caches, RemoteProtocolError, Request, RequestParser
from monoceros.http._abnf import FIELD_LINES, ORIGIN_REQUEST_LINE

pytestmark = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the native parser is not built")
COMPARES_PATHS = True  # (tests/http/conftest.py: run once, not once per path)

CASES = load_cases("valid") + load_cases("invalid")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))


def random_split(data: bytes, seed: int, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of sizes drawn from ``sizes`` (seeded, so a failure replays)."""
    rng = random.Random(seed)
    pieces, pos = [], 0
    while pos < len(data):
        size = rng.choice(sizes)
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


def outcome(data: bytes, chunks: list[bytes], native: bool, **kwargs: Any) -> tuple[object, ...]:
    """What a parser makes of ``chunks`` then EOF: the messages, or where it stopped and why. A first
    parser reads the same bytes with the same caches, so that the second finds its Host values known (the
    native path builds the Request itself only then) as a worker's next connections do."""
    caches = Caches()
    for _ in range(2):
        parser = RequestParser(native=native, caches=caches, **kwargs)
        result = _outcome(parser, chunks)
    return result


def _outcome(parser: RequestParser, chunks: list[bytes]) -> tuple[object, ...]:
    try:
        parsed = drive(parser, iter(chunks))
    except RemoteProtocolError as exc:
        return ("error", type(exc).__name__, str(exc), exc.status)
    return ("ok", [(p.request, p.body, p.trailers) for p in parsed])


@pytest.mark.parametrize("splitter", sorted(SPLITTERS))
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_corpus_case_gives_the_same_outcome_on_both_paths(case: Any, splitter: str) -> None:
    chunks = SPLITTERS[splitter](case.wire, case.id)
    kwargs = parser_kwargs(case.config)
    assert outcome(case.wire, chunks, True, **kwargs) == outcome(case.wire, chunks, False, **kwargs)


def test_the_common_head_takes_the_native_path() -> None:
    """Not a fallback in disguise: the scanner answers for the request wrk and browsers send."""
    parser = RequestParser(native=True)
    scanner = parser._scanner
    assert scanner is not None
    head = bytearray(
        b"GET /search?q=unicorn HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11)\r\n"
        b"Accept: */*\r\nCookie: a=1; b=2\r\nX-Empty:\r\nX-Latin: caf\xe9 \t\r\n\r\n"
    )
    parts = scanner.scan(head, len(head) - 2)
    assert parts == (
        "GET",
        "/search?q=unicorn",
        "/search",
        "q=unicorn",
        1,
        [
            ("Host", "example.com"),
            ("User-Agent", "Mozilla/5.0 (X11)"),
            ("Accept", "*/*"),
            ("Cookie", "a=1; b=2"),
            ("X-Empty", ""),
            ("X-Latin", "café"),
        ],
    )
    # read() builds the Request itself once the Host value is known to be valid (the first time the
    # Python parser checks it), and it is the one the Python parser makes
    assert scanner.read(head, len(head) - 2) == parts
    parser.receive_data(bytes(head))
    request = parser.next_event()
    assert request.headers[0] == ("HOST", "example.com") and request.path == "/search"
    native = scanner.read(head, len(head) - 2)
    assert type(native) is Request and native == request
    python = RequestParser(native=False)
    python.receive_data(bytes(head))
    assert python.next_event() == native


@pytest.mark.parametrize(
    "fields",
    [
        b"Host: h\r\nHost: h\r\n",
        b"Host: h\r\nX_Under: 1\r\n",
        b"Host: h\r\nConnection: upgrade\r\n",
        b"Host: h\r\nConnection: close\r\nConnection: close\r\n",
        b"Host: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n",
        b"Host: h\r\nContent-Length: +1\r\n",
        b"Host: h\r\nContent-Length: 1234567890123456789\r\n",
        b"Host: h\r\nTransfer-Encoding: gzip, chunked\r\n",
        b"Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        b"Host: h\r\nContent-Type: a\r\nContent-Type: b\r\n",
        b"Host: h\r\nExpect: nothing\r\n",
        b"X: no host\r\n",
    ],
)
def test_what_needs_judgement_goes_to_build_request(fields: bytes) -> None:
    caches = Caches()
    caches.hosts.add("h")
    scanner = RequestParser(native=True, caches=caches)._scanner
    assert scanner is not None
    head = bytearray(b"POST / HTTP/1.1\r\n" + fields)
    parts = scanner.read(head, len(head))
    assert type(parts) is tuple and parts == scanner.scan(head, len(head))


@pytest.mark.parametrize(
    "head",
    [
        b"get / HTTP/1.1\r\n",  # a lower-case method: Gunicorn's conventional-method rule decides
        b"CONNECT a:1 HTTP/1.1\r\n",
        b"GET http://a/ HTTP/1.1\r\n",  # absolute-form
        b"GET * HTTP/1.1\r\n",
        b"GET /a#f HTTP/1.1\r\n",
        b"GET /a HTTP/2.0\r\n",
        b"GET /a HTTP/1.1\n",
        b"GET  /a HTTP/1.1\r\n",
        b"GET /a HTTP/1.1\r\nHost : x\r\n",  # space before the colon (strip_header_spaces decides)
        b"GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\ny\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\x00\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\x7f\r\n",
        b"GET /a HTTP/1.1\r\n: x\r\n",
        b"GET /\xe9 HTTP/1.1\r\n",
        b"AB / HTTP/1.1\r\n",
        b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n",
    ],
)
def test_what_is_not_the_common_head_is_left_to_the_python_parser(head: bytes) -> None:
    scanner = RequestParser(native=True)._scanner
    assert scanner is not None
    assert scanner.scan(bytearray(head), len(head)) is None


def test_limits_reached_are_left_to_the_python_parser() -> None:
    line = b"GET /" + b"a" * 95 + b" HTTP/1.1\r\n"  # a request line of 109 bytes
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(10))  # 80 bytes
    head = bytearray(line + fields)
    scan = RequestParser(native=True)._scanner.scan  # type: ignore[union-attr]
    assert scan(head, len(head)) is not None
    for limits in (
        {"limit_request_line": 108},
        {"limit_request_fields": 9},
        {"limit_request_field_size": 79},
    ):
        scanner = RequestParser(native=True, **limits)._scanner
        assert scanner is not None and scanner.scan(head, len(head)) is None, limits
    for limits in (
        {"limit_request_line": 109},
        {"limit_request_fields": 10},
        {"limit_request_field_size": 80},
    ):
        scanner = RequestParser(native=True, **limits)._scanner
        assert scanner is not None and scanner.scan(head, len(head)) is not None, limits


def test_the_scanner_reads_only_the_bytes_it_is_given() -> None:
    buf = bytearray(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n")
    scanner = RequestParser(native=True)._scanner
    assert scanner is not None
    assert scanner.scan(buf, 25) == ("GET", "/", "/", "", 1, [("Host", "a")])
    assert scanner.scan(buf, 20) is None  # a field line cut short
    with pytest.raises(ValueError):
        scanner.scan(buf, len(buf) + 1)


# -- generated heads: valid, nearly valid and hostile ------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
NASTY = [b"\r", b"\n", b"\x00", b"\x7f", b" ", b"\t", b":", b"\xe9", b"#", b"?", b"\r\n", b"\r\n "]
METHODS = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"CONNECT", b"get", b"M-SEARCH"]) | (
    st.text(TCHARS, min_size=1, max_size=24).map(str.encode)
)
TARGETS = st.sampled_from([b"/", b"/a/b?c=d", b"*", b"http://h/p", b"/%zz", b"/?", b"/a#b"]) | st.binary(
    max_size=24
).map(lambda b: b"/" + b)
VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"http/1.1", b"HTTP/11"])
NAMES = st.sampled_from(
    [b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Expect", b"Content-Type"]
    + [b"X_Forwarded_For", b"SCRIPT_NAME", b"Cookie", b"host"]
) | st.text(TCHARS, min_size=1, max_size=12).map(str.encode)
VALUES = st.sampled_from(
    [b"example.com", b"5", b"chunked", b"close", b"keep-alive", b"100-continue", b"gzip, chunked", b"a b"]
    + [b"", b"  padded\t", b"caf\xe9", b"[::1]:80", b"-1", b"identity"]
) | st.binary(max_size=24)


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    line = draw(METHODS) + b" " + draw(TARGETS) + b" " + draw(VERSIONS) + b"\r\n"
    fields = [
        draw(NAMES) + draw(st.sampled_from([b":", b": ", b":\t", b" :"])) + draw(VALUES) for _ in range(3)
    ]
    fields = fields[: draw(st.integers(0, 3))]
    head = line + b"".join(field + b"\r\n" for field in fields)
    if draw(st.booleans()):  # nearly valid: one nasty byte somewhere
        at = draw(st.integers(0, len(head)))
        head = head[:at] + draw(st.sampled_from(NASTY)) + head[at:]
    body = draw(st.sampled_from([b"", b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"]))
    return head + b"\r\n" + body


SETTINGS = st.fixed_dictionaries(
    {
        "header_map": st.sampled_from(["drop", "refuse", "dangerous"]),
        "strip_header_spaces": st.booleans(),
        "permit_obsolete_folding": st.booleans(),
        "permit_unconventional_http_method": st.booleans(),
        "casefold_http_method": st.booleans(),
        "peer_trusted": st.booleans(),
        "limit_request_fields": st.sampled_from([100, 2]),
        "limit_request_line": st.sampled_from([4094, 20]),
    }
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads(), SETTINGS, st.integers(0, 2**32))
def test_generated_heads_give_the_same_outcome_on_both_paths(data: bytes, kwargs: dict, seed: int) -> None:
    chunks = random_split(data, seed, [1, 2, 7, len(data)])
    assert outcome(data, chunks, True, **kwargs) == outcome(data, chunks, False, **kwargs)
    assert outcome(data, [data], True, **kwargs) == outcome(data, [data], False, **kwargs)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(TCHARS, min_size=1, max_size=20), st.binary(max_size=40)),
        max_size=12,
    ),
    st.text(TCHARS.replace("#", ""), min_size=0, max_size=30),
)
def test_the_scanner_splits_fields_as_the_python_patterns_do(fields: list, query: str) -> None:
    line = f"GET /p?{query} HTTP/1.1\r\n".encode()
    head = line + b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    text = head.decode("latin-1")
    scanner = RequestParser(native=True)._scanner
    assert scanner is not None
    parts = scanner.scan(bytearray(head), len(head))
    match = ORIGIN_REQUEST_LINE.match(text)
    assert match is not None
    pairs = FIELD_LINES.findall(text, match.end())
    if len(pairs) != text.count("\n", match.end()):
        assert parts is None  # some value held a byte no field line may hold
    else:
        method, target, path, query_, minor = match.groups()
        assert parts == (method, target, path, query_ or "", int(minor), pairs)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_million_scans_keep_memory_flat() -> None:
    """No reference leak: a str, tuple or list a scan made and did not free would cost 50 bytes or more a
    scan, 50 MB over the loop; the resident size may move by a few pages."""
    scanner = RequestParser(native=True)._scanner
    assert scanner is not None
    heads = [
        bytearray(b"GET /a?b=%d HTTP/1.1\r\nHost: h\r\nX-Long: %s\r\n" % (i, b"v" * (i % 90)))
        for i in range(64)
    ]
    heads.append(bytearray(b"GET /a HTTP/1.1\r\nBad Name: x\r\n"))  # the None path too
    scan = scanner.scan
    for head in heads * 100:  # warm the scanner's table and the allocator
        scan(head, len(head))
    before = _rss()
    for i in range(1_000_000):
        head = heads[i & 63 if i % 10 else 64]
        scan(head, len(head))
    assert _rss() - before < 2 * 1024 * 1024, (before, _rss())


def test_take_chunks_takes_only_plain_complete_chunks() -> None:
    from monoceros.http._native import take_chunks

    assert take_chunks is not None
    body = bytearray(b"5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n")
    assert take_chunks(body, 8190) == (25, b"hello0123456789")  # up to the last chunk, which Python reads
    for stop in (b"5;e=1\r\nhello\r\n", b"5\r\nhell", b"5\r\nhelloXY", b"00000000000000005\r\nhello\r\n"):
        assert take_chunks(bytearray(b"1\r\na\r\n" + stop), 8190) == (6, b"a"), stop
    assert take_chunks(bytearray(b"5\r\nhello\r\n"), 2) == (0, b"")  # a line longer than the limit


CHUNKS = st.lists(
    st.tuples(
        st.binary(min_size=1, max_size=40),
        st.sampled_from([b"", b";a=b", b" ;x", b';q="v"', b";\x00"]),
        st.sampled_from(["%x", "%X", "%04x", "%017x"]),
    ),
    max_size=8,
)
ENDINGS = st.sampled_from(
    [b"0\r\n\r\n", b"0\r\nX-T: 1\r\n\r\n", b"0\r\n", b"", b"1\r\nab\r\n", b"0;e\r\n\r\n"]
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHUNKS, ENDINGS, st.integers(0, 2**32))
def test_generated_chunked_bodies_give_the_same_outcome_on_both_paths(
    chunks: list[tuple[bytes, bytes, str]], ending: bytes, seed: int
) -> None:
    body = b"".join(
        (form % len(data)).encode() + ext + b"\r\n" + data + b"\r\n" for data, ext, form in chunks
    )
    data = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body + ending
    pieces = random_split(data, seed, [1, 3, 64, len(data)])
    assert outcome(data, pieces, True) == outcome(data, pieces, False)
    assert outcome(data, [data], True) == outcome(data, [data], False)
