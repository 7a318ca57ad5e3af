"""Section "Worker Processes": how many workers, of which kind, and their lifetime limits."""

from __future__ import annotations

from collections.abc import Mapping

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


def _workers_from_env(env: Mapping[str, str]) -> tuple[object, str] | None:
    if "WEB_CONCURRENCY" in env:
        return env["WEB_CONCURRENCY"], "env WEB_CONCURRENCY"
    return None


class WorkerProcessSettings(Section, title="Worker Processes"):
    _workers = Setting[int | str](
        name="workers",
        cli=["-w", "--workers"],
        meta="INT",
        validator=v.workers_count,
        default=1,
        default_factory=_workers_from_env,
        default_doc="1, or $WEB_CONCURRENCY when set",
        implemented=True,
        doc="""The number of worker processes for handling requests. A common starting point is two to
        four per CPU core; each worker is a separate process with its own copy of the application.
        `auto` (also as `WEB_CONCURRENCY=auto`) sizes it to the CPUs this server may use: the cgroup's
        CPU quota (a container's limit), else the CPUs of its affinity mask; `2 × CPUs + 1` for the
        `sync` worker, one per CPU for the threaded and ASGI workers. The master logs the number and
        where it came from.""",
    )
    _worker_class = Setting[str | type](
        name="worker_class",
        cli=["-k", "--worker-class"],
        meta="STRING",
        validator=v.class_or_str,
        default="sync",
        implemented=True,
        doc="""The type of workers to use. `sync` runs one request at a time per worker; `gthread` runs
        requests in a pool of `threads` threads; `asgi` serves ASGI applications (FastAPI, Starlette,
        Django's ASGI handler) on an asyncio event loop, and so do uvicorn's worker names
        (`uvicorn.workers.UvicornWorker`, `uvicorn_worker.UvicornWorker`, their H11 variants and
        subclasses, whose `CONFIG_KWARGS` are read), without uvicorn installed; `gevent` (also
        `gevent_wsgi`, `gevent_pywsgi` and Gunicorn's gevent classes) runs each request in a greenlet,
        with the world monkey-patched, and needs the `monoceros[gevent]` extra. A dotted path or
        `egg:dist#name` names another worker class: a subclass of Monoceros' worker base, or one written
        for Gunicorn's worker API (aiohttp's `GunicornWebWorker`, gevent-websocket's, Gunicorn's
        `tornado`, a subclass of a Gunicorn worker), which the master then hosts as Gunicorn's arbiter
        would (Gunicorn must be installed). `sync` with more than one thread becomes `gthread`.""",
    )
    threads = Setting[int](
        cli=["--threads"],
        meta="INT",
        validator=v.to_int,
        default=1,
        implemented=True,
        doc="""The number of threads per worker for running requests (the `gthread` pool size): at
        most this many application calls run at once. While calls are quick, the thread running the
        worker's event loop makes them itself; one that lasts more than about 2 ms makes another thread
        take the loop over, and requests then go to the pool. More than one switches the `sync` worker
        class to `gthread`.""",
    )
    worker_connections = Setting[int](
        cli=["--worker-connections"],
        meta="INT",
        validator=v.to_int,
        default=1000,
        implemented=True,
        doc="""The maximum number of simultaneous client connections one worker holds open. It applies
        to the workers that multiplex connections (`gthread`, `gevent` and `asgi`), idle keep-alive
        connections included.""",
    )
    max_requests = Setting[int](
        cli=["--max-requests"],
        meta="INT",
        validator=v.to_int,
        default=0,
        implemented=True,
        doc="""Restart a worker after it has handled this many requests, a simple guard against memory
        leaks in the application. 0 never restarts workers for this reason.""",
    )
    max_worker_memory = Setting[int](
        cli=["--max-worker-memory"],
        meta="MiB",
        validator=v.to_int,
        default=0,
        implemented=True,
        doc="""Recycle a worker whose memory stays above this many MiB: it finishes its requests and exits,
        and a new worker is forked at once in its place. The figure is PSS (the worker's share of its pages,
        so a preloaded app's shared pages count once across workers), sampled by the master about every 2
        seconds per worker with ±20 % jitter; three samples in a row over the limit recycle it. 0 (the
        default) never does. A Monoceros setting; Gunicorn has none.""",
    )
    max_requests_jitter = Setting[int](
        cli=["--max-requests-jitter"],
        meta="INT",
        validator=v.to_int,
        default=0,
        implemented=True,
        doc="""Add a random number from 0 to this value to `max_requests` for each worker, so that the
        workers do not all restart at the same moment. Ignored when `max_requests` is 0.""",
    )
    timeout = Setting[int](
        cli=["-t", "--timeout"],
        meta="INT",
        validator=v.to_int,
        default=30,
        implemented=True,
        doc="""Workers that have not reported to the master for this many seconds are killed and
        replaced. For the `sync` worker this bounds the time of one request. 0 disables the check.""",
    )
    request_timeout = Setting[float](
        cli=["--request-timeout"],
        meta="SECONDS",
        validator=v.to_seconds,
        default=0.0,
        implemented=True,
        doc="""A deadline for each request, without killing the worker: an application call still running
        after this many seconds is interrupted, answered with `504 Gateway Timeout` (or its connection closed
        when the response head is already out), and its stack is logged. sync interrupts the main thread
        (SIGALRM: pure-Python code and blocking calls such as `time.sleep` or a socket read alike); gthread
        raises the interrupt into the pool thread, which takes effect at its next Python bytecode; if the
        thread is blocked in C a second later, the client gets its 504 from the loop and the thread's own
        output is discarded when it returns; ASGI cancels the request's task. Checked about once a second
        (gthread, ASGI) or to the millisecond (sync). A C call that never returns to Python cannot be
        interrupted: the heartbeat `timeout` still applies. WebSocket sessions are not limited. 0 (the
        default) sets no deadline. A Monoceros setting; Gunicorn's `timeout` is a heartbeat, not this.""",
    )
    graceful_timeout = Setting[int](
        cli=["--graceful-timeout"],
        meta="INT",
        validator=v.to_int,
        default=30,
        implemented=True,
        doc="""Seconds a worker gets to finish the requests in progress after being told to stop
        (TERM, HUP, a restart); once they have passed it is killed.""",
    )
    shutdown_delay = Setting[int](
        cli=["--shutdown-delay"],
        meta="INT",
        validator=v.to_int,
        default=0,
        implemented=True,
        doc="""Seconds the master goes on accepting and serving after TERM before the graceful stop begins
        (then `graceful_timeout` applies as usual). Behind a load balancer that learns of the stop late, such
        as Kubernetes, whose endpoints update races the signal, new connections keep arriving for a moment:
        with a delay they are served instead of refused. A second TERM, or INT or QUIT, stops at once. 0 (the
        default) stops at once, as Gunicorn does. A Monoceros setting.""",
    )
    reload_batch = Setting[int](
        cli=["--reload-batch"],
        meta="INT",
        validator=v.to_int,
        default=0,
        default_doc="0 (a quarter of the workers, at least 1)",
        implemented=True,
        doc="""How many workers a HUP replaces at a time. The master forks that many new workers, waits until
        they have loaded the app and listen, retires as many old ones, and goes on with the next batch, so at
        every moment at least `workers` booted workers accept connections, at the cost of at most this many
        extra processes while it rolls. 0 (the default) means a quarter of `workers`, rounded up: 4 steps
        whatever the size, and at most 25 % more memory. If a new worker fails to boot, the rollout stops and
        the old workers go on serving (with the error in the log); the next HUP tries again. Gunicorn instead
        stops the old workers as soon as the new ones are forked. A Monoceros setting.""",
    )
    keepalive = Setting[int](
        cli=["--keep-alive"],
        meta="INT",
        validator=v.to_int,
        default=2,
        implemented=True,
        doc="""Seconds to wait for the next request on an idle keep-alive connection before closing
        it. 0 turns keep-alive off. Behind a load balancer, set it above the balancer's idle timeout.""",
    )
    asgi_loop = Setting[str](
        cli=["--asgi-loop"],
        meta="STRING",
        validator=v.choice("auto", "asyncio", "uvloop"),
        default="auto",
        implemented=True,
        doc="""The event loop of the ASGI worker: `auto` (uvloop when it is installed, else asyncio),
        `asyncio` or `uvloop` (`pip install 'monoceros[uvloop]'`).""",
    )
    asgi_lifespan = Setting[str](
        cli=["--asgi-lifespan"],
        meta="STRING",
        validator=v.choice("auto", "on", "off"),
        default="auto",
        implemented=True,
        doc="""Whether the ASGI worker runs the lifespan protocol: `auto` (if the app supports it: an app
        that raises on the lifespan scope is served without it), `on` (required: any failure stops the
        server) or `off`. A startup the app reports as failed stops the server with exit status 3.""",
    )
    asgi_disconnect_grace_period = Setting[int](
        cli=["--asgi-disconnect-grace-period"],
        meta="INT",
        validator=v.to_int,
        default=3,
        implemented=True,
        doc="""Seconds an ASGI application gets to react to a client disconnect before its task is
        cancelled.""",
    )
    websocket_max_message_size = Setting[int](
        cli=["--websocket-max-message-size"],
        meta="INT",
        validator=v.to_int,
        default=16777216,
        implemented=True,
        doc="""The largest WebSocket message, in bytes, that the ASGI worker accepts; a longer one closes
        the connection with code 1009. WebSockets need `pip install 'monoceros[asgi]'` (wsproto).""",
    )
    http_parser = Setting[str](
        cli=["--http-parser"],
        meta="STRING",
        validator=v.choice("auto", "fast", "python"),
        default="auto",
        implemented=True,
        doc="""The HTTP parser: `auto` (the native fast path when it was built, else Python), `fast` (the
        native path: the start fails when it was not built, needing a C compiler and the Python headers
        at install time) or `python`. The native path reads the common request head in C and leaves
        everything else to the Python parser, so both give the same requests and the same errors; the
        master logs which one runs.""",
    )
