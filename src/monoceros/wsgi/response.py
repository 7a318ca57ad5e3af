"""The request driver: run a WSGI app for one request and put its response on the transport (PEP 3333).

``run_app`` owns the application's side of the exchange and its failure modes:

* ``start_response`` follows PEP 3333: a second call needs ``exc_info``; with ``exc_info`` it replaces the
  pending head, or re-raises when the head already went out. It validates at once (``ResponseWriter.start``),
  so a bad status or header fails inside the app, as in Gunicorn; nothing is sent until there is a body byte
  or the response ends.
* Output: a list or tuple is known in full, so it gets a Content-Length when the app gave none (avoids
  chunking; PEP 3333 allows it) and goes out in as few writes as possible: head and body in ONE write for the
  usual small response. Other iterables are streamed, one write per item. ``wsgi.file_wrapper`` results
  (our exact class, over a regular file) are sent with ``Transport.sendfile``, copied when it cannot.
* The iterable's ``close()`` is always called, whatever happened.
* ``RequestTimeout`` (the worker's ``request_timeout``, raised into the app) is logged with the stack it
  interrupted and answered with a 504 page, or ends the connection when the head is out.
* Failures: an exception before the head was sent is logged and answered with a 500 page; after, it is
  logged and the connection must close. A vanished client (``OSError`` from the transport) is not the app's
  fault: logged at debug level, no page. A body shorter than its Content-Length also forces a close (the
  client would otherwise read the next response as the rest of this one).

The returned ``ResponseInfo`` is what the access log and the worker's keep-alive decision need.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from typing import IO

from monoceros.http import TIMEOUT_DETAIL, Request, ResponseWriter, error_response, interim_response

from .errors import RequestTimeout
from .filewrapper import FileWrapper, real_fileno
from .types import ErrorLog, OptExcInfo, StartResponse, Transport, Write, WSGIApp, WSGIEnviron

# Below this many bytes, pieces are joined into one write: a copy is cheaper than a system call.
_COALESCE = 65536
_ERROR_STATUS = "500 Internal Server Error"


_HTTP11 = (1, 1)


class ResponseInfo:
    """One response as it went out; while ``run_app`` runs, also its ``start_response`` and ``write``."""

    __slots__ = (
        "status",
        "status_code",
        "headers",
        "bytes_sent",
        "keep_alive",
        "headers_sent",
        "client_gone",
        "failed",
        "_writer",
        "_transport",
        "_method",
        "_ended",
        "_interim",
    )

    def __init__(
        self, writer: ResponseWriter, transport: Transport, method: str, interim: bool = True
    ) -> None:
        self.status = ""  # the status line the app gave ("200 OK"); "" if it never did
        self.status_code = 0
        self.headers: list[tuple[str, str]] = []  # the app's headers, plus a Content-Length we added
        self.bytes_sent = 0  # body bytes, after framing rules (what the access log calls %(B)s)
        self.keep_alive = False
        self.headers_sent = False  # a head (the app's or our error page) went to the transport
        self.client_gone = False  # the transport failed: the peer closed or reset the connection
        self.failed = False  # the app or sending its output failed: the connection must not go on
        self._writer = writer
        self._transport = transport
        self._method = method
        self._ended = False
        self._interim = interim  # the client takes 1xx responses (HTTP/1.1 and later)

    # -- the application's callables ---------------------------------------------------------------

    def early_hints(self, headers: list[tuple[str, str]]) -> None:
        """``wsgi.early_hints`` (as Gunicorn 25+): send ``103 Early Hints`` with ``headers`` (typically
        ``Link: <...>; rel=preload``) before the final response. Nothing is sent to an HTTP/1.0 client,
        which does not expect 1xx responses, nor once the final head went out; it may be called many times.
        """
        if self.headers_sent or not self._interim:
            return
        self._transport.write(interim_response(103, "Early Hints", headers))

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Write:
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[union-attr]
            finally:
                exc_info = None  # PEP 3333: break the frame <-> traceback cycle
        elif self.status:
            raise AssertionError("start_response() called again without exc_info")
        self._writer.start(status, headers)
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's imperative ``write()``: sent before returning (the head too, with the first bytes)."""
        if not self.status:
            raise AssertionError("write() called before start_response()")
        if self.headers_sent:
            framed = self._writer.body(data)
            if framed:
                self._send(framed)
        elif data:
            self._send_head(self._writer.head() + self._writer.body(data))

    # -- output -------------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        try:
            self._transport.write(data)
        except OSError:
            self.client_gone = True
            raise

    def _send_head(self, data: bytes) -> None:
        self.headers_sent = True  # even if the write fails half-way: never follow it with a 500 page
        self._send(data)

    def _started(self) -> ResponseWriter:
        if not self.status:
            raise RuntimeError("the application produced a body without calling start_response()")
        return self._writer

    def _set_length(self, length: int) -> None:
        """Give a body the app left unsized a Content-Length, so it need not be chunked."""
        headers = [*self.headers, ("Content-Length", str(length))]
        self._writer.start(self.status, headers)
        self.headers = headers

    def send_sequence(self, items: Sequence[bytes]) -> None:
        """A list or tuple: sized when possible, coalesced into as few writes as possible."""
        writer = self._started()
        if len(items) == 1 and not self.headers_sent and len(items[0]) < _COALESCE:
            self._send_one(writer, items[0])
            return
        if self.headers_sent:
            pieces: list[bytes] = []
        else:
            if writer.chunked:
                self._set_length(len(items[0]) if len(items) == 1 else sum(map(len, items)))
            pieces = [writer.head()]
        size = 0
        for item in items:
            framed = writer.body(item)
            if len(framed) >= _COALESCE:
                self._flush(pieces)
                pieces = []
                size = 0
                self._send_piece(framed)
            elif framed:
                pieces.append(framed)
                size += len(framed)
                if size >= _COALESCE:
                    self._flush(pieces)
                    pieces = []
                    size = 0
        pieces.append(writer.end())
        self._ended = True
        self._flush(pieces)

    def _send_one(self, writer: ResponseWriter, data: bytes) -> None:
        """The hello-world case: the whole response in one write."""
        if writer.chunked:
            self._set_length(len(data))
        payload = writer.whole(data)
        self._ended = True
        self.headers_sent = True
        try:
            self._transport.write(payload)
        except OSError:
            self.client_gone = True
            raise

    def _flush(self, pieces: list[bytes]) -> None:
        if pieces:
            self._send_piece(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def _send_piece(self, data: bytes) -> None:
        if self.headers_sent:
            if data:
                self._send(data)
        else:
            self._send_head(data)

    def send_stream(self, result: Iterable[bytes]) -> None:
        """Any other iterable: one write per non-empty item, the head with the first one."""
        writer = self._writer
        for item in result:
            if self.headers_sent:
                framed = writer.body(item)
                if framed:
                    self._send(framed)
            elif item:
                self._send_head(self._started().head() + writer.body(item))

    def send_file(self, wrapper: FileWrapper) -> None:
        """``wsgi.file_wrapper`` over a regular file: the kernel copies it (sendfile) when it can."""
        fd = real_fileno(wrapper.filelike)
        try:
            if fd is None:
                raise OSError("no file descriptor")
            offset = os.lseek(fd, 0, os.SEEK_CUR)
            info = os.fstat(fd)
        except OSError:
            self.send_stream(wrapper)
            return
        if not stat.S_ISREG(info.st_mode):
            self.send_stream(wrapper)  # a pipe or device has no size to announce or to sendfile
            return
        writer = self._started()
        available = max(info.st_size - offset, 0)
        if not self.headers_sent and writer.chunked:
            self._set_length(available)
        remaining = writer.remaining
        count = available if remaining is None else min(remaining, available)
        if self._no_body():
            count = 0
        self._send_region(wrapper, offset, count)

    def _no_body(self) -> bool:
        code = self._writer.status_code
        return self._method == "HEAD" or code < 200 or code == 204 or code == 304

    def _send_region(self, wrapper: FileWrapper, offset: int, count: int) -> None:
        """``count`` bytes of the file from ``offset``, framed as one chunk when the body is chunked."""
        writer = self._writer
        chunked = writer.chunked and count > 0
        opening = b"%X\r\n" % count if chunked else b""
        if self.headers_sent:
            if opening:
                self._send(opening)
        else:
            self._send_head(writer.head() + opening)
        sent = self._sendfile(wrapper, offset, count) if count else 0
        writer.bytes_sent += sent  # the writer did not see these bytes go by
        if chunked:
            if sent != count:  # the file shrank: the chunk can never be completed
                self._ended = True
                writer.keep_alive = False
                return
            self._send(b"\r\n")

    def _sendfile(self, wrapper: FileWrapper, offset: int, count: int) -> int:
        file: IO[bytes] = wrapper.filelike
        try:
            sent = self._transport.sendfile(file, offset, count)
        except OSError:
            self.client_gone = True
            raise
        if sent is not None:
            return sent
        # Not possible here (TLS, sendfile disabled): copy it through Python, still bounded by count.
        sent = 0
        while sent < count:
            data = file.read(min(wrapper.blksize, count - sent))
            if not data:
                break
            self._send(data)
            sent += len(data)
        return sent

    def end_body(self) -> None:
        """End the body: send the head if nothing was sent yet, and the last chunk."""
        if self._ended:
            return
        self._ended = True
        writer = self._started()
        if self.headers_sent:
            tail = writer.end()
            if tail:
                self._send(tail)
        else:
            self._send_head(writer.head() + writer.end())

    # -- failure and the result ---------------------------------------------------------------------

    def fail(self, log: ErrorLog, request: Request) -> None:
        """The app (or sending its output) failed: log it, answer 500 if nothing was sent yet."""
        self._ended = True
        if self.client_gone:
            log.debug("Client went away while handling request %s", request.target)
            return
        log.exception("Error handling request %s", request.target)
        if self.headers_sent:
            return  # a truncated response: only closing the connection tells the client
        self._error_page(500, _ERROR_STATUS, error_response(500))

    def time_out(self, log: ErrorLog, request: Request, exc: RequestTimeout) -> None:
        """``request_timeout`` interrupted the app: log where it was, answer 504 if nothing was sent yet
        (else the connection closes, which is all a client can be told once the head is out)."""
        self._ended = True
        log.error(
            "Request timed out after %g s (request_timeout): %s %s; the worker goes on. Where it was:",
            exc.seconds,
            request.method,
            request.target,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        if self.headers_sent or self.client_gone:
            return
        self._error_page(504, "504 Gateway Timeout", error_response(504, TIMEOUT_DETAIL))

    def _error_page(self, code: int, status: str, page: bytes) -> None:
        """Send our own error ``page`` in place of the app's response, and record it as the response."""
        self.status = status
        self.headers = []
        self.headers_sent = True
        self.bytes_sent = len(page) - page.index(b"\r\n\r\n") - 4
        self.status_code = code
        try:
            self._transport.write(page)
        except OSError:
            self.client_gone = True

    def settle(self, failed: bool) -> ResponseInfo:
        """Copy the writer's final word (status code, bytes, what its framing allows) into the public fields.
        ``keep_alive`` is a record of the framing for the log and tests; the connection decides
        (``monoceros.http.Connection.end_response``)."""
        self.failed = failed
        if not failed:
            writer = self._writer
            self.status_code = writer.status_code
            self.bytes_sent = writer.bytes_sent
            self.keep_alive = writer.keep_alive
        return self


def _send_other(response: ResponseInfo, result: Iterable[bytes]) -> None:
    cls = type(result)
    if cls is FileWrapper:
        response.send_file(result)  # type: ignore[arg-type]
    else:
        response.send_stream(result)
    response.end_body()


def run_app(
    app: WSGIApp,
    environ: WSGIEnviron,
    request: Request,
    writer: ResponseWriter,
    transport: Transport,
    log: ErrorLog,
) -> ResponseInfo:
    """Call ``app`` for ``request`` and send its response through ``writer`` and ``transport``."""
    response = ResponseInfo(writer, transport, request.method, request.version >= _HTTP11)
    environ["wsgi.early_hints"] = response.early_hints
    start_response: StartResponse = response.start_response
    try:
        result = app(environ, start_response)
        cls = type(result)
        if cls is list or cls is tuple:  # exactly these types: no close() to call
            response.send_sequence(result)  # type: ignore[arg-type]
        else:
            try:
                _send_other(response, result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
    except Exception:
        response.fail(log, request)
        return response.settle(failed=True)
    except RequestTimeout as exc:
        response.time_out(log, request, exc)
        return response.settle(failed=True)
    return response.settle(failed=False)
