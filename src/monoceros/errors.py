"""Errors shared by the master and the workers, and the exit codes that carry them between processes.

A worker that cannot boot exits with a reserved status; the master turns that status back into a
`HaltServer` so a crash loop stops the whole server instead of respawning forever (Gunicorn does the same,
with the same numbers, so supervisors keyed on them keep working).
"""

WORKER_BOOT_ERROR = 3
APP_LOAD_ERROR = 4


class HaltServer(BaseException):
    """Stop the master with `exit_status`.

    A BaseException so that an application's or a hook's `except Exception` cannot swallow it.
    """

    def __init__(self, reason: str, exit_status: int = 1) -> None:
        super().__init__(reason, exit_status)
        self.reason = reason
        self.exit_status = exit_status

    def __str__(self) -> str:
        return f"<HaltServer {self.reason!r} {self.exit_status}>"


class AppImportError(Exception):
    """The application object could not be found or built (exit code `APP_LOAD_ERROR` in a worker)."""


class BindError(SystemExit):
    """A listener could not be bound after all retries.

    A SystemExit with status 1 so that, left uncaught, the process ends exactly as Gunicorn's does after
    `Can't connect to ...`; the arbiter may still catch it to run its own clean-up first.
    """

    def __init__(self, address: str) -> None:
        super().__init__(1)
        self.address = address
