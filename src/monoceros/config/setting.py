"""The `Setting` descriptor and the `Section` base class: how one setting is declared, once.

A setting is a typed class attribute of a `Section` subclass (`workers = Setting[int](...)`). Reading it on a
`Config` instance returns the current value with its declared type, so `cfg.workers` is an `int` for mypy.
Subclassing `Section` with a `title=` collects the section's settings in declaration order; the `Config` class
builds its `Registry` from the sections it inherits, so nothing is registered from outside at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

T = TypeVar("T")

Action = Literal["store", "append", "flag", "const", "optional"]
# A default computed when a configuration is built: returns (raw value, source label) or None to keep
# the static default. It gets the environment it should read instead of reading os.environ itself.
DefaultFactory = Callable[[Mapping[str, str]], "tuple[object, str] | None"]


@dataclass(frozen=True)
class HookSpec:
    """What a hook setting is called with: `params` names the positional arguments, in order."""

    params: tuple[str, ...]
    also_accepts: tuple[int, ...] = ()  # other arities adapted to the full call (post_request)

    @property
    def signature(self) -> str:
        return "(" + ", ".join(self.params) + ")"


class Setting(Generic[T]):
    """One setting: its name, CLI flags, validator, default, doc and whether Monoceros implements it."""

    def __init__(
        self,
        *,
        validator: Callable[[object], T],
        default: T,
        doc: str,
        cli: Sequence[str] = (),
        meta: str | None = None,
        action: Action = "store",
        const: object = None,
        default_doc: str | None = None,
        default_factory: DefaultFactory | None = None,
        hook: HookSpec | None = None,
        implemented: bool = False,
        name: str | None = None,
        none_ok: bool | None = None,
    ) -> None:
        self.validator = validator
        self.default = default
        self.doc = " ".join(doc.split())
        self.cli = tuple(cli)
        self.meta = meta
        self.action: Action = action
        self.const = const
        self.default_doc = default_doc
        self.default_factory = default_factory
        self.hook = hook
        self.implemented = implemented
        self._none_ok = none_ok
        self.name = name or ""
        self.section = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        if not self.name:
            self.name = attr

    @overload
    def __get__(self, obj: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object, owner: type) -> Setting[T] | T:
        if obj is None:
            return self
        values: dict[str, Any] = obj.__dict__["_values"]
        value: T = values[self.name]
        return value

    def __set__(self, obj: object, value: T) -> None:
        # Like Gunicorn: values change only through cfg.set(), which validates and records the source.
        raise AttributeError(f"use cfg.set({self.name!r}, value) to change a setting")

    @property
    def none_is_default(self) -> bool:
        """Whether ``None`` stands for the default: Gunicorn's validators take ``None`` for every setting but
        numbers, hooks and mappings (its result is unset or false there), and refuse it for those."""
        if self._none_ok is not None:
            return self._none_ok  # where Gunicorn's validator departs from the rule
        default = self.default
        number = isinstance(default, int) and not isinstance(default, bool)
        return self.hook is None and not number and not isinstance(default, dict) and not callable(default)

    @property
    def flag(self) -> str | None:
        """The long flag used in messages (`--workers`), or None for a config-file-only setting."""
        longs = [c for c in self.cli if c.startswith("--")]
        return longs[0] if longs else None

    @property
    def summary(self) -> str:
        """The first sentence of the doc, for `--help`."""
        first = self.doc.split(". ")[0]
        return first if first.endswith(".") else first + "."

    def __repr__(self) -> str:
        return f"<Setting {self.name}>"


class Section:
    """Base of the per-section classes; `class Workers(Section, title="Worker Processes")`."""

    title: ClassVar[str] = ""
    declared: ClassVar[tuple[Setting[Any], ...]] = ()

    def __init_subclass__(cls, title: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if title is None:  # a class combining sections (Config), not a section itself
            return
        cls.title = title
        cls.declared = tuple(v for v in vars(cls).values() if isinstance(v, Setting))
        for setting in cls.declared:
            setting.section = title


class Registry:
    """Every setting by name, in section order; built once from the section classes."""

    def __init__(self, sections: Sequence[type[Section]]) -> None:
        self.sections = tuple(sections)
        self._by_name: dict[str, Setting[Any]] = {}
        flags: set[str] = set()
        for section in self.sections:
            for setting in section.declared:
                if setting.name in self._by_name:
                    raise TypeError(f"setting {setting.name!r} declared twice")
                if flags & set(setting.cli):
                    raise TypeError(f"setting {setting.name!r} reuses a flag of another setting")
                flags.update(setting.cli)
                self._by_name[setting.name] = setting

    def __getitem__(self, name: str) -> Setting[Any]:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Setting[Any]]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)
