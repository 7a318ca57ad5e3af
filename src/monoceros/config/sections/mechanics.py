"""Section "Server Mechanics": process setup, privileges, proxies and HTTP parsing leniencies."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting

_LOCALHOST = "127.0.0.1,::1"


def _cwd(env: Mapping[str, str]) -> tuple[object, str] | None:
    # Prefer $PWD when it is the same directory: it keeps the symlinked path the user typed.
    cwd = os.getcwd()
    pwd = env.get("PWD")
    if pwd and os.path.isdir(pwd) and os.path.samefile(pwd, cwd):
        cwd = pwd
    return cwd, "default"


def _sendfile_from_env(env: Mapping[str, str]) -> tuple[object, str] | None:
    if "SENDFILE" in env:
        return env["SENDFILE"].lower() in ("y", "1", "yes", "true"), "env SENDFILE"
    return None


def _forwarded_from_env(env: Mapping[str, str]) -> tuple[object, str] | None:
    if "FORWARDED_ALLOW_IPS" in env:
        return env["FORWARDED_ALLOW_IPS"], "env FORWARDED_ALLOW_IPS"
    return None


class ServerMechanicsSettings(Section, title="Server Mechanics"):
    preload_app = Setting[bool](
        cli=["--preload"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Import the application in the master before forking the workers. Workers start faster
        and share memory, but a HUP can then not load new application code.""",
    )
    _sendfile = Setting[bool | None](
        name="sendfile",
        cli=["--no-sendfile"],
        action="const",
        const=False,
        validator=v.to_opt_bool,
        default=None,
        default_factory=_sendfile_from_env,
        default_doc="None (enabled), or from $SENDFILE (y, 1, yes, true) when set",
        implemented=True,
        doc="""Whether file responses (`wsgi.file_wrapper`) are sent with the sendfile() system call.
        `--no-sendfile` turns it off; without the flag the SENDFILE environment variable decides, and
        it is on by default.""",
    )
    reuse_port = Setting[bool](
        cli=["--reuse-port"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Set SO_REUSEPORT on the listening sockets, so that several servers can listen on the
        same port.""",
    )
    chdir = Setting[str](
        cli=["--chdir"],
        validator=v.to_chdir,
        none_ok=False,
        default=".",
        default_factory=_cwd,
        default_doc="the current directory",
        implemented=True,
        doc="""Change to this directory before loading the application; it is also put first on the
        Python path.""",
    )
    daemon = Setting[bool](
        cli=["-D", "--daemon"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Detach from the terminal and run in the background. Not needed (and best avoided) under
        a process supervisor such as systemd or a container runtime.""",
    )
    raw_env = Setting[list[str]](
        cli=["-e", "--env"],
        meta="ENV",
        action="append",
        validator=v.env_list,
        default=[],
        implemented=True,
        doc="""Environment variables to set in the master and the workers, as `KEY=VALUE`. Repeat the
        flag for several.""",
    )
    pidfile = Setting[str | None](
        cli=["-p", "--pid"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""Write the master's process id to this file, and remove it at exit.""",
    )
    worker_tmp_dir = Setting[str | None](
        cli=["--worker-tmp-dir"],
        meta="DIR",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The directory for the small files the workers use to report their liveness to the
        master. When the default temporary directory is on a slow or disk-backed file system, point
        it at a memory file system such as /dev/shm.""",
    )
    user = Setting[int](
        cli=["-u", "--user"],
        meta="USER",
        validator=v.to_user,
        none_ok=True,
        default=0,
        default_factory=lambda env: (os.geteuid(), "default"),
        default_doc="the effective user id",
        implemented=True,
        doc="""Run the workers as this user, given as a name or a numeric id.""",
    )
    group = Setting[int](
        cli=["-g", "--group"],
        meta="GROUP",
        validator=v.to_group,
        none_ok=True,
        default=0,
        default_factory=lambda env: (os.getegid(), "default"),
        default_doc="the effective group id",
        implemented=True,
        doc="""Run the workers as this group, given as a name or a numeric id.""",
    )
    umask = Setting[int](
        cli=["-m", "--umask"],
        meta="INT",
        validator=v.octal_int,
        default=0,
        implemented=True,
        doc="""The umask for files the server creates, Unix sockets included. A leading 0 means octal
        (`022`), as do `0o` and `0x` prefixes their usual bases.""",
    )
    initgroups = Setting[bool](
        cli=["--initgroups"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""When switching to `user`, also give the workers all the supplementary groups of that
        user.""",
    )
    tmp_upload_dir = Setting[str | None](
        meta="DIR",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The directory for the temporary files request bodies are spooled to (see
        `request_body_memory`); the system's temporary directory when unset. It must be writable by the
        workers' user. Gunicorn accepts this setting and no longer uses it.""",
    )
    secure_scheme_headers = Setting[dict[str, Any]](
        validator=v.to_dict,
        default={"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"},
        implemented=True,
        doc="""Headers, with the exact value each must have, by which a trusted front-end proxy says
        the client used HTTPS. A match from a peer in `forwarded_allow_ips` sets `wsgi.url_scheme` to
        `https`; contradicting headers make the request fail.""",
    )
    forwarded_allow_ips = Setting[list[str]](
        cli=["--forwarded-allow-ips"],
        meta="STRING",
        validator=v.addr_list,
        default=["127.0.0.1", "::1"],
        default_factory=_forwarded_from_env,
        default_doc="127.0.0.1,::1, or $FORWARDED_ALLOW_IPS when set",
        implemented=True,
        doc="""The front-end addresses, as a comma-separated list of IP addresses or networks (CIDR),
        trusted to set the `secure_scheme_headers` and `forwarder_headers`; `*` trusts every peer.
        Clients on a Unix socket are always trusted.""",
    )
    pythonpath = Setting[str | None](
        cli=["--pythonpath"],
        meta="STRING",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""Comma-separated directories to put at the front of the Python path before loading the
        application.""",
    )
    paste = Setting[str | None](
        cli=["--paste", "--paster"],
        meta="STRING",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""Load the application, with its filters and pipelines, from a PasteDeploy configuration
        file (`file.ini`, or `file.ini#name` for another section than `main`); an APP_MODULE is then
        ignored. The file's `[loggers]` configuration is used as `logconfig` unless one is given. Needs
        PasteDeploy: `pip install 'monoceros[paste]'`.""",
    )
    proxy_protocol = Setting[str](
        cli=["--proxy-protocol"],
        meta="MODE",
        action="optional",
        const="auto",
        validator=v.choice(
            "off",
            "v1",
            "v2",
            "auto",
            aliases={"false": "off", "0": "off", "none": "off", "true": "auto", "1": "auto"},
        ),
        default="off",
        implemented=True,
        doc="""Accept the PROXY protocol header (from HAProxy, AWS load balancers and others) at the
        start of each connection: `off`, `v1`, `v2` or `auto` (either); the bare flag means `auto`.
        Only peers in `proxy_allow_ips` may send it.""",
    )
    proxy_allow_ips = Setting[list[str]](
        cli=["--proxy-allow-from"],
        validator=v.addr_list,
        default=["127.0.0.1", "::1"],
        default_doc=_LOCALHOST,
        implemented=True,
        doc="""The front-end addresses (IP addresses or CIDR networks, comma-separated, or `*`)
        allowed to send a PROXY protocol header; others are refused with 403.""",
    )
    protocol = Setting[str](
        cli=["--protocol"],
        meta="STRING",
        validator=v.choice("http", "uwsgi"),
        default="http",
        implemented=True,
        doc="""The wire protocol of incoming connections: `http`, or `uwsgi` for the binary protocol
        nginx speaks with `uwsgi_pass` (responses then go back unchunked: nginx frames them itself).""",
    )
    uwsgi_allow_ips = Setting[list[str]](
        cli=["--uwsgi-allow-from"],
        validator=v.addr_list,
        default=["127.0.0.1", "::1"],
        default_doc=_LOCALHOST,
        implemented=True,
        doc="""The peers (IP addresses or CIDR networks, comma-separated, or `*`) allowed to speak the
        uwsgi protocol; others are answered 403. A Unix-socket peer is always allowed.""",
    )
    raw_paste_global_conf = Setting[list[str]](
        cli=["--paste-global"],
        meta="CONF",
        action="append",
        validator=v.env_list,
        default=[],
        implemented=True,
        doc="""Global variables for a PasteDeploy configuration, as `KEY=VALUE` (`\\=` for a `=` in the
        key); repeat the flag for several.""",
    )
    permit_obsolete_folding = Setting[bool](
        cli=["--permit-obsolete-folding"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Accept header values continued on the next line (obsolete line folding), which HTTP/1.1
        forbids; such requests are refused by default.""",
    )
    strip_header_spaces = Setting[bool](
        cli=["--strip-header-spaces"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Accept spaces between a header name and its colon by removing them. Dangerous: front-end
        proxies may read such headers differently, which opens the door to request smuggling.""",
    )
    permit_unconventional_http_method = Setting[bool](
        cli=["--permit-unconventional-http-method"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Accept request methods that are valid tokens but unusual: lower-case letters, `#`, or
        fewer than 3 or more than 20 characters.""",
    )
    permit_unconventional_http_version = Setting[bool](
        cli=["--permit-unconventional-http-version"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Accept HTTP versions other than 1.0 and 1.x in the request line.""",
    )
    casefold_http_method = Setting[bool](
        cli=["--casefold-http-method"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Upper-case the request method before handing it to the application, as very old
        Gunicorn versions did.""",
    )
    forwarder_headers = Setting[list[str]](
        cli=["--forwarder-headers"],
        validator=v.comma_list,
        default=["SCRIPT_NAME", "PATH_INFO"],
        default_doc="SCRIPT_NAME,PATH_INFO",
        implemented=True,
        doc="""Header names containing an underscore that a trusted front-end (see
        `forwarded_allow_ips`) may still pass into the WSGI environment, comma-separated and
        upper-case.""",
    )
    header_map = Setting[str](
        cli=["--header-map"],
        validator=v.choice("drop", "refuse", "dangerous"),
        default="drop",
        implemented=True,
        doc="""What to do with request headers whose name contains an underscore, which could be
        confused with a dash in the WSGI environment: `drop` them, `refuse` the request, or
        `dangerous`ly map them like dashes.""",
    )
    root_path = Setting[str](
        cli=["--root-path"],
        meta="STRING",
        validator=v.to_str,
        default="",
        implemented=True,
        doc="""The path prefix the application is mounted under, given to ASGI applications as
        `root_path` (and, as the ASGI spec and uvicorn have it, in front of `path` and `raw_path`).""",
    )
