"""wsgi.file_wrapper: PEP 3333 iteration, and run_app serving it with sendfile or by copying."""

from __future__ import annotations

import io
import os

import pytest
from wsgi_helpers import Log, RecordingTransport, request, writer_for

from monoceros.wsgi import FileWrapper, run_app
from monoceros.wsgi.filewrapper import real_fileno

CONTENT = bytes(range(256)) * 100  # 25600 bytes


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "data.bin"
    p.write_bytes(CONTENT)
    return p


def serve(file, headers=(), req=None, transport=None, seek=0, wrapper=FileWrapper, prelude=b""):
    req = req or request()
    transport = transport or RecordingTransport()
    log = Log()

    def app(environ, start_response):
        write = start_response("200 OK", list(headers))
        if prelude:
            write(prelude)
        if seek is not None:
            file.seek(seek)
        return wrapper(file, 4096)

    info = run_app(app, {}, req, writer_for(req), transport, log)
    assert log.exceptions == []
    return info, transport


def body_of(raw):
    return raw.partition(b"\r\n\r\n")[2]


def dechunk(body):
    out = b""
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            return out
        out += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]


def test_iterates_in_blocks_and_closes():
    f = io.BytesIO(b"abcdefghij")
    wrapper = FileWrapper(f, 4)
    assert list(wrapper) == [b"abcd", b"efgh", b"ij"]
    wrapper.close()
    assert f.closed


def test_old_getitem_protocol():
    wrapper = FileWrapper(io.BytesIO(b"abcdef"), 4)
    assert wrapper[0] == b"abcd"
    assert wrapper[1] == b"ef"
    with pytest.raises(IndexError):
        wrapper[2]


def test_close_without_a_close_method():
    class Reader:
        def read(self, n):
            return b""

    FileWrapper(Reader()).close()  # nothing to close, no error


def test_sendfile_with_content_length(path):
    with path.open("rb") as f:
        info, transport = serve(f, [("Content-Length", str(len(CONTENT)))])
        assert transport.sendfiles == [(0, len(CONTENT))]
        assert f.closed
    assert body_of(transport.data) == CONTENT
    assert info.bytes_sent == len(CONTENT)
    assert info.keep_alive is True
    assert len(transport.writes) == 2  # the head, then the kernel's copy


def test_sendfile_without_content_length_gets_one(path):
    with path.open("rb") as f:
        info, transport = serve(f, seek=1000)
    assert transport.sendfiles == [(1000, len(CONTENT) - 1000)]
    head = transport.writes[0].decode("latin-1")
    assert f"Content-Length: {len(CONTENT) - 1000}\r\n" in head
    assert "Transfer-Encoding" not in head
    assert body_of(transport.data) == CONTENT[1000:]
    assert info.keep_alive is True


def test_sendfile_respects_a_smaller_content_length(path):
    with path.open("rb") as f:
        info, transport = serve(f, [("Content-Length", "100")], seek=10)
    assert transport.sendfiles == [(10, 100)]
    assert body_of(transport.data) == CONTENT[10:110]
    assert info.keep_alive is True


def test_file_shorter_than_content_length_closes(path):
    with path.open("rb") as f:
        info, transport = serve(f, [("Content-Length", str(len(CONTENT) + 50))])
    assert transport.sendfiles == [(0, len(CONTENT))]
    assert info.bytes_sent == len(CONTENT)
    assert info.keep_alive is False


def test_sendfile_after_write_is_framed_as_one_chunk(path):
    with path.open("rb") as f:
        info, transport = serve(f, prelude=b"prefix")
    assert transport.data.count(b"Transfer-Encoding: chunked") == 1
    assert dechunk(body_of(transport.data)) == b"prefix" + CONTENT
    assert transport.sendfiles == [(0, len(CONTENT))]
    assert info.keep_alive is True


def test_copy_fallback_after_write_is_framed_too(path):
    with path.open("rb") as f:
        info, transport = serve(f, prelude=b"prefix", transport=RecordingTransport(sendfile_ok=False))
    assert dechunk(body_of(transport.data)) == b"prefix" + CONTENT
    assert info.keep_alive is True


def test_fallback_when_sendfile_is_not_possible(path):
    with path.open("rb") as f:
        info, transport = serve(f, transport=RecordingTransport(sendfile_ok=False), seek=5)
    assert transport.sendfiles == []
    assert body_of(transport.data) == CONTENT[5:]
    assert f"Content-Length: {len(CONTENT) - 5}".encode() in transport.writes[0]
    assert max(len(w) for w in transport.writes[1:]) <= 4096  # the wrapper's block size
    assert info.keep_alive is True


def test_file_without_fileno_is_iterated():
    f = io.BytesIO(CONTENT)
    info, transport = serve(f, [("Content-Length", str(len(CONTENT)))])
    assert transport.sendfiles == []
    assert body_of(transport.data) == CONTENT
    assert f.closed


def test_file_without_fileno_and_length_is_chunked():
    info, transport = serve(io.BytesIO(CONTENT))
    assert dechunk(body_of(transport.data)) == CONTENT


def test_pipe_is_iterated_not_sendfiled():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"through a pipe")
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        info, transport = serve(f, seek=None)
    assert transport.sendfiles == []
    assert dechunk(body_of(transport.data)) == b"through a pipe"


class _Subclass(FileWrapper):
    """Not our exact class: run_app cannot know what it overrides, so it iterates it."""


def test_subclass_is_iterated_not_sendfiled(path):
    with path.open("rb") as f:
        info, transport = serve(f, [("Content-Length", str(len(CONTENT)))], wrapper=_Subclass)
    assert transport.sendfiles == []
    assert body_of(transport.data) == CONTENT


def test_head_request_sends_no_file(path):
    with path.open("rb") as f:
        info, transport = serve(f, [("Content-Length", str(len(CONTENT)))], req=request("HEAD"))
    assert transport.sendfiles == []
    assert body_of(transport.data) == b""
    assert info.keep_alive is True


def test_client_gone_during_sendfile(path):
    class Failing(RecordingTransport):
        def sendfile(self, file, offset, count):
            raise ConnectionResetError(104, "reset")

    log = Log()
    with path.open("rb") as f:

        def app(environ, start_response):
            start_response("200 OK", [])
            return FileWrapper(f)

        req = request()
        info = run_app(app, {}, req, writer_for(req), Failing(), log)
        assert f.closed
    assert info.client_gone is True
    assert info.keep_alive is False
    assert log.exceptions == []


def test_seekable_non_regular_file_is_iterated():
    with open(os.devnull, "rb") as f:
        info, transport = serve(f)
    assert transport.sendfiles == []
    assert dechunk(body_of(transport.data)) == b""


def test_file_shrinking_under_a_chunked_sendfile_closes(path):
    class Short(RecordingTransport):
        def sendfile(self, file, offset, count):
            super().sendfile(file, offset, count - 10)
            return count - 10

    with path.open("rb") as f:
        info, transport = serve(f, prelude=b"p", transport=Short())
    assert not transport.data.endswith(b"0\r\n\r\n")  # the chunk can never be completed
    assert info.keep_alive is False


def test_copy_fallback_with_content_length_beyond_the_file(path):
    length = len(CONTENT) + 100
    with path.open("rb") as f:
        info, transport = serve(
            f, [("Content-Length", str(length))], transport=RecordingTransport(sendfile_ok=False)
        )
    assert body_of(transport.data) == CONTENT
    assert info.keep_alive is False


def test_real_fileno_refuses_odd_objects():
    class Odd:
        def fileno(self):
            return "3"

    class Closed:
        def fileno(self):
            raise ValueError("I/O operation on closed file")

    assert real_fileno(Odd()) is None
    assert real_fileno(Closed()) is None
    assert real_fileno(object()) is None
