"""Complete, self-contained HTML error responses (parser rejections, the 500 page).

``error_response`` is what the worker sends when it answers on its own behalf: the peer
sent something we refuse, or the application failed before producing a head. The
response always closes the connection (after a protocol error the byte stream can no
longer be trusted) and always states its length, so any client can read it whole.
Unlike Gunicorn's pages, ours carry a ``Date`` header and the real reason phrase of the
status (Gunicorn answers ``501 Bad Request``).
"""

from __future__ import annotations

import html
from http import HTTPStatus

from ._date import date_line

_PHRASES: dict[int, str] = {status.value: status.phrase for status in HTTPStatus}

# RFC 9110 §15: the first digit alone says what kind of answer it is, which is the most
# honest thing to say about a code nobody registered.
_CLASS_PHRASES = {
    1: "Informational",
    2: "Successful",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
}

# RFC 9110 §6.4.1: these responses never have content; 1xx and 204 may not even have a
# Content-Length (§8.6), and a 304's would describe a representation we do not have.
_NO_CONTENT = frozenset(range(100, 200)) | {204, 304}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>%(code)d %(phrase)s</title></head>
<body>
<h1>%(code)d %(phrase)s</h1>
%(detail)s<hr>
<p>The server could not answer this request.</p>
</body>
</html>
"""


def reason_phrase(status: int) -> str:
    """The registered reason phrase for ``status``, else a generic one for its class."""
    phrase = _PHRASES.get(status)
    if phrase is None:
        return _CLASS_PHRASES[status // 100]
    return phrase


# What a 504 for `request_timeout` says, whichever worker kind answers it.
TIMEOUT_DETAIL = "The application did not answer in time."


def error_response(status: int, detail: str = "") -> bytes:
    """Build a whole ``HTTP/1.1`` error response: head and an HTML page naming ``detail``.

    ``detail`` is HTML-escaped, and characters outside ASCII become character
    references, so the page is plain ASCII whatever the detail holds. Statuses that
    may not carry content (1xx, 204, 304) get a head only.
    """
    if not 100 <= status <= 599:
        raise ValueError(f"not an HTTP status code: {status!r}")
    phrase = reason_phrase(status)
    head = b"HTTP/1.1 %d %s\r\n%sConnection: close\r\n" % (status, phrase.encode("ascii"), date_line())
    if status in _NO_CONTENT:
        return head + b"\r\n"
    body = _page(status, phrase, detail)
    return b"%sContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


def _page(status: int, phrase: str, detail: str) -> bytes:
    shown = f"<p>{html.escape(detail)}</p>\n" if detail else ""
    page = _PAGE % {"code": status, "phrase": phrase, "detail": shown}
    return page.encode("ascii", "xmlcharrefreplace")
