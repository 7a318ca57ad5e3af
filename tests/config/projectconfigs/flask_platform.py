# Settings for running the Flask app on a platform that gives us $PORT.
import os

port = int(os.environ.get("PORT", 5000))
bind = [f"0.0.0.0:{port}"]
workers = int(os.environ.get("WEB_CONCURRENCY", 3))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = 4
preload_app = os.environ.get("PRELOAD") == "1"
proxy_protocol = None
statsd_host = os.environ.get("STATSD_HOST")
statsd_prefix = "myapp"
enable_stdio_inheritance = None
capture_output = True
worker_tmp_dir = "/dev/shm"

# a local override file, when there is one
_local = os.path.join(os.path.dirname(__file__), "local_settings.py")
if os.path.exists(_local):
    with open(_local) as _file:
        exec(_file.read())
