"""IPTrust: forwarded_allow_ips / proxy_allow_ips semantics."""

from __future__ import annotations

import pytest

from monoceros.wsgi import IPTrust


@pytest.mark.parametrize(
    ("spec", "peer", "allowed"),
    [
        (["127.0.0.1", "::1"], ("127.0.0.1", 5000), True),
        (["127.0.0.1", "::1"], ("::1", 5000, 0, 0), True),
        (["127.0.0.1", "::1"], ("10.0.0.1", 5000), False),
        ("127.0.0.1,::1", ("::1", 1, 0, 0), True),
        ("127.0.0.1, 10.0.0.0/8", ("10.200.3.4", 1), True),
        ("127.0.0.1, 10.0.0.0/8", ("11.0.0.1", 1), False),
        (["2001:db8::/32"], ("2001:db8::42", 1, 0, 0), True),
        (["2001:db8::/32"], ("2001:db9::42", 1, 0, 0), False),
        (["*"], ("203.0.113.9", 1), True),
        ("*", ("203.0.113.9", 1), True),
        ([], ("127.0.0.1", 1), False),
        ("", ("127.0.0.1", 1), False),
        # A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses.
        (["127.0.0.1"], ("::ffff:127.0.0.1", 1, 0, 0), True),
        (["10.0.0.0/8"], ("::ffff:10.1.1.1", 1, 0, 0), True),
        (["10.0.0.0/8"], ("::ffff:11.1.1.1", 1, 0, 0), False),
        (["fe80::/10"], ("fe80::1%eth0", 1, 0, 2), True),
        # Plain IP strings work too.
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "10.0.0.1", False),
    ],
)
def test_allows(spec, peer, allowed):
    assert IPTrust(spec).allows(peer) is allowed


@pytest.mark.parametrize("peer", ["", "/run/app.sock", b"", b"\0abstract"])
def test_unix_socket_peers_are_always_trusted(peer):
    assert IPTrust([]).allows(peer) is True


def test_garbage_tcp_host_is_not_trusted():
    assert IPTrust(["127.0.0.1"]).allows(("not-an-ip", 1)) is False


@pytest.mark.parametrize("spec", [["300.1.1.1"], ["10.0.0.0/33"], ["example.com"]])
def test_invalid_entries_are_rejected(spec):
    with pytest.raises(ValueError, match=r"does not appear to be"):
        IPTrust(spec)


def test_host_bits_in_a_network_are_tolerated():
    assert IPTrust(["10.1.2.3/8"]).allows(("10.9.9.9", 1)) is True


def test_repr_names_the_networks():
    assert "10.0.0.0/8" in repr(IPTrust("10.0.0.0/8"))
    assert repr(IPTrust("*")) == "IPTrust(['*'])"
