"""The sans-IO HTTP/1.1 request parser (stub: the API surface; the implementation follows)."""

from __future__ import annotations

from collections.abc import Iterable

from ._events import Event, ProxyInfo, Sentinel


class RequestParser:
    """Bytes in (``receive_data``), events out (``next_event``)."""

    def __init__(
        self,
        limit_request_line: int = 4094,
        limit_request_fields: int = 100,
        limit_request_field_size: int = 8190,
        permit_unconventional_http_method: bool = False,
        permit_unconventional_http_version: bool = False,
        casefold_http_method: bool = False,
        strip_header_spaces: bool = False,
        permit_obsolete_folding: bool = False,
        header_map: str = "drop",
        forwarder_headers: Iterable[str] = frozenset({"SCRIPT_NAME", "PATH_INFO"}),
        peer_trusted: bool = False,
        proxy_protocol: str = "off",
        proxy_trusted: bool = False,
        require_host: bool = True,
    ) -> None:
        self.proxy_info: ProxyInfo | None = None

    def receive_data(self, data: bytes) -> None:
        raise NotImplementedError

    def next_event(self) -> Event | Sentinel:
        raise NotImplementedError

    def start_next_cycle(self) -> None:
        raise NotImplementedError

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        raise NotImplementedError
