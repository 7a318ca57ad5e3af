"""Production server settings, with hooks for logging and resource hygiene."""

import logging
import os
import signal

LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"

bind = "unix:/run/app/gunicorn.sock"
umask = 0o007
workers = 4
worker_class = "sync"
worker_connections = 1000
backlog = 2048
pidfile = "/run/app/gunicorn.pid"
proc_name = "app-web"

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}

started = {}


def on_starting(server):
    server.log.info("starting %s", proc_name)


def when_ready(server):
    started["ready"] = True


def post_fork(server, worker):
    # each worker reseeds and ignores SIGPIPE on its own
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.environ["WORKER_AGE"] = str(worker.age)


def pre_request(worker, req):
    worker.log.debug("%s %s", req.method, req.path)


def post_request(worker, req, environ, resp):
    logging.getLogger("app.requests").debug("done %s", req.path)


def worker_abort(worker):
    worker.log.warning("worker %s aborted", worker.pid)
