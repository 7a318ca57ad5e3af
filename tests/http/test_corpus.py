"""Every case of Gunicorn's request corpus, fed whole, byte by byte, in seeded random chunks and 1 + rest."""

from __future__ import annotations

import pytest
from corpus_cases import SPLITTERS, Case, drive, load_cases, parser_kwargs

from monoceros import http
from monoceros.http import NoMoreData, ProtocolError, RemoteProtocolError, RequestParser

VALID = load_cases("valid")
INVALID = load_cases("invalid")

# Gunicorn error class -> (our class, the status we answer with). Differences from Gunicorn's status are
# deliberate and listed in docs/differences.md: 414 for a long request line, 400 (not "no response") for
# NoMoreData and the chunk errors, which a worker only logs anyway.
STATUS = {
    "NoMoreData": 400,
    "InvalidRequestLine": 400,
    "InvalidRequestMethod": 400,
    "InvalidHTTPVersion": 400,
    "InvalidHeader": 400,
    "InvalidHeaderName": 400,
    "ObsoleteFolding": 400,
    "LimitRequestLine": 414,
    "LimitRequestHeaders": 431,
    "InvalidChunkSize": 400,
    "InvalidChunkExtension": 400,
    "ChunkMissingTerminator": 400,
    "InvalidProxyLine": 400,
}

# Cases where we deliberately differ from Gunicorn (docs/differences.md, "Parser"):
# case -> (our error class name, status).
DEVIATIONS = {
    # gzip (or any coding but chunked) is not decoded by us: 501, RFC 9112 §6.1 (Gunicorn passes the
    # still-encoded body to the application).
    "valid/025": ("UnsupportedTransferCoding", 501),
    "valid/025_line": ("UnsupportedTransferCoding", 501),
    "valid/rfc9112_smuggle_gzip_chunked_01": ("UnsupportedTransferCoding", 501),
    # raw obs-text in the request-target: the corpus snapshot (Gunicorn 26.1) accepts it, Gunicorn 27 and we
    # refuse it (RFC 9112 §3.2 / RFC 3986: a URI is ASCII)
    "valid/027": ("InvalidRequestLine", 400),
    # Transfer-Encoding: identity with a Content-Length: refused by Gunicorn 27 and us (RFC 9112 §6.3: the
    # codings do not end in chunked; identity is no registered coding since RFC 7230)
    "valid/009": ("InvalidHeader", 400),
    # a well-formed but unsupported major version is 505 (RFC 9110 §15.6.6), not 400
    "invalid/version_02": ("InvalidHTTPVersion", 505),
}
# Not the parser's job: contradictory secure-scheme headers are judged by monoceros.wsgi.
OUT_OF_SCOPE = {"invalid/019"}
PLAIN_VALID = [case for case in VALID if case.id not in DEVIATIONS]
# The fixture's body is shorter than its Content-Length: checked without EOF (see the test below).
TRUNCATED = {"valid/099"}
COMPLETE_VALID = [case for case in PLAIN_VALID if case.id not in TRUNCATED]


def _ids(cases: list[Case]) -> list[str]:
    return [case.name for case in cases]


def _expected_error(case: Case) -> tuple[type[ProtocolError], int]:
    name, status = DEVIATIONS.get(case.id) or (case.data["expected_exception"], 0)
    status = status or STATUS[name]
    cls = getattr(http, name)
    assert issubclass(cls, RemoteProtocolError)
    return cls, status


def _parse(case: Case, splitter: str, suffix: bytes = b"", eof: bool = True) -> tuple[list, RequestParser]:
    parser = RequestParser(**parser_kwargs(case.config))
    chunks = iter(SPLITTERS[splitter](case.wire + suffix, case.id))
    expected = len(case.data.get("requests", []))
    parsed = drive(parser, chunks, max_requests=expected or None, eof=eof and not suffix)
    for chunk in chunks:  # the bytes after the last message, which the parser did not ask for
        parser.receive_data(chunk)
    return parsed, parser


def _check_error(case: Case, splitter: str) -> None:
    cls, status = _expected_error(case)
    with pytest.raises(cls) as info:
        _parse(case, splitter)
    assert info.value.status == status, info.value


@pytest.mark.parametrize("splitter", list(SPLITTERS))
@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid(case: Case, splitter: str) -> None:
    if case.id in DEVIATIONS:
        _check_error(case, splitter)
        return
    parsed, _ = _parse(case, splitter, eof=case.id not in TRUNCATED)
    expected = case.data["requests"]
    assert len(parsed) == len(expected)
    for got, want in zip(parsed, expected, strict=True):
        req = got.request
        assert req.method == want["method"]
        assert req.target == want["uri"]
        assert (req.path, req.query, req.fragment) == (want["path"], want["query"], want["fragment"])
        assert req.version == tuple(want["version"])
        assert req.headers == [tuple(h) for h in want["headers"]]
        assert got.body == want["body"].encode("latin-1")
        assert got.trailers == [tuple(t) for t in want["trailers"]]


@pytest.mark.parametrize("case", COMPLETE_VALID, ids=_ids(COMPLETE_VALID))
def test_valid_keeps_trailing_bytes(case: Case) -> None:
    """h11-style: bytes after the last expected message stay in ``trailing_data``, whole or byte by byte."""
    _, parser = _parse(case, "whole")
    leftover = parser.trailing_data[0]
    for splitter in ("whole", "bytewise"):
        _, parser = _parse(case, splitter, suffix=b"\x00TRAILING")
        assert parser.trailing_data == (leftover + b"\x00TRAILING", False)


@pytest.mark.parametrize("splitter", list(SPLITTERS))
@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid(case: Case, splitter: str) -> None:
    if case.id in OUT_OF_SCOPE:
        pytest.skip("secure-scheme headers are checked by monoceros.wsgi, not by the parser")
    _check_error(case, splitter)


def test_truncated_body_is_an_error_at_eof() -> None:
    """valid/099 announces 17914 body bytes and holds 8599: Gunicorn's harness reads what is there; a server
    must treat EOF there as a truncated request."""
    case = next(c for c in VALID if c.name == "099")
    parser = RequestParser(**parser_kwargs(case.config))
    (partial,) = drive(parser, [case.wire], eof=False)
    assert partial.request.content_length == 17914
    assert len(partial.body) == 8599
    parser.receive_data(b"")
    with pytest.raises(NoMoreData):
        parser.next_event()


def test_proxy_v1_info() -> None:
    case = next(c for c in VALID if c.name == "pp_01")
    _, parser = _parse(case, "bytewise")
    assert parser.proxy_info == ("TCP4", "192.168.0.1", 56324, "192.168.0.11", 443)


def test_proxy_v2_info() -> None:
    case = next(c for c in VALID if c.name == "pp_05")
    _, parser = _parse(case, "random")
    assert parser.proxy_info is not None
    assert parser.proxy_info.proxy_protocol == "TCP6"


def test_corpus_counts() -> None:
    assert (len(VALID), len(INVALID)) == (63, 74)
