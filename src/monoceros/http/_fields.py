"""Field lines: split a header (or trailer) section into (name, value) pairs and enforce the size limits.

The fast path is one ``findall`` whose pattern is anchored at line starts and ends with CRLF: it yields one
match per line exactly when every line is a valid field line, which the match count against the LF count
confirms. Below ``CLEAN_FROM`` bytes the strict pattern (``FIELD_LINES``) checks every character itself.
From there on, ``clean_lines`` first proves in one C pass (``translate``) that the section holds no control
character but HTAB and that its CRs and LFs alternate, CR first; then ``CLEAN_FIELD_LINES`` may use sre's
fastest repeat for values, ~4x faster per character, and the count check proves no CR or LF bare. Permitted
obs-folds are joined by one substitution before the same ``findall``. Anything else (a forbidden fold, spaces
before the colon, a bad line) goes through ``split_slowly``, which walks the lines in order with a
``LineChecker`` and raises the error a byte-by-byte reading meets first, so the error does not depend on how
bytes arrived: the parsers check incomplete sections with the same ``LineChecker``.
"""

from __future__ import annotations

from typing import NamedTuple

from ._abnf import (
    CLEAN_FIELD_LINES,
    CLEAN_SPACED_FIELD_LINES,
    FIELD_LINES,
    FIELD_VALUE_RE,
    FOLD_MARK,
    OBS_FOLDS,
    OWS_BEFORE_FOLD,
    SPACED_FIELD_LINES,
    TOKEN_RE,
)
from ._errors import InvalidHeader, InvalidHeaderName, LimitRequestHeaders, ObsoleteFolding


class FieldRules(NamedTuple):
    """The limits and leniencies that apply to every field section of a connection."""

    max_fields: int
    max_field_size: int  # one field line (with its obs-fold continuations) including CRLF
    strip_spaces: bool  # strip_header_spaces: "Name : value" is accepted
    permit_folding: bool  # permit_obsolete_folding: continuation lines are joined with one SP


# Every byte a field section may hold besides CR and LF: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
_VISIBLE = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_CRLF = b"\r\n"
# Sections from this size on are checked by `clean_lines` and split by the CLEAN_* patterns. The check costs
# ~0.3 us however short the section and saves ~1 ns a character: below about 1 KiB the strict patterns
# alone are cheaper. (The tests set it to 0 and to infinity to send every case both ways.)
CLEAN_FROM = 1024


def clean_lines(raw: bytes | bytearray) -> int:
    """The number of lines of ``raw`` if its CRs and LFs alternate, one of each per line, and it holds no
    other control character than HTAB (then a line match ending in CRLF proves no CR or LF is bare); -1 if
    not, and for a section shorter than ``CLEAN_FROM``, which the strict patterns check by themselves.
    """
    return -1 if len(raw) < CLEAN_FROM else clean_count(raw)


def clean_count(raw: bytes | bytearray) -> int:
    """``clean_lines`` whatever the size of ``raw``."""
    rest = bytes(raw).translate(None, _VISIBLE)  # on bytes: about twice as fast as on a bytearray
    lines = len(rest) >> 1
    return lines if rest == _CRLF * lines else -1


def split_fields(text: str, start: int, rules: FieldRules, lines: int = -1) -> list[tuple[str, str]]:
    """The (name, value) pairs of ``text[start:]``: a latin-1 decoded section whose lines end with CRLF.

    ``lines`` is the section's line count when ``clean_lines`` accepted it; -1 lets the strict pattern check
    every character.
    """
    if lines >= 0:
        return _split_clean(text, start, rules, lines)
    pairs: list[tuple[str, str]] = FIELD_LINES.findall(text, start)
    if len(pairs) != text.count("\n", start):
        return split_unmatched(text, start, rules)
    if len(pairs) <= rules.max_fields and len(text) - start <= rules.max_field_size:
        return pairs  # the common case: every line valid, the whole section within the limits
    return within_limits(pairs, text, start, rules)


def split_unmatched(text: str, start: int, rules: FieldRules) -> list[tuple[str, str]]:
    """``split_fields`` for a section the strict pattern did not match line for line: spaces before a colon
    (with strip_header_spaces), obs-folds (when permitted) or an invalid line."""
    if rules.strip_spaces:
        # A strict match is also a spaced one: only the spaced pattern is left to try.
        pairs: list[tuple[str, str]] = SPACED_FIELD_LINES.findall(text, start)
        if len(pairs) == text.count("\n", start):
            return within_limits(pairs, text, start, rules)
        return split_slowly(text, start, rules)
    if not rules.permit_folding:
        return split_slowly(text, start, rules)
    # Folds are joined on the clean route only: check the section as it would have been.
    lines = clean_count(text[start:].encode("latin-1"))
    if lines < 0:
        return split_slowly(text, start, rules)
    return _split_clean(text, start, rules, lines)


def _split_clean(text: str, start: int, rules: FieldRules, lines: int) -> list[tuple[str, str]]:
    """``split_fields`` for a section ``clean_lines`` accepted (``lines`` lines)."""
    section, begin = text, start
    if rules.permit_folding and not rules.strip_spaces and len(text) - start <= rules.max_field_size:
        # A logical line is never longer than its section, here within the field size limit. A first line
        # that starts with whitespace is no fold (no CRLF before it): the line match refuses it below.
        # Not with strip_spaces: a fold joined to a line without a colon could make "name :" of it.
        section, folds = OBS_FOLDS.subn(FOLD_MARK, text[start:])
        begin = 0
        if folds:
            if " " + FOLD_MARK in section or "\t" + FOLD_MARK in section:
                section = OWS_BEFORE_FOLD.sub(FOLD_MARK, section)
            section = section.replace(FOLD_MARK, " ")
            lines = section.count("\n")
    pattern = CLEAN_SPACED_FIELD_LINES if rules.strip_spaces else CLEAN_FIELD_LINES
    pairs: list[tuple[str, str]] = pattern.findall(section, begin)
    if len(pairs) != lines:
        return split_slowly(text, start, rules)
    return within_limits(pairs, text, start, rules)


def within_limits(
    pairs: list[tuple[str, str]], text: str, start: int, rules: FieldRules
) -> list[tuple[str, str]]:
    """``pairs``, if the section they came from keeps to the field count and line size limits; else raise."""
    if len(pairs) > rules.max_fields:
        raise LimitRequestHeaders(f"too many header fields (more than {rules.max_fields})")
    if len(text) - start > rules.max_field_size:
        check_line_sizes(text[start:].split("\r\n"), rules.max_field_size)
    return pairs


def check_line_sizes(lines: list[str], limit: int) -> None:
    """Raise if one line plus its CRLF is longer than ``limit``."""
    if max(map(len, lines)) + 2 > limit:
        raise LimitRequestHeaders(f"header field line longer than {limit} bytes")


def split_slowly(text: str, start: int, rules: FieldRules) -> list[tuple[str, str]]:
    """Walk the lines of ``text[start:]`` in order, join obs-folds if permitted, raise at the first error."""
    lines = text[start:].split("\r\n")
    lines.pop()  # the section ends with CRLF: the last element is empty
    pairs: list[tuple[str, str]] = []
    checker = LineChecker(rules)
    for line in lines:
        name, value = checker.line(line)
        if name is not None:
            pairs.append((name, value))
        else:
            first, before = pairs[-1]
            pairs[-1] = (first, f"{before} {value}" if before and value else before or value)
    return pairs


def line_fault(line: str, base: int, limit: int) -> str | None:
    """The check a line fails first when it arrives byte by byte: ``"lf"`` (a bare LF) or ``"size"``
    (``base`` bytes before it on its logical line, its bytes and a CRLF are more than ``limit``), or None.

    ``line`` is what arrived of the line; a complete line is passed with a CR after it (the CR of its CRLF),
    which, like the last CR of a part, does not count: it may be the start of the CRLF. Both the checks of a
    part that is still arriving and those of a complete line use this, so the first error met does not depend
    on where the reads ended.
    """
    lf = line.find("\n")
    over = limit - 2 - base  # too long once more than this many of its bytes (a last CR aside) are in
    if over < 0:
        size_at = 1
    else:
        size_at = over + 1  # the length of the shortest part that is too long ...
        if size_at <= len(line) and line[size_at - 1] == "\r":
            size_at += 1  # ... unless it ends with a CR
    if 0 <= lf < size_at:
        return "lf"
    if size_at <= len(line):
        return "size"
    return "lf" if lf >= 0 else None


class LineChecker:
    """Checks a field section line by line, each line as it completes (``line``) and the line still
    arriving (``tail``), raising the error a byte-by-byte reading meets first. ``split_slowly`` and the
    parsers' checks of incomplete sections share it: a section has one outcome however it was split."""

    __slots__ = ("rules", "fields", "size")

    def __init__(self, rules: FieldRules) -> None:
        self.rules = rules
        self.fields = 0  # field lines so far (continuation lines not counted)
        self.size = 0  # bytes of the current logical line, CRLFs of its folds included

    def _base(self, line: str) -> int:
        """What precedes ``line`` on its logical line: the field it continues, when folding is permitted."""
        if self.fields and self.rules.permit_folding and line[:1] in (" ", "\t"):
            return self.size
        return 0

    def tail(self, part: str) -> None:
        """Raise if ``part``, the start of a line still arriving, can no longer become valid."""
        _raise_fault(line_fault(part, self._base(part), self.rules.max_field_size), self.rules.max_field_size)

    def line(self, line: str) -> tuple[str | None, str]:
        """A complete line without its CRLF: (name, value) of a field line, (None, value) of a continuation
        line (obs-fold) to join to the field before it; raise for an invalid one."""
        rules = self.rules
        base = self._base(line)
        if base + len(line) + 2 > rules.max_field_size or "\n" in line:  # (else neither fault can be there)
            _raise_fault(line_fault(line + "\r", base, rules.max_field_size), rules.max_field_size)
        if "\r" in line:
            raise InvalidHeader("bare CR or LF in a header line")
        if line[:1] in (" ", "\t"):
            if not rules.permit_folding or not self.fields:
                raise ObsoleteFolding("obsolete line folding in the header section")
            self.size = base + len(line) + 2
            return None, _field_value(line, "(continuation)")
        self.size = len(line) + 2
        self.fields += 1
        if self.fields > rules.max_fields:
            raise LimitRequestHeaders(f"too many header fields (more than {rules.max_fields})")
        return parse_field_line(line, rules.strip_spaces)


def _raise_fault(fault: str | None, limit: int) -> None:
    if fault == "lf":
        raise InvalidHeader("bare LF in a header line")
    if fault == "size":
        raise LimitRequestHeaders(f"header field line longer than {limit} bytes")


def parse_field_line(line: str, strip_spaces: bool = False) -> tuple[str, str]:
    """One field line without its CRLF -> (name, value), raising the error Gunicorn names for a bad one."""
    name, colon, rest = line.partition(":")
    if not colon or not name:
        raise InvalidHeader(f"header line without a field name and colon: {line[:64]!r}")
    if strip_spaces:
        name = name.rstrip(" \t")
    if not TOKEN_RE.fullmatch(name):
        raise InvalidHeaderName(f"invalid header name {name[:64]!r}")
    return name, _field_value(rest, name)


def _field_value(text: str, name: str) -> str:
    match = FIELD_VALUE_RE.fullmatch(text)
    if match is None:
        raise InvalidHeader(f"invalid character in the value of header {name[:64]!r}")
    return match.group(1)
