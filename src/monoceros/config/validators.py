"""Value validators: turn what a config file, the environment or the command line gave into a typed value.

Each takes the raw value (any object from a config file, a string from the command line) and returns the
typed value, or raises `InvalidValue` whose text follows the value's repr in the final message
(`--workers: 'abc' is not an integer`). Accepted forms follow Gunicorn's validators.
"""

from __future__ import annotations

import glob
import grp
import inspect
import ipaddress
import os
import pwd
import re
from collections.abc import Callable
from typing import Any

from monoceros.config.bindaddr import parse_address
from monoceros.config.errors import InvalidType, InvalidValue

Validator = Callable[[object], Any]


def to_int(value: object) -> int:
    """A non-negative integer; strings go through `int(x, 0)` so `0x10` and `0o7` work, as in Gunicorn."""
    number = _int(value)
    if number < 0:
        raise InvalidValue("is negative: must be 0 or more")
    return number


def to_seconds(value: object) -> float:
    """A non-negative number of seconds; fractions allowed (``0.5``)."""
    if isinstance(value, bool):
        raise InvalidType("is a boolean, not a number of seconds")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidType("is not a number of seconds") from None
    else:
        raise InvalidType("is not a number of seconds")
    if not number >= 0 or number == float("inf"):  # (also refuses NaN)
        raise InvalidValue("must be a finite number of seconds, 0 or more")
    return number


def workers_count(value: object) -> int | str:
    """A number of workers, or ``auto`` (sized to the machine when read, see ``Config.workers``)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return to_int(value)


def _int(value: object, base: int = 0) -> int:
    if isinstance(value, bool):
        raise InvalidType("is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), base)
        except ValueError:
            pass
    raise InvalidType("is not an integer")


def int_between(low: int, high: int) -> Callable[[object], int]:
    def validate(value: object) -> int:
        number = _int(value)
        if not low <= number <= high:
            raise InvalidValue(f"is out of range: must be from {low} to {high}")
        return number

    return validate


def octal_int(value: object) -> int:
    """A mode or umask: like `to_int`, but a leading `0` means octal (`022`), as Gunicorn's `auto_int`."""
    if isinstance(value, str) and re.match(r"0\d", value.strip()):
        return to_int("0o" + value.strip()[1:])
    return to_int(value)


def to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValue("is not a boolean: use True or False")


def to_opt_bool(value: object) -> bool | None:
    return None if value is None else to_bool(value)


def to_str(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue("is not a string")
    return value.strip()


def to_opt_str(value: object) -> str | None:
    return None if value is None else to_str(value)


def to_str_list(value: object) -> list[str]:
    """A list of strings; a single string is a one-element list (Gunicorn's legacy form)."""
    if not value:
        return []
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    raise InvalidValue("is not a list of strings")


def comma_list(value: object) -> list[str]:
    """`"a, b"` -> `["a", "b"]`; a list is also accepted from a config file."""
    if isinstance(value, (list, tuple)):
        return [item for v in to_str_list(list(value)) for item in comma_list(v)]
    text = to_opt_str(value)
    return [part.strip() for part in text.split(",") if part.strip()] if text else []


def addr_list(value: object) -> list[str]:
    """IP addresses or networks (CIDR) separated by commas, or `*`; host bits set in a network are refused."""
    entries = comma_list(value)
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry)
        except ValueError as exc:
            raise InvalidValue(f"is not a list of IP addresses, networks or '*': {exc}") from None
    return entries


def choice(*allowed: str, aliases: dict[str, str] | None = None) -> Callable[[object], str]:
    """One of `allowed`, case-insensitive; `aliases` maps other accepted spellings."""
    mapping = {a: a for a in allowed} | (aliases or {})

    def validate(value: object) -> str:
        # Booleans count through the aliases: Gunicorn 23 config files say `proxy_protocol = True`.
        text = str(value).lower() if isinstance(value, bool) else to_str(value).lower()
        if text not in mapping:
            raise InvalidValue("is not one of: " + ", ".join(allowed))
        return mapping[text]

    return validate


def to_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValue("is not a dictionary")
    return value


def _each(entries: list[str], check: Callable[[str], object]) -> list[str]:
    """Check every entry; name the bad one unless it is the only one (a single command line value)."""
    for entry in entries:
        try:
            check(entry)
        except InvalidValue as exc:
            if len(entries) == 1:
                raise
            raise InvalidValue(f"contains {entry!r}, which {exc}") from None
    return entries


def bind_list(value: object) -> list[str]:
    return _each(to_str_list(value), parse_address)


def env_list(value: object) -> list[str]:
    return _each(to_str_list(value), _key_value)


def _key_value(entry: str) -> None:
    if "=" not in entry:
        raise InvalidValue("is not of the form KEY=VALUE")


def to_user(value: object) -> int:
    return _id_from(value, lambda name: pwd.getpwnam(name).pw_uid, "user")


def to_group(value: object) -> int:
    return _id_from(value, lambda name: grp.getgrnam(name).gr_gid, "group")


def _id_from(value: object, lookup: Callable[[str], int], kind: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        try:
            return lookup(value.strip())
        except KeyError:
            raise InvalidValue(f"is not a known {kind} name or a numeric id") from None
    raise InvalidValue(f"is not a {kind} name or a numeric id")


def to_chdir(value: object) -> str:
    path = os.path.abspath(to_str(value))
    if not os.path.isdir(path):
        raise InvalidValue("is not an existing directory")
    return path


def class_or_str(value: object) -> str | type[Any]:
    """A dotted path or name, or a class object; a function is called to get the class (Gunicorn does)."""
    if inspect.isfunction(value) or inspect.ismethod(value):
        value = value()
    if inspect.isclass(value):
        return value
    try:
        return to_str(value)
    except InvalidValue:
        raise InvalidValue("is not a class or a dotted path to one") from None


def statsd_address(value: object) -> str | None:
    text = to_opt_str(value)
    if text is not None:
        try:
            parse_address(text, default_port=8125)
        except InvalidValue:
            raise InvalidValue("is not an address: use HOST:PORT or unix://PATH") from None
    return text


def metrics_address(value: object) -> str | None:
    """Where the master serves /metrics: ``HOST:PORT`` or ``unix:PATH`` (not an inherited descriptor)."""
    text = to_opt_str(value)
    if text is None or not text.strip():
        return None
    try:
        parsed = parse_address(text.strip(), default_port=9100)
    except InvalidValue:
        raise InvalidValue("is not an address: use HOST:PORT or unix:PATH") from None
    if isinstance(parsed, int):
        raise InvalidValue("is a file descriptor: use HOST:PORT or unix:PATH")
    return text.strip()


def files_or_patterns(value: object) -> list[str]:
    return _each(to_str_list(value), _file_or_pattern)


def _file_or_pattern(entry: str) -> None:
    if not glob.has_magic(entry) and not os.path.exists(entry):
        raise InvalidValue("does not exist (and is not a glob pattern)")


def http_protocols(value: object) -> list[str]:
    protocols = [p.lower() for p in comma_list(value)] or ["h1"]
    if any(p not in ("h1", "h2", "h3") for p in protocols) or len(set(protocols)) != len(protocols):
        raise InvalidValue("is not a comma-separated list of distinct protocols among h1, h2, h3")
    return protocols
