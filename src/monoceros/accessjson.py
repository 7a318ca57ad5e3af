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

import os
import time
from datetime import timedelta
from json.encoder import encode_basestring  # the C-accelerated string escaper of the json module

from monoceros.accessatoms import Environ, ResponseLike, micros


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
        return f"{self._head}.{int((now - second) * 1000):03d}{self._zone}"


def _js(value: object) -> str:
    if isinstance(value, str):
        return encode_basestring(value)
    return "null" if value is None else encode_basestring(str(value))


class JsonAccessFormat:
    """`render(resp, req, environ, request_time)` gives one line of JSON (no newline)."""

    def __init__(self, clock: IsoClock | None = None) -> None:
        self.clock = clock or IsoClock()

    def render(self, resp: ResponseLike, req: object, environ: Environ, rt: timedelta) -> str:
        raw = environ.get("RAW_URI")
        path = raw.partition("?")[0] if isinstance(raw, str) else environ.get("PATH_INFO")
        get = environ.get
        return (
            f'{{"time":"{self.clock()}","remote":{_js(get("REMOTE_ADDR"))},'
            f'"method":{_js(get("REQUEST_METHOD"))},"path":{_js(path)},'
            f'"query":{_js(get("QUERY_STRING"))},"protocol":{_js(get("SERVER_PROTOCOL"))},'
            f'"status":{resp.status_code or "null"},"bytes":{resp.bytes_sent},'
            f'"duration_ms":{micros(rt) / 1000:.3f},"pid":{os.getpid()},'
            f'"request_id":{_js(get("HTTP_X_REQUEST_ID"))},"user_agent":{_js(get("HTTP_USER_AGENT"))},'
            f'"referer":{_js(get("HTTP_REFERER"))}}}'
        )
