"""Gunicorn settings for the web container (every value can be overridden from the environment)."""

import multiprocessing
import os

host = os.getenv("GUNICORN_HOST", "0.0.0.0")
port = os.getenv("PORT", "8000")
bind = f"{host}:{port}"

cores = multiprocessing.cpu_count()
workers_per_core = float(os.getenv("WORKERS_PER_CORE", "2"))
default_workers = max(int(workers_per_core * cores) + 1, 2)
workers = int(os.getenv("WEB_CONCURRENCY", default_workers))
threads = int(os.getenv("GUNICORN_THREADS", "1"))

wsgi_app = "mysite.wsgi:application"
chdir = os.getenv("APP_DIR", None) or "."
raw_env = ["DJANGO_SETTINGS_MODULE=mysite.settings.production"]

user = os.getenv("RUN_AS_USER", None)
group = os.getenv("RUN_AS_GROUP", None)

timeout = int(os.getenv("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.getenv("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.getenv("GUNICORN_KEEPALIVE", "5"))
max_requests = 1000
max_requests_jitter = 100

forwarded_allow_ips = "*"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

accesslog = "-"
errorlog = "-"
loglevel = os.getenv("LOG_LEVEL", "info")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
