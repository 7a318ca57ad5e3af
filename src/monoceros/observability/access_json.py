"""The JSON access log (`--access-logformat json`): one JSON object per request, with stable field names.

Gunicorn only escapes `"` in its atoms, so a JSON-looking `access_log_format` breaks on a
backslash or a control character in a header. This writer escapes every string as JSON does.
Every field is always present (null when unknown), in this order:

    time, remote, method, path, query, protocol, status, bytes, duration_ms, pid,
    request_id, user_agent, referer

`time` is local time in ISO 8601 with milliseconds; `path` is the raw request target before `?`
(not percent-decoded); `request_id` is the `X-Request-Id` request header.
"""

from __future__ import annotations

import time
from datetime import timedelta
from json.encoder import encode_basestring  # the C-accelerated string escaper of the json module
from typing import Any

from monoceros.observability.access_atoms import Environ, ResponseLike, current_pid, micros


class IsoClock:
    """`2024-01-09T13:24:39.123+01:00`, the second-level part formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._head = ""
        self._zone = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            local = time.localtime(second)
            offset = time.strftime("%z", local)
            self._head = time.strftime("%Y-%m-%dT%H:%M:%S", local)
            self._zone = offset[:3] + ":" + offset[3:]
            self._second = second
        return f"{self._head}.{int(now * 1000) % 1000:03d}{self._zone}"


FIELDS = (
    "time",
    "remote",
    "method",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "duration_ms",
    "pid",
    "request_id",
    "user_agent",
    "referer",
)
_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in FIELDS) + "}"


def _js(value: object) -> str:
    if isinstance(value, str):
        return encode_basestring(value)
    return "null" if value is None else encode_basestring(str(value))


class JsonAccessFormat:
    """`render(resp, req, environ, request_time)` gives one line of JSON (no newline)."""

    def __init__(self, clock: IsoClock | None = None) -> None:
        self.clock = clock or IsoClock()

    def render(self, resp: ResponseLike, req: object, environ: Environ, rt: timedelta) -> str:
        get = environ.get
        raw = get("RAW_URI")
        path = raw.partition("?")[0] if isinstance(raw, str) else get("PATH_INFO")
        always: tuple[Any, ...] = (
            get("REMOTE_ADDR"),
            get("REQUEST_METHOD"),
            path,
            get("QUERY_STRING"),
            get("SERVER_PROTOCOL"),
        )
        try:
            # The C escaper straight over the values that are strings in every environ we build.
            remote, method, path_js, query, protocol = map(encode_basestring, always)
        except TypeError:  # the app replaced one with something else
            remote, method, path_js, query, protocol = map(_js, always)
        return _TEMPLATE % (
            '"' + self.clock() + '"',
            remote,
            method,
            path_js,
            query,
            protocol,
            resp.status_code or "null",
            resp.bytes_sent,
            f"{micros(rt) / 1000:.3f}",
            current_pid(),
            _js(get("HTTP_X_REQUEST_ID")),
            _js(get("HTTP_USER_AGENT")),
            _js(get("HTTP_REFERER")),
        )
