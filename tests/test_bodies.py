"""Read-ahead request bodies: where their bytes go, what the worker's limits count, what close gives back."""

from __future__ import annotations

from pathlib import Path

import pytest

from monoceros.workers.bodies import BodyLimits, BufferedBody


def _read_all(body: BufferedBody, size: int = 7) -> bytes:
    out = b""
    while chunk := body.read_body(size):
        out += chunk
    return out


def test_small_body_stays_in_memory_and_is_counted_until_closed() -> None:
    limits = BodyLimits(request_memory=10, read_ahead=100, worker_memory=100, worker_disk=100)
    body = BufferedBody(limits)
    assert body.append(b"hello") and body.append(b"world")
    assert (limits.memory, limits.disk) == (10, 0)
    assert _read_all(body.as_source()) == b"helloworld"
    body.close()
    assert (limits.memory, limits.disk) == (0, 0)


def test_body_past_its_memory_bound_moves_to_the_spool_dir(tmp_path: Path) -> None:
    limits = BodyLimits(
        request_memory=8, read_ahead=100, worker_memory=100, worker_disk=100, spool_dir=str(tmp_path)
    )
    body = BufferedBody(limits)
    body.append(b"12345")
    body.append(b"67890")  # 10 > 8: everything goes to a file
    assert (limits.memory, limits.disk) == (0, 10)
    assert _read_all(body.as_source(), 3) == b"1234567890"
    body.close()
    assert (limits.memory, limits.disk) == (0, 0)


def test_the_worker_memory_bound_is_shared_by_its_bodies() -> None:
    limits = BodyLimits(request_memory=100, read_ahead=1000, worker_memory=12, worker_disk=1000)
    first, second = BufferedBody(limits), BufferedBody(limits)
    first.append(b"a" * 10)
    second.append(b"b" * 5)  # 10 + 5 > 12: to disk, though 5 is under its own bound
    assert (limits.memory, limits.disk) == (10, 5)
    first.close()
    third = BufferedBody(limits)
    third.append(b"c" * 5)
    assert (limits.memory, limits.disk) == (5, 5)
    second.close()
    third.close()
    assert (limits.memory, limits.disk) == (0, 0)


def test_append_says_when_the_read_ahead_is_full() -> None:
    limits = BodyLimits(request_memory=4, read_ahead=10, worker_memory=100, worker_disk=100)
    body = BufferedBody(limits)
    assert body.append(b"123")
    assert body.append(b"4567")
    assert not body.append(b"890")  # 10 bytes read ahead: the rest must stream
    body.close()


def test_append_says_when_the_worker_disk_bound_is_reached() -> None:
    limits = BodyLimits(request_memory=0, read_ahead=1000, worker_memory=100, worker_disk=8)
    other = BufferedBody(limits)
    assert other.append(b"12345")
    body = BufferedBody(limits)
    assert not body.append(b"678")  # 8 bytes on disk for the worker: this body streams from here on
    other.close()
    body.close()
    assert limits.disk == 0


class _Rest:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_body(self, size: int) -> bytes:
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


@pytest.mark.parametrize("request_memory", [100, 2], ids=["memory", "file"])
def test_a_streamed_body_serves_what_was_read_ahead_then_the_rest(request_memory: int) -> None:
    limits = BodyLimits(request_memory=request_memory, read_ahead=4, worker_memory=100, worker_disk=100)
    body = BufferedBody(limits)
    assert not body.append(b"head")
    body.stream_rest(_Rest(b"-and-the-rest"))
    assert _read_all(body.as_source(), 5) == b"head-and-the-rest"
    body.close()
    assert (limits.memory, limits.disk) == (0, 0)


def test_a_spool_that_cannot_be_made_raises_and_gives_everything_back(tmp_path: Path) -> None:
    limits = BodyLimits(
        request_memory=2, read_ahead=100, worker_memory=100, worker_disk=100, spool_dir=str(tmp_path / "gone")
    )
    body = BufferedBody(limits)
    body.append(b"ab")
    with pytest.raises(OSError):
        body.append(b"cd")
    body.close()
    assert (limits.memory, limits.disk) == (0, 0)


def test_close_lets_go_of_a_spool_file_that_cannot_flush(tmp_path: Path) -> None:
    """On a full disk the spool file's close() fails (it flushes what it buffers): the body is let go all
    the same, and nothing reaches the worker (which died of it once, under the full-disk test)."""
    limits = BodyLimits(
        request_memory=4, read_ahead=100, worker_memory=100, worker_disk=100, spool_dir=str(tmp_path)
    )
    body = BufferedBody(limits)
    body.append(b"0123456789")  # past the memory bound: spooled
    spool = body._file
    assert spool is not None

    class FullDisk:
        def __getattr__(self, name: str) -> object:
            return getattr(spool, name)

        def close(self) -> None:
            spool.close()
            raise OSError(28, "No space left on device")

    body._file = FullDisk()  # type: ignore[assignment]
    body.close()
    assert (limits.memory, limits.disk) == (0, 0)
    assert spool.closed
