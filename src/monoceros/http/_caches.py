"""Caches of validated input, one set per worker (``ConnectionFactory``), never module globals.

Clients send the same few header names and Host values, and applications the same few statuses and header
lists, over and over; validating each distinct one once saves most of the per-request work. Every cache is
bounded: client input is emptied when full (a flood of distinct values must not keep the real ones out for
good), application input simply stops growing (its values are literals in the app's code).
"""

from __future__ import annotations

NAMES_SIZE = 1024
HOSTS_SIZE = 1024
STATUS_SIZE = 256
HEADER_LISTS_SIZE = 512


class Caches:
    """The caches one worker's connections share; a parser or writer built without one gets its own."""

    __slots__ = ("names", "hosts", "status_lines", "header_lists", "server_lines")

    def __init__(self) -> None:
        # request field names as sent -> (upper-case name, kind) (`_semantics`)
        self.names: dict[str, tuple[str, int]] = {}
        # Host values found valid (`_semantics`)
        self.hosts: set[str] = set()
        # response statuses -> (code, HTTP/1.1 status line, HTTP/1.0 status line) (`_writer`)
        self.status_lines: dict[str, tuple[int, bytes, bytes]] = {}
        # response header lists -> what the writer derives from them (`_writer`): the headers to send, the
        # Content-Length, the upgrade wish, the encoded block
        self.header_lists: dict[
            tuple[tuple[str, str], ...], tuple[list[tuple[str, str]], int | None, bool, bytes]
        ] = {}
        # Server header values -> their validated header line (`_writer`)
        self.server_lines: dict[bytes, bytes] = {}
