"""The default worker (`-k sync`): the application runs inline, one request at a time per process.

Unlike Gunicorn's sync worker, it keeps connections alive, answers pipelined requests and cannot be
held by a slow client: the shared I/O engine reads each request whole before the app runs and writes
responses out as the client takes them (see `monoceros.workers.engine`). With several workers, the
idle connections of a worker stuck in a slow request move to the others (`workers.handoff`), so
keep-alive does not make fast requests wait behind slow ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monoceros.http import Request
from monoceros.workers.base import SharedState, Worker
from monoceros.workers.bodies import BufferedBody
from monoceros.workers.connection import Conn
from monoceros.workers.engine import Engine, Listening
from monoceros.workers.handoff import BusyGuard, HandoffChannel, Inbox, receive_connection, send_connection
from monoceros.workers.serving import RequestRunner

if TYPE_CHECKING:
    from monoceros.config import Config


class SyncEngine(Engine):
    """The engine, plus the hand-off of idle connections while the app is busy."""

    def __init__(self, worker: Worker, runner: RequestRunner, channel: HandoffChannel) -> None:
        super().__init__(worker, runner)
        self.channel = channel
        self.guard = BusyGuard(self.conns, self.epoll, channel.sender)
        # The receiving end is watched like a listener: a free worker takes what a busy one passes.
        self.inbox = Inbox(channel.receiver)
        self.real_listeners = dict(self.listeners)
        self.listeners[self.inbox.fileno()] = self.inbox

    def run(self) -> None:
        self.guard.start()
        super().run()

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        guard = self.guard
        # A stopping worker keeps its connections: its siblings may be stopping too, and a connection still
        # in the channel when the last of them exits would be reset with the client's request in it.
        guard.busy_since = 0.0 if self.stopping else self.now
        try:
            return super().dispatch(conn, request, body, live)
        finally:
            for moved in guard.call_done():
                # Another worker owns it now (epoll no longer watches it here): just drop our fd.
                self.conns.pop(moved.fd, None)
                moved.closed = True
                moved.sock.close()

    def client_listeners(self) -> list[Listening]:
        return list(self.real_listeners.values())

    def _begin_stop(self, now: float) -> None:
        # The inbox stays watched until the worker exits: a connection a sibling passed just before the stop
        # is served here (its next response says Connection: close) rather than left in the channel.
        inbox = self.listeners.pop(self.inbox.fileno())
        super()._begin_stop(now)
        self.listeners = {inbox.fileno(): inbox}

    def on_accept(self, listener: Listening) -> None:
        if listener is not self.inbox:
            super().on_accept(listener)
            return
        received = receive_connection(listener.sock)
        if received is None:
            return
        sock, listener_fd = received
        # After a HUP that changed `bind`, the listener may be one this worker never had: any will do
        # for the environ's SERVER_NAME/PORT rather than dropping the client.
        origin = self.real_listeners.get(listener_fd) or next(iter(self.real_listeners.values()), None)
        if origin is None:
            # Not ours to serve: back into the channel for another worker. Closing our copy leaves the
            # one in flight open (only when the channel is full is the connection dropped).
            send_connection(self.channel.sender, sock.fileno(), listener_fd)
            sock.close()
            return
        try:
            peer = sock.getpeername()
        except OSError:
            sock.close()
            return
        conn = self.adopt(sock, peer, origin)
        self._idle(conn)  # kept alive elsewhere until now; the keep-alive clock restarts here
        self.on_readable(conn)


class SyncWorker(Worker):
    """One application call at a time (`wsgi.multithread` is False)."""

    @classmethod
    def shared_state(cls, cfg: Config, current: SharedState | None) -> SharedState | None:
        """The hand-off channel, when connections can move between the workers at all: several workers
        and keep-alive on; not with PROXY headers (read here, the other workers could not know them) nor
        TLS (a session's state lives in this process). Kept across reloads, so that old and new workers
        pass connections to each other."""
        usable = cfg.workers > 1 and cfg.keepalive > 0 and cfg.proxy_protocol == "off" and not cfg.is_ssl
        if not usable:
            return None
        return current if isinstance(current, HandoffChannel) else HandoffChannel()

    def run(self) -> None:
        runner = RequestRunner(self, multithread=False)
        channel = self.shared
        if isinstance(channel, HandoffChannel):  # (the master made it: connections may move)
            SyncEngine(self, runner, channel).run()
        else:
            Engine(self, runner).run()
