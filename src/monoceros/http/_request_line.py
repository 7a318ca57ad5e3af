"""The request line: method, request-target (split into path, query, fragment) and HTTP version.

One compiled regex validates a conventional line; when it fails, ``diagnose`` walks the parts in order to
raise the error Gunicorn names for the first bad one. The request-target form is checked against the method
(RFC 9112 §3.2): asterisk-form for OPTIONS only, authority-form for CONNECT only.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from ._abnf import (
    ABSOLUTE_FORM,
    AUTHORITY_FORM,
    CONVENTIONAL_METHOD_RE,
    REQUEST_LINE_ANY_METHOD,
    REQUEST_LINE_CONVENTIONAL,
    TOKEN_RE,
    VERSION_RE,
)
from ._errors import InvalidHTTPVersion, InvalidRequestLine, InvalidRequestMethod


class RequestLine(NamedTuple):
    method: str
    target: str
    path: str
    query: str
    fragment: str
    version: tuple[int, int]


class RequestLineRules(NamedTuple):
    permit_method: bool  # permit_unconventional_http_method
    permit_version: bool  # permit_unconventional_http_version
    casefold_method: bool


_HTTP11 = (1, 1)
_HTTP10 = (1, 0)
_VERSIONS = {"1.1": _HTTP11, "1.0": _HTTP10}


def parse_request_line(line: str, rules: RequestLineRules) -> RequestLine:
    """Validate ``line`` (without CRLF) and split it; raise the Gunicorn-named error for a bad one."""
    pattern = REQUEST_LINE_ANY_METHOD if rules.permit_method else REQUEST_LINE_CONVENTIONAL
    match = pattern.fullmatch(line)
    if match is None:
        diagnose(line, rules)
        raise InvalidRequestLine(f"invalid request line {line[:64]!r}")  # diagnose() always raises first
    method, target, number = match.groups()
    version = _VERSIONS.get(number) or _version(int(number[0]), int(number[2]), rules.permit_version)
    if rules.casefold_method:
        method = method.upper()
    if target[0] == "/" and method != "CONNECT":
        path, query, fragment = split_origin_form(target)
    else:
        path, query, fragment = _split_other_form(method, target)
    return RequestLine(method, target, path, query, fragment, version)


def _version(major: int, minor: int, permit: bool) -> tuple[int, int]:
    if major == 1:
        return _HTTP11 if minor == 1 else _HTTP10 if minor == 0 else (1, minor)
    if permit:
        return (major, minor)
    # RFC 9110 §15.6.6: a well-formed version of another major number is "not supported" (505).
    raise InvalidHTTPVersion(f"HTTP version {major}.{minor} is not supported", 505)


def split_origin_form(target: str) -> tuple[str, str, str]:
    """path, query, fragment as ``urllib.parse.urlsplit`` would (the fragment is cut off first)."""
    rest, _, fragment = target.partition("#")
    path, _, query = rest.partition("?")
    return path, query, fragment


def _split_other_form(method: str, target: str) -> tuple[str, str, str]:
    if target == "*":
        if method != "OPTIONS":
            raise InvalidRequestLine("asterisk-form request-target is only allowed with OPTIONS")
        return "*", "", ""
    if method != "CONNECT":
        match = ABSOLUTE_FORM.fullmatch(target)
        if match is None:
            raise InvalidRequestLine(f"invalid request-target {target[:64]!r}")
        if "[" not in target:
            return split_origin_form(match[1])  # what urlsplit gives for a target the pattern accepts
        # An IP literal: urlsplit checks that it is an IPv6 address.
    elif not AUTHORITY_FORM.fullmatch(target):
        raise InvalidRequestLine(f"CONNECT needs an authority-form request-target, not {target[:64]!r}")
    try:
        parts = urlsplit(target)
    except ValueError as exc:
        raise InvalidRequestLine(f"invalid request-target {target[:64]!r}") from exc
    return parts.path, parts.query, parts.fragment


def diagnose(line: str, rules: RequestLineRules) -> None:
    """Raise the error for the first bad part of a request line the fast regex refused."""
    if "\r" in line or "\n" in line:
        raise InvalidRequestLine("bare CR or LF in the request line")
    parts = line.split(" ", 2)
    if len(parts) != 3:
        raise InvalidRequestLine(f"invalid request line {line[:64]!r}")
    method, target, version = parts
    conventional = rules.permit_method or CONVENTIONAL_METHOD_RE.fullmatch(method)
    if not TOKEN_RE.fullmatch(method) or not conventional:
        raise InvalidRequestMethod(f"invalid method {method[:64]!r}")
    if not target or re.search(r"[\x00-\x20\x7f-\xff]", target):
        raise InvalidRequestLine(f"invalid request-target {target[:64]!r}")
    if not VERSION_RE.fullmatch(version):
        raise InvalidHTTPVersion(f"invalid HTTP version {version[:64]!r}")
    raise InvalidRequestLine(f"invalid request line {line[:64]!r}")
