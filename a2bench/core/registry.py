"""A small name → object registry with a decorator, entry points and "did you mean" errors.

Built-ins register with ``@REGISTRY.register("name")``; third-party packages expose objects under
an entry-point group (e.g. ``a2bench.benchmarks``) and are found without forking the suite.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists close matches and what exists."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Named objects of one kind (benchmarks, models, metrics)."""

    def __init__(self, kind: str, entry_point_group: str | None = None, builtins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtins = builtins  # modules whose import registers the built-in entries
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is an error."""

        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def get(self, name: str) -> T:
        """The object registered as ``name``, or :class:`UnknownNameError` with suggestions."""
        self._load_entry_points()
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._items)) or "none"
        raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known: {known}.")

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for module in self.builtins:
            importlib.import_module(module)
        if self.entry_point_group is None:
            return
        for point in entry_points(group=self.entry_point_group):
            if point.name not in self._items:
                self._items[point.name] = point.load()
