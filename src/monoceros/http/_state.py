"""The states of the two sides of an HTTP/1.1 connection and their transitions, as tables.

``Connection`` has one state per side: the client's (what the peer is sending; the parser keeps it) and ours
(what we are sending). A side moves only along an entry of its table; an event with no entry for the current
state is a bug in the caller (``LocalProtocolError``) or, for what the peer sent, was refused by the parser.
After both sides are ``DONE`` the connection either starts a new cycle (both ``IDLE``), or our side goes to
``MUST_CLOSE``; a protocol switch leaves both sides in ``SWITCHED_PROTOCOL`` and the rest of the bytes are no
longer HTTP (``Connection.trailing_data``).

States are interned strings: cheap to hash and compare, and readable in a traceback.
"""

from __future__ import annotations

from typing import Final

from ._events import ConnectionClosed, Data, EndOfMessage, Request

IDLE: Final = "IDLE"  # client: no request yet in this cycle; we: no request to answer
SEND_BODY: Final = "SEND_BODY"  # client: its head was read, its body is coming
SEND_RESPONSE: Final = "SEND_RESPONSE"  # we: a request is being answered
DONE: Final = "DONE"  # this side's message of the cycle is complete
MUST_CLOSE: Final = "MUST_CLOSE"  # we: the connection closes once our output is out
CLOSED: Final = "CLOSED"  # client: it closed its side between two requests
ERROR: Final = "ERROR"  # client: it sent something invalid (the parser raised)
SWITCHED_PROTOCOL: Final = "SWITCHED_PROTOCOL"  # both: the bytes that follow are not HTTP/1.1

# The client's side moves with the events the parser produces (any state may also go to ERROR, when the
# parser raises). The parser keeps this state itself, so that reading an event costs no second state machine:
# its own states are the client's as CLIENT_STATE_OF_PARSER says, and tests/http/test_http_connection.py
# checks every transition it makes against this table.
CLIENT_TRANSITIONS: Final[dict[tuple[str, type], str]] = {
    (IDLE, Request): SEND_BODY,  # (a request without body: EndOfMessage follows at once)
    (IDLE, ConnectionClosed): CLOSED,
    (SEND_BODY, Data): SEND_BODY,
    (SEND_BODY, EndOfMessage): DONE,
}
CLIENT_STATE_OF_PARSER: Final[dict[str, str]] = {
    "PROXY": IDLE,  # waiting for the PROXY protocol header that comes first
    "HEAD": IDLE,  # waiting for (the rest of) a request head
    "BODY": SEND_BODY,
    "NO_BODY": SEND_BODY,  # a head without body was read; its EndOfMessage comes next
    "DONE": DONE,  # paused until start_next_cycle()
    "CLOSED": CLOSED,
    "ERROR": ERROR,
}

# What happens on our side.
REQUEST = "request"  # the client's request head arrived: it is ours to answer
KEEP = "keep"  # our response ended and allows another request on this connection
CLOSE = "close"  # our response ended (or was abandoned) and the connection must close
SWITCH = "switch"  # our response agreed to a protocol switch (101, or Connection: upgrade)
REFUSE = "refuse"  # we answered an error of our own (a bad request, a failure) instead of a response

SERVER_TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    (IDLE, REQUEST): SEND_RESPONSE,
    (IDLE, REFUSE): MUST_CLOSE,  # an invalid head: there is no request to answer, only the error
    (SEND_RESPONSE, KEEP): DONE,
    (SEND_RESPONSE, CLOSE): MUST_CLOSE,
    (SEND_RESPONSE, REFUSE): MUST_CLOSE,
    (SEND_RESPONSE, SWITCH): SWITCHED_PROTOCOL,
}

# (client, ours) after our response ended -> (client, ours) to go on with. DONE/DONE is the one way to a new
# cycle. Any pair not listed makes us close: a client still sending a body we did not read (the rest of it
# would be read as the next request), or one that wants to switch with its body unread.
CYCLE: Final[dict[tuple[str, str], tuple[str, str]]] = {
    (DONE, DONE): (IDLE, IDLE),
    (DONE, SWITCHED_PROTOCOL): (SWITCHED_PROTOCOL, SWITCHED_PROTOCOL),
}
