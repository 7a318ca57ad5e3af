"""The gevent worker (`-k gevent`; Gunicorn's `gevent_wsgi`, `gevent_pywsgi` and its gevent classes too).

The I/O engine is the one the sync and gthread workers run: the same parser, framing, keep-alive,
pipelining, slow-client bounds and stop. What gevent changes is where the application runs and how the
loop waits:

- each complete request runs in a greenlet of its own (``GreenletPool``; greenlets are reused from one
  request to the next), so an app that waits
  cooperatively (``gevent.sleep``, patched sockets, an HTTP client) lets every other request go on;
  the connection it runs for gets no events meanwhile (EPOLLONESHOT), as with gthread's threads;
- the loop's greenlet waits for socket events in gevent's hub (``GreenPoll``: the epoll descriptor is
  itself pollable), so the application's greenlets run whenever the loop has nothing to do;
- the heartbeat comes from the loop's greenlet: an app that blocks the hub (CPU work, a call gevent
  did not patch) stops it, the master's ``timeout`` kills the worker and the report names every
  greenlet's stack.

As in Gunicorn, the world is monkey-patched in the new worker process before anything of the app is
imported; here that is before the ``post_fork`` hook, so the hook runs patched too. ``worker_connections``
caps the connections (idle ones included) of one worker.
"""

from __future__ import annotations

import gc
import select
import signal
import traceback
from types import FrameType
from typing import TYPE_CHECKING, Any

from monoceros.config.errors import ConfigError
from monoceros.observability.metrics import IN_FLIGHT
from monoceros.workers.base import Worker
from monoceros.workers.connection import BUSY
from monoceros.workers.engine import Engine
from monoceros.workers.running import Inline, warn_long_requests
from monoceros.workers.serving import RequestRunner
from monoceros.wsgi import RequestTimeout

if TYPE_CHECKING:
    from monoceros.http import Request
    from monoceros.workers.bodies import BufferedBody
    from monoceros.workers.connection import Conn
    from monoceros.workers.engine import Poller

EXTRA_HINT = "pip install 'monoceros[gevent]'"
MIN_GEVENT = (24, 10)  # Gunicorn 27's floor: the hub and monkey-patching this worker relies on


def _gevent() -> Any:
    """The gevent package, or ConfigError naming the extra that brings it."""
    try:
        import gevent
    except ImportError:
        raise ConfigError(
            f"worker_class: the gevent worker needs the gevent package, which is not installed: {EXTRA_HINT}"
        ) from None
    version = tuple(int(part) for part in gevent.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_GEVENT:
        raise ConfigError(
            f"worker_class: the gevent worker needs gevent {'.'.join(map(str, MIN_GEVENT))} or newer,"
            f" {gevent.__version__} is installed: {EXTRA_HINT}"
        )
    return gevent


class GreenPoll:
    """``select.epoll`` whose wait lets the other greenlets run: the loop's greenlet parks on the epoll
    descriptor in the hub until it is readable, then takes the events without blocking."""

    def __init__(self) -> None:
        from gevent import Timeout, get_hub
        from gevent.monkey import get_original

        self._timeout = Timeout
        # (monkey-patching removes select.epoll: it would block the hub)
        self._epoll = get_original("select", "epoll")()
        self._fd = self._epoll.fileno()
        self._hub = get_hub()
        self._watcher = self._hub.loop.io(self._fd, 1)
        # The highest priority: when a round of the hub has both input and timers due, the input is read
        # (and its requests' greenlets started) first (/sleep?ms=10 at 100 connections: 7.4k -> 8.0k/s)
        self._watcher.priority = 2
        self.register = self._epoll.register
        self.modify = self._epoll.modify
        self.unregister = self._epoll.unregister

    def poll(self, timeout: float | None = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        epoll = self._epoll
        if timeout != 0:
            # Through the hub even when events are waiting: the greenlets that are ready (a request whose
            # sleep ended) run before the loop takes more input, so a busy loop cannot starve them.
            self._wait(timeout)
        return list(epoll.poll(0, maxevents))

    def _wait(self, timeout: float | None) -> None:
        hub = self._hub
        if timeout is None or timeout < 0:
            hub.wait(self._watcher)
            return
        with self._timeout(timeout, False):
            hub.wait(self._watcher)

    def close(self) -> None:
        self._watcher.close()
        self._epoll.close()


_Job = tuple["Conn", "Request", "BufferedBody | None", bool]


class GreenletPool(Inline):
    """The application runs in a greenlet per request; the loop's greenlet does all the I/O.

    Request greenlets are kept and reused: a new greenlet costs a new interpreter stack (an mmap and a munmap
    per request on Python 3.11+). A request dispatched from the loop runs at once, switched to directly: an
    app that never waits (most requests) ends and comes straight back to the loop without a trip through the
    hub. One that waits switches to the hub, which runs ``_yielded`` first, and the loop goes on; that request
    greenlet then ends in the hub, as one started by the hub does.
    """

    oneshot = select.EPOLLONESHOT

    def __init__(self, warn_every: float, request_timeout: float = 0.0) -> None:
        from gevent import getcurrent
        from greenlet import greenlet

        self.greenlet = greenlet
        self.current = getcurrent
        self.hub: Any = None
        self.loop_greenlet: Any = None  # the engine's (the worker's main greenlet), set when the loop starts
        self.parked: list[Any] = []  # request greenlets waiting for their next request
        self.inline: Any = None  # the request greenlet started from the loop that has not yielded yet
        self.serving: dict[Any, Request] = {}  # request greenlet -> the request it serves now
        self.warn_every = warn_every
        self.request_timeout = request_timeout
        # request_timeout: the greenlets serving a request, and when their time is up
        self.deadlines: dict[Any, float] = {}

    def start(self) -> None:
        from gevent import get_hub

        self.hub = get_hub()
        self.loop_greenlet = self.current()
        if self.request_timeout > 0:
            # A greenlet that spins in Python code holds the hub: no timer of gevent can stop it, a signal
            # can (its handler runs in that greenlet). Once a second, as the loop's sweep does for the rest.
            signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, 1.0, 1.0)

    def stop(self) -> None:
        if self.request_timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def poller(self) -> Poller:
        return GreenPoll()

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        now = self.engine.now
        conn.state = BUSY
        conn.current = request
        conn.busy_since = now
        conn.warn_at = now + self.warn_every
        if self.slot_values is not None:
            self.slot_values[IN_FLIGHT] += 1
        job = (conn, request, body, live)
        child = self.parked.pop() if self.parked else self.greenlet(self._work, self.hub)
        if self.current() is not self.loop_greenlet:
            # (a request greenlet handing its connection back found a pipelined request): from the hub
            self.hub.loop.run_callback(child.switch, job)
            return False
        self.inline = child
        resume = self.hub.loop.run_callback(self._yielded)
        child.switch(job)
        if self.inline is child:  # it served the request without waiting
            self.inline = None
            resume.stop()
        return False

    def _yielded(self) -> None:
        """(in the hub) The request greenlet started from the loop waits: the loop goes on from there."""
        if self.inline is not None:
            self.inline = None
            self.loop_greenlet.switch()

    def _work(self, job: _Job) -> None:
        """The life of one request greenlet: serve, park, serve the next one it is given."""
        me = self.current()
        while True:
            self.serving[me] = job[1]
            try:
                self._serve(*job)
            finally:
                self.serving.pop(me, None)
            self.parked.append(me)
            if self.inline is me:  # started from the loop and never waited: back to the loop at once
                self.inline = None
                job = self.loop_greenlet.switch()
            else:
                job = self.hub.switch()

    def _serve(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> None:
        """One request; then the connection goes back to the loop, from here: every greenlet runs in the
        loop's thread, and the loop's greenlet is suspended meanwhile."""
        source = body.as_source() if body is not None else None
        ok = False
        engine = self.engine
        deadlines = self.deadlines
        try:
            if self.request_timeout > 0:
                me = self.current()
                deadlines[me] = engine.clock() + self.request_timeout
                try:
                    ok = self.run(conn, request, source)
                finally:
                    deadlines.pop(me, None)
            else:
                ok = self.run(conn, request, source)
        except RequestTimeout:
            ok = False  # raised just after run_app returned (inside it, run_app answers the 504 itself)
        except Exception:
            engine.log.exception("Error handling request %s", request.path)
        engine.now = engine.clock()
        conn.current = None
        if self.slot_values is not None:
            self.slot_values[IN_FLIGHT] -= 1
        if conn.closed:
            if body is not None:
                body.close()
            return
        if engine.app_done(conn, body, ok, live):
            engine.process(conn)
        engine.rearm(conn)

    def tick(self, now: float) -> None:
        warn_long_requests(self.engine, self.warn_every, now)
        # (from the loop's greenlet: every request greenlet is suspended, in a cooperative wait)
        for late in [g for g, deadline in self.deadlines.items() if deadline <= now]:
            del self.deadlines[late]
            self.hub.loop.run_callback(self._interrupt, late, self.serving.get(late))

    def _interrupt(self, late: Any, request: Request | None) -> None:
        """(in the hub) Raise the timeout into ``late``, if it still serves the request that ran late."""
        if request is not None and self.serving.get(late) is request:
            late.throw(RequestTimeout(self.request_timeout))

    def _alarm(self, sig: int, frame: FrameType | None) -> None:
        """SIGALRM: the running greenlet is past its deadline without ever yielding: interrupt it here."""
        me = self.current()
        deadline = self.deadlines.get(me)
        if deadline is not None and self.engine.clock() >= deadline:
            del self.deadlines[me]
            raise RequestTimeout(self.request_timeout)


class GeventWorker(Worker):
    """Requests run in greenlets (`wsgi.multithread` is True, as in Gunicorn's gevent workers)."""

    @classmethod
    def check_installed(cls) -> None:
        _gevent()

    def after_fork(self) -> None:
        gevent = _gevent()
        from gevent import monkey

        monkey.patch_all()
        gevent.reinit()  # (the hub must not carry state across the fork)

    def reload_engine(self) -> str:
        # The reloader's thread is a greenlet here, and watchfiles waits in native code, which would hold
        # the hub (the worker would never serve): it polls, cooperatively.
        if self.cfg.reload_engine == "inotify":
            self.log.warning("reload_engine: 'inotify' is not usable in a gevent worker; polling instead")
        return "poll"

    def run(self) -> None:
        timeout = float(self.cfg.timeout)
        pool = GreenletPool(
            warn_every=timeout if timeout > 0 else 0.0, request_timeout=float(self.cfg.request_timeout)
        )
        self.engine = Engine(self, RequestRunner(self, multithread=True), pool)
        self.engine.run()

    # Signal handlers run in whichever greenlet was running; those that wait must not wait there (in the
    # hub that would raise, elsewhere it would suspend someone else's request): they get a greenlet.
    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        from gevent import spawn

        spawn(super().handle_quit, sig, frame)

    def handle_usr1(self, sig: int, frame: FrameType | None) -> None:
        from gevent import spawn

        spawn(super().handle_usr1, sig, frame)

    def stacks(self, frame: FrameType | None) -> str:
        return f"{super().stacks(frame)}\n{greenlet_stacks()}".rstrip()


def greenlet_stacks() -> str:
    """Where every suspended greenlet waits (the running one's stack is its thread's)."""
    try:
        from greenlet import greenlet
    except ImportError:
        return ""
    parts = []
    for obj in gc.get_objects():
        if isinstance(obj, greenlet) and not obj.dead and obj.gr_frame is not None:
            frame = obj.gr_frame
            run = getattr(obj, "run", None)
            name = getattr(obj, "name", None) or getattr(run, "__qualname__", "greenlet")
            parts.append(f"Greenlet {name} ({id(obj):#x}):\n{''.join(traceback.format_stack(frame))}")
    return "".join(parts)
