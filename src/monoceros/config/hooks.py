"""Validation of user hooks: a callable or a `"module.func"` path, with exactly the hook's positional arity.

The default hooks themselves are declared with their settings in `sections/hooks.py`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from monoceros.config.errors import InvalidValue
from monoceros.config.setting import HookSpec, Setting

Hook = Callable[..., Any]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def arity(func: Hook) -> int:
    """The number of positional parameters, defaulted ones included: Gunicorn counts them the same way."""
    params = inspect.signature(func).parameters.values()
    return sum(1 for p in params if p.kind in _POSITIONAL)


def hook_validator(name: str, spec: HookSpec) -> Callable[[object], Hook]:
    def validate(value: object) -> Hook:
        func = _resolve(value)
        count = arity(func)
        expected = f"expected {name}{spec.signature}"
        if count == len(spec.params):
            return func
        if count in spec.also_accepts:
            return _adapt(func, count)
        plural = "" if count == 1 else "s"
        raise InvalidValue(f"takes {count} positional argument{plural}: {expected}")

    return validate


def _resolve(value: object) -> Hook:
    if isinstance(value, str):
        module_name, _, attr = value.rpartition(".")
        if not module_name:
            raise InvalidValue("is not a callable nor a 'module.function' path")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            raise InvalidValue(f"cannot be imported: {exc}") from None
        except AttributeError:
            raise InvalidValue(f"cannot be imported: {module_name!r} has no attribute {attr!r}") from None
    if not callable(value):
        raise InvalidValue("is not callable")
    return value


def _adapt(func: Hook, count: int) -> Hook:
    """Calls a shorter user hook with the first `count` arguments (post_request's 2- and 3-argument forms)."""

    def adapted(*args: Any) -> Any:
        return func(*args[:count])

    adapted.__qualname__ = getattr(func, "__qualname__", repr(func))
    adapted.__wrapped__ = func  # type: ignore[attr-defined]
    return adapted


def hook_setting(
    default: Hook, doc: str, *, implemented: bool = True, also_accepts: tuple[int, ...] = ()
) -> Setting[Hook]:
    """A hook setting whose name and parameters are those of its default function."""
    spec = HookSpec(tuple(inspect.signature(default).parameters), also_accepts)
    return Setting[Hook](
        validator=hook_validator(default.__name__, spec),
        default=default,
        hook=spec,
        implemented=implemented,
        default_doc=f"def {default.__name__}{spec.signature}",
        doc=doc,
    )
