"""Which peers are trusted proxies: ``forwarded_allow_ips`` / ``proxy_allow_ips`` as a predicate.

The spec is Gunicorn's: a list (or a comma-separated string, as ``$FORWARDED_ALLOW_IPS`` gives it) of IP
addresses, CIDR networks and ``*`` for everyone. Peers that are not IP addresses (Unix-socket peers:
``''``, a path or ``b''``) are always trusted: only the local machine can reach such a socket.

``allows`` runs once per connection; a literal address in the spec (the default ``127.0.0.1,::1``) is
matched by string before any parsing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _split(spec: str | Iterable[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else spec
    return [item.strip() for item in items if item.strip()]


class IPTrust:
    """``IPTrust(["127.0.0.1", "10.0.0.0/8"]).allows(peer)``; ``ValueError`` on an invalid entry."""

    __slots__ = ("everyone", "_literals", "_networks")

    def __init__(self, spec: str | Iterable[str]) -> None:
        entries = _split(spec)
        self.everyone = "*" in entries
        networks: list[_Network] = []
        literals: set[str] = set()
        for entry in entries:
            if entry == "*":
                continue
            network = ipaddress.ip_network(entry, strict=False)
            networks.append(network)
            if "/" not in entry:
                literals.add(entry)
        self._literals = frozenset(literals)
        self._networks = tuple(networks)

    def allows(self, peer: object) -> bool:
        """Whether ``peer`` (an address tuple, an IP string, or a Unix-socket address) is trusted."""
        if self.everyone:
            return True
        host = peer[0] if isinstance(peer, tuple) else peer
        if not isinstance(host, str):
            return True  # bytes: an abstract-namespace Unix socket
        if host in self._literals:
            return True
        try:
            address: _Address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            # Not an IP at all: a Unix-socket peer ('' or a path). A TCP peer always has an IP.
            return not isinstance(peer, tuple)
        return self._match(address)

    def _match(self, address: _Address) -> bool:
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; an IPv4 entry still covers them.
        mapped = getattr(address, "ipv4_mapped", None)
        for network in self._networks:
            if address in network or (mapped is not None and mapped in network):
                return True
        return False

    def __repr__(self) -> str:
        shown = ["*"] if self.everyone else [str(network) for network in self._networks]
        return f"IPTrust({shown!r})"
