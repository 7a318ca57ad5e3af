"""Section "Security": size limits on the request head."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class SecuritySettings(Section, title="Security"):
    limit_request_line = Setting[int](
        cli=["--limit-request-line"],
        meta="INT",
        validator=v.to_int,
        default=4094,
        implemented=True,
        doc="""The maximum size in bytes of the request line (method, target and version). Longer lines
        are refused. 0 means no limit and values above 8190 count as 8190, as in Gunicorn.""",
    )
    limit_request_fields = Setting[int](
        cli=["--limit-request-fields"],
        meta="INT",
        validator=v.to_int,
        default=100,
        implemented=True,
        doc="""The maximum number of header fields in a request. 0, or a value above 32768, means
        32768.""",
    )
    limit_request_field_size = Setting[int](
        cli=["--limit-request-field_size"],
        meta="INT",
        validator=v.to_int,
        default=8190,
        implemented=True,
        doc="""The maximum size in bytes of one header field line, including its name. 0 means the
        default, 8190.""",
    )
