"""The PROXY protocol header (haproxy proxy-protocol.txt, v1 text and v2 binary) at the start of a connection.

``read_proxy_header`` looks at the first bytes of a connection and either waits (``NEED_DATA``: the bytes are
still a prefix of a PROXY header), answers None (no PROXY header: leave the bytes to the HTTP parser), or
consumes the header and returns a ``ProxyInfo``. Addresses go through the system's converters
(``inet_pton`` / ``inet_ntop``: pure functions, no I/O), as in Gunicorn: a v1 address is kept as sent once
accepted, a v2 one is written as the system writes it, so both come out exactly as Gunicorn reports them.
"""

from __future__ import annotations

from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

from ._abnf import PROXY_V1_LINE, PROXY_V2_SIGNATURE
from ._errors import ForbiddenProxyRequest, InvalidProxyHeader, InvalidProxyLine
from ._events import NEED_DATA, ProxyInfo, Sentinel

_V1_PREFIX = b"PROXY "
_V1_MAX_LINE = 107  # proxy-protocol.txt §2.1: the longest v1 line, CRLF included
_V2_HEADER = 16
_V1_UNKNOWN = ProxyInfo("UNKNOWN", None, None, None, None)


def read_proxy_header(buf: bytearray, mode: str, trusted: bool, eof: bool) -> ProxyInfo | Sentinel | None:
    """Detect and consume a PROXY header in ``mode`` ("v1" | "v2" | "auto") at the front of ``buf``."""
    if mode != "v2" and buf.startswith(_V1_PREFIX):
        _check_trusted(trusted)
        return _read_v1(buf, eof)
    if mode != "v1" and buf.startswith(PROXY_V2_SIGNATURE):
        _check_trusted(trusted)
        return _read_v2(buf, eof)
    head = bytes(buf[:12])
    maybe_v2 = mode != "v1" and PROXY_V2_SIGNATURE.startswith(head)
    maybe_v1 = mode != "v2" and _V1_PREFIX.startswith(head[:6])
    if (maybe_v1 or maybe_v2) and not eof:
        return NEED_DATA
    return None


def _check_trusted(trusted: bool) -> None:
    if not trusted:
        raise ForbiddenProxyRequest("PROXY protocol header from a peer not in proxy_allow_ips")


def _read_v1(buf: bytearray, eof: bool) -> ProxyInfo | Sentinel:
    match = PROXY_V1_LINE.match(buf)
    if match is None:
        return _odd_v1(buf, eof)
    proto, client, proxy, sport, dport = buf[6 : match.end() - 2].decode("ascii").split(" ")
    del buf[: match.end()]
    try:
        inet_pton(AF_INET if proto == "TCP4" else AF_INET6, client)
        inet_pton(AF_INET if proto == "TCP4" else AF_INET6, proxy)
    except OSError as exc:
        raise InvalidProxyLine(f"invalid address in PROXY line {client!r} {proxy!r}") from exc
    source, destination = int(sport), int(dport)
    if source > 65535 or destination > 65535:
        raise InvalidProxyLine(f"invalid port in PROXY line {sport!r} {dport!r}")
    return tuple.__new__(ProxyInfo, (proto, client, source, proxy, destination))


def _odd_v1(buf: bytearray, eof: bool) -> ProxyInfo | Sentinel:
    """A v1 header that is not a complete TCP4/TCP6 line: UNKNOWN, incomplete, or invalid."""
    end = buf.find(b"\r\n", 0, _V1_MAX_LINE)
    if end < 0:
        if len(buf) >= _V1_MAX_LINE or eof or b"\n" in buf:
            raise InvalidProxyLine("PROXY line too long or not terminated by CRLF")
        return NEED_DATA
    line = bytes(buf[:end])
    del buf[: end + 2]
    if line.startswith(b"PROXY UNKNOWN"):
        return _V1_UNKNOWN
    raise InvalidProxyLine(f"invalid PROXY line {line[:64]!r}")


def _read_v2(buf: bytearray, eof: bool) -> ProxyInfo | Sentinel:
    length = int.from_bytes(buf[14:16], "big") if len(buf) >= _V2_HEADER else -1
    if length < 0 or len(buf) < _V2_HEADER + length:
        if eof:
            raise InvalidProxyHeader("connection closed in a PROXY v2 header")
        return NEED_DATA
    ver_cmd, fam_proto = buf[12], buf[13]
    body = bytes(buf[_V2_HEADER : _V2_HEADER + length])
    del buf[: _V2_HEADER + length]
    if ver_cmd >> 4 != 2 or ver_cmd & 0xF > 1:
        raise InvalidProxyHeader(f"unsupported PROXY v2 version/command {ver_cmd:#x}")
    if ver_cmd & 0xF == 0:
        return ProxyInfo("LOCAL", None, None, None, None)
    return _v2_addresses(fam_proto, body)


def _v2_addresses(fam_proto: int, body: bytes) -> ProxyInfo:
    family, protocol = fam_proto >> 4, fam_proto & 0xF
    if family == 0:
        return ProxyInfo("UNSPEC", None, None, None, None)
    if protocol != 1 or family not in (1, 2):
        raise InvalidProxyHeader(f"unsupported PROXY v2 family/protocol {fam_proto:#x}")
    size = 4 if family == 1 else 16
    if len(body) < 2 * size + 4:
        raise InvalidProxyHeader("PROXY v2 address block too short")
    af = AF_INET if family == 1 else AF_INET6
    client, proxy = inet_ntop(af, body[:size]), inet_ntop(af, body[size : 2 * size])
    sport = int.from_bytes(body[2 * size : 2 * size + 2], "big")
    dport = int.from_bytes(body[2 * size + 2 : 2 * size + 4], "big")
    return ProxyInfo("TCP4" if family == 1 else "TCP6", client, sport, proxy, dport)
