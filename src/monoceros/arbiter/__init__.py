"""The master process: it binds the sockets, forks and supervises the workers, and acts on signals.

``master`` is the loop (``Arbiter``); ``child`` is what runs in a forked worker before its own loop;
``reload`` and ``reexec`` are HUP and USR2; ``signals`` queues signals for the loop; ``sockets``,
``pidfile`` and ``systemd`` are the master's dealings with the system. Nothing here knows HTTP.
"""

from monoceros.arbiter.master import Arbiter

__all__ = ["Arbiter"]
