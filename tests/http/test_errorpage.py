"""error_response: right phrase for every status, a valid closed response, escaped detail."""

from __future__ import annotations

import html.parser
import http.client
import io
from http import HTTPStatus

import pytest

from monoceros.http import error_response
from monoceros.http._errorpage import reason_phrase


class _FakeSock:
    """Just enough of a socket for http.client.HTTPResponse to parse bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def parse(raw: bytes) -> tuple[http.client.HTTPResponse, bytes]:
    response = http.client.HTTPResponse(_FakeSock(raw))  # type: ignore[arg-type]
    response.begin()
    return response, response.read()


NO_CONTENT = {s for s in HTTPStatus if s < 200 or s in (204, 304)}


@pytest.mark.parametrize("status", [s for s in HTTPStatus if s not in NO_CONTENT], ids=int)
def test_every_known_status_parses_with_its_phrase(status: HTTPStatus) -> None:
    raw = error_response(status.value, "something <went> wrong")
    assert raw.startswith(b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()))
    response, body = parse(raw)
    assert response.status == status.value
    assert response.reason == status.phrase
    assert response.getheader("Connection") == "close"
    assert response.getheader("Content-Type") == "text/html"
    assert response.getheader("Date", "").endswith(" GMT")
    assert int(response.getheader("Content-Length", "-1")) == len(body)
    assert response.will_close
    assert status.phrase.encode() in body
    assert b"something &lt;went&gt; wrong" in body


@pytest.mark.parametrize("status", sorted(NO_CONTENT), ids=int)
def test_statuses_without_content_get_a_head_only(status: HTTPStatus) -> None:
    raw = error_response(status.value, "ignored")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep and rest == b""
    assert head.startswith(b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()))
    assert b"Content-Length" not in head and b"ignored" not in raw
    assert b"\r\nConnection: close" in head and b"\r\nDate: " in head
    if status != HTTPStatus.CONTINUE:  # http.client swallows a 100 and waits for the real answer
        response, body = parse(raw)
        assert response.status == status.value and body == b""


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (199, "Informational"),
        (299, "Successful"),
        (399, "Redirection"),
        (499, "Client Error"),
        (599, "Server Error"),
    ],
)
def test_unknown_status_gets_its_class_phrase(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase
    response, body = parse(error_response(status))
    assert response.status == status and response.reason == phrase
    assert (phrase.encode() in body) is (status >= 200)


def test_every_code_in_range_is_well_formed() -> None:
    for status in range(100, 600):
        raw = error_response(status, "x")
        line = raw.split(b"\r\n", 1)[0]
        assert line == b"HTTP/1.1 %d %s" % (status, reason_phrase(status).encode())


@pytest.mark.parametrize("status", [0, 99, 600, 1000, -400])
def test_out_of_range_status_refused(status: int) -> None:
    with pytest.raises(ValueError, match="status"):
        error_response(status)


def test_detail_is_escaped_and_cannot_split_or_inject() -> None:
    detail = "Invalid header 'X\r\nSet-Cookie: a=1' <script>alert(\"x\")</script> & more"
    raw = error_response(400, detail)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Set-Cookie" not in head and b"<script>" not in body
    assert html.escape(detail).encode() in body
    response, parsed = parse(raw)
    assert response.getheader("Set-Cookie") is None and parsed == body


def test_non_ascii_detail_becomes_character_references() -> None:
    raw = error_response(400, "caf\u00e9 \u2603 \U0001f600 \ud800")
    body = raw.partition(b"\r\n\r\n")[2]
    assert body.isascii()
    assert b"caf&#233; &#9731; &#128512; &#55296;" in body


def test_empty_detail_has_no_detail_paragraph() -> None:
    body = parse(error_response(500))[1]
    assert b"<p></p>" not in body
    assert b"500 Internal Server Error" in body


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.h1 = ""
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("meta", "hr", "br"):  # void elements never close
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("title", "h1"):
            setattr(self, self.stack[-1], getattr(self, self.stack[-1]) + data)


def test_page_is_balanced_html_with_title() -> None:
    collector = _Collector()
    collector.feed(parse(error_response(431, "too many headers"))[1].decode("ascii"))
    collector.close()
    assert collector.stack == []
    assert collector.title == "431 Request Header Fields Too Large"
    assert collector.h1 == collector.title
