"""Listeners on real sockets: TCP, IPv6, Unix, adopted fds, the busy-address retry loop, and closing."""

import logging
import os
import socket
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monoceros.arbiter.sockets import Address, Listener, close_sockets, create_sockets
from monoceros.errors import BindError

LOG = logging.getLogger("tests.sockets")


@dataclass
class SockCfg:
    address: Sequence[Address] = field(default_factory=lambda: [("127.0.0.1", 0)])
    backlog: int = 2048
    umask: int = 0
    uid: int = field(default_factory=os.geteuid)
    gid: int = field(default_factory=os.getegid)
    reuse_port: bool = False
    is_ssl: bool = False
    certfile: str | None = None
    keyfile: str | None = None


@pytest.fixture
def made() -> Iterator[list[Listener]]:
    """Listeners created by a test; closed (and unlinked) afterwards whatever happens."""
    listeners: list[Listener] = []
    yield listeners
    close_sockets(listeners, unlink=True)


def create(made: list[Listener], cfg: SockCfg, fds: list[int] | None = None) -> list[Listener]:
    listeners = create_sockets(cfg, LOG, fds, retries=2, delay=0.01)
    made.extend(listeners)
    return listeners


def opt(sock: socket.socket, level: int, name: int) -> int:
    return sock.getsockopt(level, name)


def test_tcp_listener_options_and_str(made: list[Listener]) -> None:
    (lst,) = create(made, SockCfg())
    port = lst.getsockname()[1]
    assert str(lst) == f"http://127.0.0.1:{port}"
    assert lst.family == socket.AF_INET
    assert opt(lst.sock, socket.SOL_SOCKET, socket.SO_REUSEADDR)
    assert opt(lst.sock, socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert opt(lst.sock, socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    assert not opt(lst.sock, socket.SOL_SOCKET, socket.SO_REUSEPORT)
    assert lst.sock.getblocking() is False
    assert os.get_inheritable(lst.fileno())
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"ping")
        lst.setblocking(True)
        conn, peer = lst.accept()
        with conn:
            assert conn.recv(4) == b"ping"
            assert peer[0] == "127.0.0.1"


def test_tls_scheme_and_missing_cert_files(made: list[Listener], tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked here, only its existence")
    (lst,) = create(made, SockCfg(is_ssl=True, certfile=str(cert)))
    assert str(lst).startswith("https://127.0.0.1:")
    with pytest.raises(ValueError, match=r'^certfile ".*nope.pem" does not exist$'):
        create(made, SockCfg(certfile=str(tmp_path / "nope.pem")))
    with pytest.raises(ValueError, match=r'^keyfile ".*key.pem" does not exist$'):
        create(made, SockCfg(keyfile=str(tmp_path / "key.pem")))


def test_reuse_port_lets_two_listeners_share_a_port(made: list[Listener]) -> None:
    (first,) = create(made, SockCfg(reuse_port=True))
    assert opt(first.sock, socket.SOL_SOCKET, socket.SO_REUSEPORT)
    port = first.getsockname()[1]
    (second,) = create(made, SockCfg(address=[("127.0.0.1", port)], reuse_port=True))
    assert second.getsockname()[1] == port


def test_ipv6_listener(made: list[Listener]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        (lst,) = create(made, SockCfg(address=[("::1", 0)]))
    except BindError:
        pytest.skip("::1 is not configured here")
    assert lst.family == socket.AF_INET6
    assert str(lst) == f"http://[::1]:{lst.getsockname()[1]}"


def test_unix_listener_mode_owner_and_str(made: list[Listener], tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    (lst,) = create(made, SockCfg(address=[path], umask=0o077))
    assert str(lst) == f"unix:{path}"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700  # bound under the configured umask...
    assert os.umask(0o022) == 0o022  # ...which was put back afterwards
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_unix_socket_is_chowned_to_the_worker_user(made: list[Listener], tmp_path: Path) -> None:
    path = str(tmp_path / "owned.sock")
    create(made, SockCfg(address=[path], uid=65534, gid=65534))
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_stale_unix_socket_is_replaced(made: list[Listener], tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(path)
    leftover.close()  # the file stays behind, as after a crash
    (lst,) = create(made, SockCfg(address=[path]))
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
    assert lst.unix_path == path


def test_existing_regular_file_is_never_removed(made: list[Listener], tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("precious")
    with pytest.raises(ValueError, match="is not a socket"):
        create(made, SockCfg(address=[str(path)]))
    assert path.read_text() == "precious"


def test_abstract_unix_socket(made: list[Listener]) -> None:
    name = f"\0monoceros-test-{os.getpid()}"
    (lst,) = create(made, SockCfg(address=[name]))
    assert str(lst) == f"unix:@monoceros-test-{os.getpid()}"
    assert lst.unix_path is None
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(name)


def test_close_sockets_unlinks_only_when_asked(tmp_path: Path) -> None:
    kept, gone = str(tmp_path / "kept.sock"), str(tmp_path / "gone.sock")
    close_sockets(create_sockets(SockCfg(address=[kept]), LOG), unlink=False)
    close_sockets(create_sockets(SockCfg(address=[gone]), LOG), unlink=True)
    assert os.path.exists(kept)
    assert not os.path.exists(gone)


def test_busy_address_retries_then_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = busy.getsockname()
        caplog.set_level(logging.DEBUG, LOG.name)
        with pytest.raises(BindError) as info:
            create_sockets(SockCfg(address=[addr]), LOG, retries=3, delay=0.01)
    assert info.value.code == 1
    assert isinstance(info.value, SystemExit)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors.count(f"Connection in use: {addr}") == 3
    assert errors[1].startswith(f"connection to {addr} failed: [Errno 98]")
    assert errors[-1] == f"Can't connect to {addr}"
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert retries == ["Retrying in 0.01 seconds."] * 2


def test_a_failed_bind_closes_what_was_already_bound(tmp_path: Path) -> None:
    path = str(tmp_path / "first.sock")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(BindError):
            create_sockets(SockCfg(address=[path, busy.getsockname()]), LOG, retries=1, delay=0)
    assert not os.path.exists(path)


def test_fd_address_is_adopted_with_its_family(made: list[Listener], tmp_path: Path) -> None:
    path = str(tmp_path / "inherited.sock")
    raw = socket.socket(socket.AF_UNIX)
    raw.bind(path)
    fd = raw.detach()  # the listener owns the fd from now on
    (lst,) = create(made, SockCfg(address=[fd]))
    assert lst.fileno() == fd
    assert lst.family == socket.AF_UNIX
    assert str(lst) == f"unix:{path}"
    assert opt(lst.sock, socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # listen() was called for it
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)


def test_inherited_fds_replace_the_configured_binds(made: list[Listener]) -> None:
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen()
    port = raw.getsockname()[1]
    fd = raw.detach()
    listeners = create(made, SockCfg(address=[("127.0.0.1", 0), "/nonexistent/dir/x.sock"]), fds=[fd])
    assert [str(lst) for lst in listeners] == [f"http://127.0.0.1:{port}"]
    assert opt(listeners[0].sock, socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_non_socket_fd_is_a_clear_error(made: list[Listener]) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match=rf"^fd://{r} is not a usable socket"):
            create(made, SockCfg(address=[r]))
        os.fstat(r)  # still open: not ours to close
    finally:
        os.close(r)
        os.close(w)


def test_a_datagram_fd_is_refused(made: list[Listener]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(ValueError, match="is not a stream socket"):
            create(made, SockCfg(address=[udp.fileno()]))
        assert udp.fileno() >= 0
