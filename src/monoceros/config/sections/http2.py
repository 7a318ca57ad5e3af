"""Section "HTTP/2": protocol negotiation and HTTP/2 limits (accepted, not implemented yet)."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class Http2Settings(Section, title="HTTP/2"):
    http_protocols = Setting[list[str]](
        cli=["--http-protocols"],
        meta="STRING",
        validator=v.http_protocols,
        default=["h1"],
        default_doc="h1",
        doc="""The HTTP versions to offer, comma-separated, most preferred first: `h1`, `h2`.""",
    )
    http2_cleartext = Setting[str](
        cli=["--http2-cleartext"],
        meta="STRING",
        validator=v.choice(
            "off", "prior-knowledge", "upgrade", "both", aliases={"true": "prior-knowledge", "false": "off"}
        ),
        default="off",
        doc="""Whether HTTP/2 without TLS (h2c) is accepted from trusted peers, and how it starts:
        `off`, `prior-knowledge`, `upgrade` or `both`.""",
    )
    http2_max_concurrent_streams = Setting[int](
        cli=["--http2-max-concurrent-streams"],
        meta="INT",
        validator=v.int_between(1, 2**31 - 1),
        default=100,
        doc="""The most streams a client may have open at once on one HTTP/2 connection.""",
    )
    http2_initial_window_size = Setting[int](
        cli=["--http2-initial-window-size"],
        meta="INT",
        validator=v.int_between(0, 2**31 - 1),
        default=65535,
        doc="""The initial flow-control window of HTTP/2 streams, in bytes.""",
    )
    http2_max_frame_size = Setting[int](
        cli=["--http2-max-frame-size"],
        meta="INT",
        validator=v.int_between(16384, 16777215),
        default=16384,
        doc="""The largest HTTP/2 frame payload accepted, in bytes.""",
    )
    http2_max_header_list_size = Setting[int](
        cli=["--http2-max-header-list-size"],
        meta="INT",
        validator=v.to_int,
        default=65536,
        doc="""The largest decoded header list accepted on an HTTP/2 request, in bytes.""",
    )
