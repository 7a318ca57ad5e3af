"""What a header section means: header_map policy, Host, body framing, keep-alive, Expect, trailer rules.

Names are upper-cased once (a bounded cache, the worker's ``Caches.names``, maps each name as sent to its
upper-case form and its kind); the
few fields that matter here (RFC 9110 §5.3 singletons, framing, Connection, Expect) are picked out and
inspected; names with an underscore go through ``header_map`` (they could alias a dash name once mapped to a
WSGI ``HTTP_*`` key).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._abnf import HOST_RE, QUOTED_STRING, TOKEN
from ._caches import HOSTS_SIZE, NAMES_SIZE
from ._errors import (
    ExpectationFailed,
    InvalidHeader,
    InvalidHeaderName,
    InvalidSchemeHeaders,
    UnsupportedTransferCoding,
)
from ._events import Request


class HeaderPolicy(NamedTuple):
    header_map: str  # "drop" | "refuse" | "dangerous"
    forwarders: frozenset[str]  # upper-case names with "_" kept from a trusted peer ("*" = all)
    peer_trusted: bool
    require_host: bool  # RFC 9112 §3.2: an HTTP/1.1 request without Host is refused
    names: dict[str, tuple[str, int]]  # the worker's cache of field names (`Caches.names`)
    hosts: set[str]  # and of valid Host values (`Caches.hosts`)


# What a field name is to `build_request`, by its upper-case form; every other name is plain, or underscored.
_PLAIN, _HOST, _CONNECTION, _UNDERSCORED, _SPECIAL = range(5)
_KINDS = {
    "HOST": _HOST,
    "CONNECTION": _CONNECTION,
    "CONTENT-LENGTH": _SPECIAL,
    "TRANSFER-ENCODING": _SPECIAL,
    "CONTENT-TYPE": _SPECIAL,
    "EXPECT": _SPECIAL,
}


def _classify(name: str, names: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """Upper-case ``name`` and say what it is, remembering it in ``names`` (the worker's cache)."""
    upper = name.upper()
    kind = _KINDS.get(upper, _UNDERSCORED if "_" in upper else _PLAIN)
    if len(names) >= NAMES_SIZE:
        names.clear()
    names[name] = (upper, kind)
    return upper, kind


# RFC 9110 §6.5.1: fields that control framing, routing, authentication or the connection must not come
# from trailers. Gunicorn refuses the first six; the rest are refused here too (none occurs in its corpus).
FORBIDDEN_TRAILERS = frozenset(
    {"HOST", "CONTENT-LENGTH", "TRANSFER-ENCODING", "TRAILER", "AUTHORIZATION", "TE"}
    | {"PROXY-AUTHORIZATION", "CONNECTION", "KEEP-ALIVE", "UPGRADE", "EXPECT", "CONTENT-ENCODING"}
)


def build_request(
    method: str,
    target: str,
    path: str,
    query: str,
    fragment: str,
    version: tuple[int, int],
    raw: list[tuple[str, str]],
    policy: HeaderPolicy,
) -> Request:
    """The Request event for a valid request line and field lines (names as sent, OWS-trimmed values).

    One pass over the fields upper-cases the names (through a cache), applies ``header_map``, checks Host and
    gathers Connection; the fields that need more (framing, Content-Type, Expect) go to ``_message_fields``.
    """
    headers = []
    special = None
    host = None
    connection = None
    names = policy.names
    for sent, value in raw:
        name, kind = names.get(sent) or _classify(sent, names)
        if kind:
            if kind == _HOST:
                if host is not None:
                    raise InvalidHeader("more than one Host header")
                if value not in policy.hosts:
                    _check_host(value, policy.hosts)
                host = value
            elif kind == _CONNECTION:
                if connection is None:
                    connection = [value]
                else:
                    connection.append(value)
            elif kind == _UNDERSCORED:
                if not _keep_underscored(name, policy):
                    continue
            elif special is None:
                special = [(name, value)]
            else:
                special.append((name, value))
        headers.append((name, value))
    if host is None and policy.require_host and version >= (1, 1):
        raise InvalidHeader("missing Host header in an HTTP/1.1 request")
    if connection is None:
        keep_alive = version >= (1, 1) and method != "CONNECT"
    else:
        keep_alive = _keep_alive(connection, version) and method != "CONNECT"
    if special is None:
        # The tuple constructor: NamedTuple's generated __new__ is a Python frame, twice the cost.
        return tuple.__new__(
            Request,
            (method, target, path, query, fragment, version, headers, raw, None, False, keep_alive, False),
        )
    length, chunked, expect = _message_fields(special, version)
    return tuple.__new__(
        Request,
        (method, target, path, query, fragment, version, headers, raw, length, chunked, keep_alive, expect),
    )


def _check_host(value: str, hosts: set[str]) -> None:
    """Refuse an invalid Host value; remember a valid one in ``hosts`` (the worker's cache)."""
    if value in hosts:
        return
    if not HOST_RE.fullmatch(value):
        raise InvalidHeader(f"invalid Host header {value[:64]!r}")
    if len(hosts) >= HOSTS_SIZE:
        hosts.clear()
    hosts.add(value)


def _message_fields(
    special: list[tuple[str, str]], version: tuple[int, int]
) -> tuple[int | None, bool, bool]:
    """(content length, chunked, 100-continue expected) from Content-Length, Transfer-Encoding, Content-Type
    and Expect, in wire order; a duplicate singleton or an unsupported expectation is refused."""
    content_length: str | None = None
    te: list[str] = []
    ctype = False
    expect = False
    for name, value in special:
        if name == "CONTENT-LENGTH":
            if content_length is not None:
                raise InvalidHeader("more than one Content-Length header")
            content_length = value
        elif name == "TRANSFER-ENCODING":
            te.append(value)
        elif name == "CONTENT-TYPE":
            if ctype:
                raise InvalidHeader("more than one Content-Type header")
            ctype = True
        elif value.lower() == "100-continue":
            # RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
            expect = version >= (1, 1)
        else:
            raise ExpectationFailed(f"unsupported expectation {value[:64]!r}")
    if not te and content_length is None:
        return None, False, expect
    chunked, length = _framing(te, content_length, version)
    return length, chunked, expect


class HeadFields:
    """The field lines of a head so far, checked one at a time: a field that makes the head invalid whatever
    follows (a second Host or Content-Length, a bad Host or Content-Length value, Transfer-Encoding in
    HTTP/1.0 or beside a Content-Length, a coding after ``chunked``, an unsupported expectation, a refused
    underscore) is refused at its line. Used on heads still arriving, and to find the first error of a
    complete head ``build_request`` refused, so both give one outcome. Each refusal here is one
    ``build_request`` makes too."""

    __slots__ = ("_policy", "_version", "_host", "_length", "_te", "_chunked", "_ctype")

    def __init__(self, policy: HeaderPolicy, version: tuple[int, int]) -> None:
        self._policy = policy
        self._version = version
        self._host = self._length = self._te = self._chunked = self._ctype = False

    def field(self, sent: str, value: str) -> None:
        names = self._policy.names
        name, kind = names.get(sent) or _classify(sent, names)
        if kind == _HOST:
            if self._host:
                raise InvalidHeader("more than one Host header")
            _check_host(value, self._policy.hosts)
            self._host = True
        elif kind == _UNDERSCORED:
            _keep_underscored(name, self._policy)
        elif kind == _SPECIAL:
            self._special(name, value)

    def _special(self, name: str, value: str) -> None:
        if name == "CONTENT-LENGTH":
            if self._length:
                raise InvalidHeader("more than one Content-Length header")
            if self._te:
                raise InvalidHeader("both Content-Length and Transfer-Encoding")
            parse_content_length(value)
            self._length = True
        elif name == "TRANSFER-ENCODING":
            if self._version < (1, 1):
                raise InvalidHeader("Transfer-Encoding in an HTTP/1.0 request")
            if self._length:
                raise InvalidHeader("both Content-Length and Transfer-Encoding")
            self._te = True
            for coding in _coding_names([value]):
                if self._chunked:
                    raise InvalidHeader("chunked must be the last transfer coding and appear once")
                self._chunked = coding == "chunked"
        elif name == "CONTENT-TYPE":
            if self._ctype:
                raise InvalidHeader("more than one Content-Type header")
            self._ctype = True
        elif value.lower() != "100-continue":
            raise ExpectationFailed(f"unsupported expectation {value[:64]!r}")


def _keep_underscored(name: str, policy: HeaderPolicy) -> bool:
    if policy.peer_trusted and (name in policy.forwarders or "*" in policy.forwarders):
        return True
    if policy.header_map == "dangerous":
        return True
    if policy.header_map == "refuse":
        raise InvalidHeaderName(f"header name with an underscore refused: {name[:64]!r}")
    return False


def _framing(te: list[str], content_length: str | None, version: tuple[int, int]) -> tuple[bool, int | None]:
    """RFC 9112 §6.1-6.3: (chunked, content_length). Anything ambiguous is refused."""
    if te:
        if version < (1, 1):
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
            raise InvalidHeader("Transfer-Encoding in an HTTP/1.0 request")
        # The one value nearly every chunked request sends needs no splitting; any other list is checked
        # whole (it raises unless it ends in chunked).
        if te != _CHUNKED:
            _check_codings(te)
        if content_length is not None:
            raise InvalidHeader("both Content-Length and Transfer-Encoding")
        return True, None
    if content_length is None:
        return False, None
    # `parse_content_length`, inline: nearly every request with a body comes this way.
    if not (content_length.isdigit() and content_length.isascii() and len(content_length) <= 18):
        raise InvalidHeader(f"invalid Content-Length {content_length[:64]!r}")
    return False, int(content_length)


def parse_content_length(value: str) -> int:
    # RFC 9110 §8.6: 1*DIGIT; more than 18 digits cannot be a length we will ever read.
    if not (value.isdigit() and value.isascii() and len(value) <= 18):
        raise InvalidHeader(f"invalid Content-Length {value[:64]!r}")
    return int(value)


_CHUNKED = ["chunked"]
_PLAIN_CODINGS = frozenset({"chunked", "identity", "gzip", "deflate", "compress"})  # tokens as they are
# RFC 9112 §6.1 / RFC 9110 §10.1.4: transfer-coding = token *( OWS ";" OWS transfer-parameter ), where
# transfer-parameter = token BWS "=" BWS ( token / quoted-string ). Parameters are only checked for shape.
_CODING = re.compile(
    "(" + TOKEN + r")(?:[\t ]*;[\t ]*" + TOKEN + r"[\t ]*=[\t ]*(?:" + TOKEN + "|" + QUOTED_STRING + "))*"
)


def _check_codings(values: list[str]) -> None:
    """Refuse any Transfer-Encoding but ``chunked`` alone (the one coding decoded here).

    RFC 9110 §5.6.1: empty list elements are ignored. RFC 9112 §6.3: a request whose codings do not end in
    ``chunked`` has no determinable length (400), whatever the codings are, ``identity`` included (RFC 7230
    removed it from the registry: it never makes a body "unframed"). Before ``chunked`` it changes nothing
    about the framing and Gunicorn 27 accepts it there, so it is passed over; any other coding before
    ``chunked`` is one we do not decode: 501 (RFC 9112 §6.1).
    """
    codings = _coding_names(values)
    if not codings or codings[-1] != "chunked":
        raise InvalidHeader("Transfer-Encoding does not end in chunked: the body length is unknown")
    if codings.count("chunked") > 1:
        raise InvalidHeader("chunked must be the last transfer coding and appear once")
    for coding in codings[:-1]:
        if coding != "identity":
            raise UnsupportedTransferCoding(f"unsupported transfer coding {coding[:64]!r}")


def _coding_names(values: list[str]) -> list[str]:
    """The lower-case coding names of Transfer-Encoding field values; empty list elements are skipped."""
    codings = []
    for value in values:
        for element in value.split(","):
            element = element.strip(" \t").lower()
            if element in _PLAIN_CODINGS:
                codings.append(element)
                continue
            if not element:
                continue
            match = _CODING.fullmatch(element)
            if match is None:
                raise InvalidHeader(f"invalid Transfer-Encoding element {element[:64]!r}")
            codings.append(match[1])
    return codings


def _keep_alive(connection: list[str], version: tuple[int, int]) -> bool:
    if not connection:
        return version >= (1, 1)
    if len(connection) == 1:
        value = connection[0].lower()
        if value == "keep-alive" or value == "close":
            return value == "keep-alive"
    tokens = {t.strip(" \t").lower() for value in connection for t in value.split(",")}
    if "close" in tokens:
        return False
    return version >= (1, 1) or "keep-alive" in tokens


def build_trailers(raw: list[tuple[str, str]], policy: HeaderPolicy) -> list[tuple[str, str]]:
    """Trailer fields: same rules as headers, minus forbidden fields; never trusted for forwarding."""
    trailers: list[tuple[str, str]] = []
    ctype = False
    untrusted = policy._replace(peer_trusted=False) if policy.peer_trusted else policy
    for sent_name, value in raw:
        name = sent_name.upper()
        if name in FORBIDDEN_TRAILERS:
            raise InvalidHeaderName(f"{name} is not allowed in trailers")
        if name == "CONTENT-TYPE":
            if ctype:
                raise InvalidHeader("more than one Content-Type trailer")
            ctype = True
        elif "_" in name and not _keep_underscored(name, untrusted):
            continue
        trailers.append((name, value))
    return trailers


def stated_scheme(headers: list[tuple[str, str]], secure: dict[str, str]) -> str | None:
    """The scheme a trusted peer's ``secure_scheme_headers`` state (``secure``: UPPER-CASE name -> the value
    that means https), None when it sent none of them; ``InvalidSchemeHeaders`` when they disagree. The same
    rule for the WSGI environ and the ASGI scope."""
    stated = None
    for name, value in headers:
        expected = secure.get(name)
        if expected is None:
            continue
        this = "https" if value == expected else "http"
        if stated is None:
            stated = this
        elif this != stated:
            raise InvalidSchemeHeaders()
    return stated
