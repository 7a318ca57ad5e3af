"""Section "Security": size limits on the request head, and bounds on the request bodies a worker holds."""

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
    request_body_memory = Setting[int](
        cli=["--request-body-memory"],
        meta="BYTES",
        validator=v.to_int,
        default=1 << 20,
        implemented=True,
        doc="""Not in Gunicorn. A request body read ahead of the application is held in memory up to this
        many bytes; a bigger one goes on in a temporary file in `tmp_upload_dir`.""",
    )
    request_body_read_ahead = Setting[int](
        cli=["--request-body-read-ahead"],
        meta="BYTES",
        validator=v.to_int,
        default=16 << 20,
        implemented=True,
        doc="""Not in Gunicorn. The most bytes of one request body read before the application is called,
        so that a slow upload cannot hold a worker. A body announced as bigger, or found bigger as it
        arrives, is passed to the application as it reads it, straight from the connection, as Gunicorn
        does with every body. 0 passes every body that way.""",
    )
    worker_body_memory = Setting[int](
        cli=["--worker-body-memory"],
        meta="BYTES",
        validator=v.to_int,
        default=64 << 20,
        implemented=True,
        doc="""Not in Gunicorn. The most bytes of request bodies one worker holds in memory at once, all
        its connections together; past it, bodies go to temporary files.""",
    )
    worker_body_disk = Setting[int](
        cli=["--worker-body-disk"],
        meta="BYTES",
        validator=v.to_int,
        default=512 << 20,
        implemented=True,
        doc="""Not in Gunicorn. The most bytes of request bodies one worker keeps in temporary files at
        once; past it, a body is passed to the application as it reads it instead. A body that cannot be
        written (a full disk) is answered with 503 and logged; the worker goes on.""",
    )
