"""The HTTP/1.1 grammar as compiled regexes, with the RFC 9110 / 9112 ABNF quoted beside each.

Every pattern is written once as text and compiled for ``str`` (the head is decoded from latin-1 once, so each
character is one byte) and, where the raw bytes are needed too, for ``bytes``. Departures from the RFCs are
made for Gunicorn compatibility and are listed in ``docs/differences.md`` ("Parser").
"""

from __future__ import annotations

import re
from typing import Final

# RFC 9110 §5.6.2
#   token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
#           / DIGIT / ALPHA
_TCHAR: Final = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
TOKEN: Final = _TCHAR + "+"

# Gunicorn's "conventional" method: a token of 3 to 20 characters without lowercase letters and without "#"
# (not an RFC rule; `permit_unconventional_http_method` lifts it, leaving plain `token`).
_CONVENTIONAL_METHOD: Final = r"[-!$%&'*+.^_`|~0-9A-Z]{3,20}"

# RFC 9112 §3.2: request-target = origin-form / absolute-form / authority-form / asterisk-form, all built from
# RFC 3986 characters, which are ASCII: raw bytes 0x80-0xFF are refused (as in Gunicorn 27; a UTF-8 path
# must be percent-encoded). Gunicorn accepts characters like `"` in the target (corpus valid/014), so only
# what can never be part of a URI in any lenient reading is excluded here: CTLs, SP, DEL and non-ASCII. The
# form is checked afterwards (`ABSOLUTE_FORM`, `AUTHORITY_FORM`, "*"). The class is written positively: sre
# matches it about 3x faster than the equivalent negated class (measured on an 8 KiB target).
_TARGET: Final = r"[\x21-\x7e]+"

# RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT ; HTTP-name = %s"HTTP"
_VERSION: Final = r"HTTP/([0-9]\.[0-9])"

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version (exactly one SP each: §3 allows
# other whitespace only as a leniency we do not take).
_REQUEST_LINE: Final = "({method}) (" + _TARGET + ") " + _VERSION
REQUEST_LINE_CONVENTIONAL: Final = re.compile(_REQUEST_LINE.format(method=_CONVENTIONAL_METHOD))
REQUEST_LINE_ANY_METHOD: Final = re.compile(_REQUEST_LINE.format(method=TOKEN))
# The common line, matched in one go (the general pattern above plus the form checks handle the rest): a
# conventional method, an origin-form target without a fragment, HTTP/1.0 or 1.1, and the CRLF.
#   origin-form = absolute-path [ "?" query ]   (RFC 9112 §3.2.1)
# Groups: method, target, path, query (None when there is no "?"), minor version digit.
_PATH_CHAR: Final = r"[\x21\x22\x24-\x3e\x40-\x7e]"  # _TARGET minus "#" and "?"
_QUERY_CHAR: Final = r"[\x21\x22\x24-\x7e]"  # _TARGET minus "#"
ORIGIN_REQUEST_LINE: Final = re.compile(
    "("
    + _CONVENTIONAL_METHOD
    + ") ((/"
    + _PATH_CHAR
    + "*)(?:\\?("
    + _QUERY_CHAR
    + "*))?) HTTP/1\\.([01])\r\n"
)
# The same line for a head that passed `_fields.clean_lines` (no CTL but HTAB, every CR before an LF): the
# target is then `.*` ("anything but LF", sre's fastest repeat: ~4x faster per character than a class of
# ranges), which ends on the line's CRLF. It may still hold SP, HTAB, "#", "?" or obs-text, so the caller
# looks for those in the target (cheap `in` and `isascii` tests) and splits off the query itself.
# Groups: method, target, minor digit.
CLEAN_ORIGIN_REQUEST_LINE: Final = re.compile("(" + _CONVENTIONAL_METHOD + r") (/.*) HTTP/1\.([01])\r\n")
TOKEN_RE: Final = re.compile(TOKEN)
CONVENTIONAL_METHOD_RE: Final = re.compile(_CONVENTIONAL_METHOD)
VERSION_RE: Final = re.compile(_VERSION)

# RFC 9112 §5 / RFC 9110 §5.5:
#   field-line    = field-name ":" OWS field-value OWS
#   field-value   = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar   = VCHAR / obs-text
#   OWS           = *( SP / HTAB )
# Anchored at a line start (MULTILINE) and ending with the CRLF, so that `findall` over a head yields one
# match per field line exactly when every line is valid (the caller compares the count with the LF count).
# The value is an alternation (sre runs an optional group through its costly repeat machinery: 25 % slower on
# a typical head): vchar *content vchar, one vchar, or empty only where the line ends. That last condition
# keeps a failing match linear: otherwise each space the leading OWS gives back on the way to failure is
# rescanned by the trailing OWS, and a line of 8,000 spaces and one bad byte took 140 ms.
_FIELD_VCHAR: Final = r"[\x21-\x7e\x80-\xff]"
_FIELD_CONTENT: Final = r"[\t \x21-\x7e\x80-\xff]"


def _field_value(vchar: str, content: str, end: str) -> str:
    return "(" + vchar + content + "*" + vchar + "|" + vchar + "|(?=" + end + "))"


_CLEAN_VCHAR: Final = r"[^\t \r\n]"


def _field_lines(vchar: str, content: str, name_end: str) -> re.Pattern[str]:
    value = _field_value(vchar, content, r"\r\n")
    return re.compile("^(" + TOKEN + ")" + name_end + r"[\t ]*" + value + r"[\t ]*\r\n", re.MULTILINE)


FIELD_LINES: Final = _field_lines(_FIELD_VCHAR, _FIELD_CONTENT, ":")
# The same lines in a section that passed `_fields.clean_lines`: every character but CR and LF is then HTAB,
# SP, a VCHAR or obs-text, and CR only comes right before LF, so `.` (sre's fastest repeat: "anything but LF",
# ~4x faster per character than a class of ranges) can stand for field-content.
CLEAN_FIELD_LINES: Final = _field_lines(_CLEAN_VCHAR, ".", ":")
# With strip_header_spaces (Gunicorn): whitespace between the name and the colon is dropped.
SPACED_FIELD_LINES: Final = _field_lines(_FIELD_VCHAR, _FIELD_CONTENT, "[\t ]*:")
CLEAN_SPACED_FIELD_LINES: Final = _field_lines(_CLEAN_VCHAR, ".", "[\t ]*:")
# RFC 9112 §5.2: obs-fold = OWS CRLF RWS, replaced by one SP when folding is permitted. Found as CRLF RWS (a
# run of folds, continuation lines holding only whitespace included, as one): a pattern that starts with a
# literal is searched for with a fast string search, one that starts with `[\t ]*` is tried at every position
# (16x slower on a 2 KiB section). The OWS before a fold is then removed by `OWS_BEFORE_FOLD`.
OBS_FOLDS: Final = re.compile(r"\r\n[\t ]+(?:\r\n[\t ]+)*")
FOLD_MARK: Final = "\x00"  # stands for a fold between the two steps: no clean section holds a NUL
OWS_BEFORE_FOLD: Final = re.compile(r"[\t ]+\x00")
# One field line without its CRLF, for diagnosing a line the fast path refused.
FIELD_VALUE_RE: Final = re.compile(r"[\t ]*" + _field_value(_FIELD_VCHAR, _FIELD_CONTENT, r"\Z") + r"[\t ]*")

# RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ]  (checked by its first character: "/")
# RFC 9112 §3.2.2 / RFC 3986 §3: absolute-form = absolute-URI
#   = scheme ":" hier-part [ "?" query ] with hier-part = "//" authority path-abempty.
# Only the authority is checked strictly (an invalid authority is a routing hazard, cf. corpus invalid/016);
# path and query keep the lenient `_TARGET` characters.
#   scheme    = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
#   authority = [ userinfo "@" ] host [ ":" port ]
#   host      = IP-literal / IPv4address / reg-name ; IP-literal = "[" ( IPv6address / IPvFuture ) "]"
#   reg-name  = *( unreserved / pct-encoded / sub-delims ) ; port = *DIGIT
_UNRESERVED_SUBDELIMS: Final = r"-A-Za-z0-9._~!$&'()*+,;=%"
_IP_LITERAL: Final = r"\[[0-9A-Za-z:.%_~-]+\]"
_HOST: Final = "(?:" + _IP_LITERAL + "|[" + _UNRESERVED_SUBDELIMS + "]*)"
_AUTHORITY: Final = "(?:[" + _UNRESERVED_SUBDELIMS + ":]*@)?" + _HOST + "(?::[0-9]*)?"
_SCHEME: Final = r"[A-Za-z][A-Za-z0-9+.-]*"
# Group 1: what follows the authority (path-abempty [ "?" query ] [ "#" fragment ]), split by the caller.
ABSOLUTE_FORM: Final = re.compile(_SCHEME + "://" + _AUTHORITY + r"((?:[/?#][\x21-\x7e]*)?)")
# RFC 9112 §3.2.3: authority-form = uri-host ":" port (CONNECT only)
AUTHORITY_FORM: Final = re.compile(_HOST + ":[0-9]+")
# RFC 9110 §7.2: Host = uri-host [ ":" port ]
HOST_RE: Final = re.compile(_HOST + "(?::[0-9]*)?")

# RFC 9110 §8.6: Content-Length = 1*DIGIT is checked with str methods in `_semantics._framing`.

# RFC 9112 §7.1:
#   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size = 1*HEXDIG              (at most 16 digits here: 64 bits)
#   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token ; chunk-ext-val = token / quoted-string
# RFC 9110 §5.6.4:
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
QUOTED_STRING: Final = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_CHUNK_EXT: Final = (
    r"(?:[\t ]*;[\t ]*" + TOKEN + r"(?:[\t ]*=[\t ]*(?:" + TOKEN + "|" + QUOTED_STRING + "))?)*"
)
CHUNK_LINE: Final = re.compile(("([0-9A-Fa-f]{1,16})" + _CHUNK_EXT).encode("latin-1"))
# The same line with its CRLF, matched in place in the body buffer. The line without extensions is tried
# first, as a literal branch: the extensions' repeat costs ~100 ns a line even when it repeats zero times.
CHUNK_HEAD: Final = re.compile(("([0-9A-Fa-f]{1,16})(?:\r\n|" + _CHUNK_EXT + "\r\n)").encode("latin-1"))
CHUNK_EXT_RE: Final = re.compile(_CHUNK_EXT.encode("latin-1"))
HEX_RE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
# What an unterminated chunk line without ";" may still be: a size, maybe followed by the BWS before ";".
SIZE_PREFIX: Final = re.compile(rb"(?:[0-9A-Fa-f]{1,16}[\t ]*)?")

# The PROXY protocol v1 line (haproxy proxy-protocol.txt §2.1), at most 107 bytes including the CRLF:
#   "PROXY" SP ( "TCP4" / "TCP6" ) SP src SP dst SP sport SP dport CRLF  /  "PROXY UNKNOWN" [ anything ] CRLF
# Matched at the start of the buffer, CRLF included; the addresses are then checked by inet_pton.
PROXY_V1_LINE: Final = re.compile(
    rb"PROXY (?:TCP4|TCP6) [0-9A-Fa-f.:]+ [0-9A-Fa-f.:]+ [0-9]{1,5} [0-9]{1,5}\r\n"
)
PROXY_V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
