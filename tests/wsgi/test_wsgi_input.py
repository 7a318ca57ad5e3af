"""wsgi.input: read/readline/readlines/iteration, bounded by the body, whatever the source's piece sizes."""

from __future__ import annotations

import pytest
from wsgi_helpers import BytesSource, request

from monoceros.wsgi import EMPTY_INPUT, InputStream, input_for

BODY = b"first line\nsecond\n\nlast without newline"
STEPS = [1, 2, 3, 7, 1 << 20]


def stream(body=BODY, step=1 << 20, known=True):
    return InputStream(BytesSource(body, step), len(body) if known else None)


@pytest.fixture(params=[(s, k) for s in STEPS for k in (True, False)], ids=lambda p: f"step{p[0]}-cl{p[1]}")
def make(request):
    step, known = request.param
    return lambda body=BODY: stream(body, step, known)


def test_read_all(make):
    s = make()
    assert s.read() == BODY
    assert s.read() == b""
    assert s.read(10) == b""


@pytest.mark.parametrize("size", [None, -1, -5])
def test_read_none_or_negative_reads_all(make, size):
    assert make().read(size) == BODY


def test_read_sized_pieces_are_exact(make):
    s = make()
    pieces = []
    while True:
        piece = s.read(4)
        if not piece:
            break
        pieces.append(piece)
    assert b"".join(pieces) == BODY
    assert all(len(piece) == 4 for piece in pieces[:-1])


def test_read_zero_reads_nothing(make):
    s = make()
    assert s.read(0) == b""
    assert s.read() == BODY


def test_readline(make):
    s = make()
    assert s.readline() == b"first line\n"
    assert s.readline() == b"second\n"
    assert s.readline() == b"\n"
    assert s.readline() == b"last without newline"
    assert s.readline() == b""


def test_readline_with_size_limit(make):
    s = make()
    assert s.readline(5) == b"first"
    assert s.readline(100) == b" line\n"
    assert s.readline(7) == b"second\n"
    assert s.readline(0) == b""
    assert s.readline(1) == b"\n"
    assert s.readline(None) == b"last without newline"


def test_readline_size_exactly_at_newline(make):
    s = make()
    assert s.readline(11) == b"first line\n"
    assert s.readline(6) == b"second"
    assert s.readline(6) == b"\n"


def test_mixed_read_and_readline(make):
    s = make()
    assert s.read(3) == b"fir"
    assert s.readline() == b"st line\n"
    assert s.read(4) == b"seco"
    assert s.readlines() == [b"nd\n", b"\n", b"last without newline"]


def test_readlines_and_hint(make):
    assert make().readlines() == [b"first line\n", b"second\n", b"\n", b"last without newline"]
    assert make().readlines(-1) == [b"first line\n", b"second\n", b"\n", b"last without newline"]
    assert make().readlines(12) == [b"first line\n", b"second\n"]
    assert make().readlines(11) == [b"first line\n"]
    assert make().readlines(None) == make().readlines(0)


def test_iteration(make):
    assert list(make()) == [b"first line\n", b"second\n", b"\n", b"last without newline"]


def test_never_reads_past_content_length():
    source = BytesSource(b"hello" + b"NEXT REQUEST", step=3)
    s = InputStream(source, 5)
    assert s.read() == b"hello"
    assert source.pos == 5
    assert s.readline() == b""
    assert source.calls == [5, 2]  # asked for no more than what was left each time


def test_never_asks_for_more_than_what_is_left():
    source = BytesSource(b"abcdefgh" + b"next")
    s = InputStream(source, 8)
    assert s.readline() == b"abcdefgh"
    assert all(size <= 8 for size in source.calls)
    assert source.pos == 8


def test_chunked_ends_when_the_source_ends():
    source = BytesSource(b"abc\ndef", step=2)
    s = InputStream(source, None)
    assert s.read(100) == b"abc\ndef"
    assert s.read(1) == b""
    calls = len(source.calls)
    assert s.read() == b""
    assert len(source.calls) == calls  # the end is remembered, the source is not asked again


def test_zero_content_length_never_touches_the_source():
    source = BytesSource(b"should not be read")
    s = InputStream(source, 0)
    assert s.read() == b""
    assert s.readline() == b""
    assert source.calls == []


def test_large_body_read_whole_and_by_lines_is_linear():
    body = b"".join(b"line %d\n" % i for i in range(200_000))  # ~2.3 MB
    assert stream(body, step=65536).read() == body
    lines = list(stream(body, step=4096))
    assert len(lines) == 200_000
    assert lines[-1] == b"line 199999\n"


def test_long_line_in_tiny_pieces():
    body = b"x" * 50_000 + b"\n" + b"tail"
    s = stream(body, step=1)
    assert s.readline() == b"x" * 50_000 + b"\n"
    assert s.read() == b"tail"


def test_sized_read_hands_over_the_source_piece_uncopied():
    piece = b"y" * 100_000

    class OnePiece:
        def read_body(self, size):
            return piece

    s = InputStream(OnePiece(), len(piece))
    assert s.read(len(piece)) is piece


def test_empty_input():
    assert EMPTY_INPUT.read() == b""
    assert EMPTY_INPUT.read(10) == b""
    assert EMPTY_INPUT.readline() == b""
    assert EMPTY_INPUT.readline(3) == b""
    assert EMPTY_INPUT.readlines() == []
    assert list(EMPTY_INPUT) == []


def test_input_for_picks_the_stream_by_framing():
    source = BytesSource(b"data")
    assert input_for(request(), source) is EMPTY_INPUT
    assert input_for(request(content_length=0), source) is EMPTY_INPUT
    sized = input_for(request("POST", content_length=4), source)
    assert isinstance(sized, InputStream)
    assert sized.read() == b"data"
    chunked = input_for(request("POST", chunked=True), BytesSource(b"abc"))
    assert isinstance(chunked, InputStream)
    assert chunked.read() == b"abc"
