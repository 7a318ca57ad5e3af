# A Gunicorn-style config file: module-level names are setting names.
bind = ["127.0.0.1:8000"]
workers = 2
