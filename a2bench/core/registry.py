"""Name → object registries (models, metrics, benchmarks, weight files), lazy like lm-evaluation-harness's.

**Entries.** An entry is an object or a ``"module:attr"`` string. A string is imported on the first
:meth:`Registry.get` of its name only: looking up one model imports that model's module and no other's, and
:meth:`Registry.names` and ``in`` import nothing. Built-ins are given as ``builtins={name: "module:attr"}``.
Third-party packages add entries under the registry's entry-point group (``a2bench.models``, ``a2bench.metrics``,
``a2bench.benchmarks``), read on first use and each loaded on its first ``get`` too; a built-in or registered
name wins over an entry point of the same name.

**One way to register:** ``REGISTRY.register(name, target)``, or ``@REGISTRY.register(name)`` on a class or
function; a name registered twice (to another target) is an error. Tests register for a ``with`` block only:
``with MODELS.temporary("my-model", MyModel): ...``.

**Checks, when an entry is registered as an object or first loaded:** it must be a ``base`` (``base=type[Adapter]``:
a subclass of ``Adapter``; ``base=WeightFile``: an instance), else :class:`RegistryError` names the entry, what it is
and what was expected. **Names are given once, in the registry:** a class without a ``name`` of its own gets its
registered name as its ``name`` attribute (so adapters and metrics do not repeat it, and a class keeps it);
an entry that does define ``name`` (a class in its body, an object such as a ``WeightFile``) must define the
registered one, else :class:`RegistryError`.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, get_args, get_origin, overload

T = TypeVar("T")
E = TypeVar("E")
_ABSENT = object()


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists close matches and what exists."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class RegistryError(ValueError):
    """A bad registration: a duplicate name, a malformed ``"module:attr"``, the wrong kind of object, a wrong name."""


class Registry(Generic[T]):
    """Named objects of one kind: registered objects, lazy ``"module:attr"`` entries and entry points."""

    def __init__(
        self,
        kind: str,
        base: Any = None,
        entry_point_group: str | None = None,
        builtins: Mapping[str, str] | None = None,
    ) -> None:
        """``kind`` names the objects in messages; ``base`` is what every entry must be (``type[C]`` for subclasses
        of ``C``, a class for its instances, None for anything); ``builtins`` maps names to ``"module:attr"``."""
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self._entries: dict[str, object] = {}  # the object, or the "module:attr" not imported yet
        self._plugins: dict[str, object] | None = None  # entry points (loaded on first get), read on first use
        for name, target in (builtins or {}).items():
            self.register(name, target)

    @overload
    def register(self, name: str) -> Callable[[E], E]: ...

    @overload
    def register(self, name: str, target: E) -> E: ...

    def register(self, name: str, target: Any = _ABSENT) -> Any:
        """Register ``target`` (an object or a ``"module:attr"`` string) as ``name`` and return it; without
        ``target``, a decorator that registers what it decorates. A name taken by another target is an error."""
        if target is _ABSENT:
            return lambda obj: self.register(name, obj)
        current = self._entries.get(name, _ABSENT)
        if current is not _ABSENT and current != target:
            raise RegistryError(f"{self.kind} {name!r} is registered twice: {current!r} and {target!r}")
        if isinstance(target, str):
            _split(target, f"{self.kind} {name!r}")
        else:
            self._check(name, target, "registered object")
        self._entries[name] = target
        return target

    @contextlib.contextmanager
    def temporary(self, name: str, target: Any) -> Iterator[Any]:
        """Register ``target`` as ``name`` for the ``with`` block only (tests), in place of any entry of that name;
        on exit the registry, and the ``name`` of a class that had none, are as they were."""
        saved = self._entries.pop(name, _ABSENT)
        unnamed = isinstance(target, type) and "name" not in vars(target)
        try:
            yield self.register(name, target)
        finally:
            if saved is _ABSENT:
                self._entries.pop(name, None)
            else:
                self._entries[name] = saved
            if unnamed and "name" in vars(target):
                del target.name

    def names(self) -> list[str]:
        """Every name, sorted; imports nothing."""
        return sorted({*self._entries, *self._entry_points()})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._entry_points()

    def get(self, name: str) -> T:
        """The object registered as ``name``, imported and checked on first use; an unknown name raises
        :class:`UnknownNameError` with suggestions."""
        store = self._entries if name in self._entries else self._entry_points()
        if name not in store:
            close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names()) or 'none'}.")
        target = store[name]
        if isinstance(target, str):
            target = self._check(name, _import(target, f"{self.kind} {name!r}"), repr(target))
        elif isinstance(target, EntryPoint):
            source = f"entry point {target.value!r} of group {target.group!r}"
            target = self._check(name, target.load(), source)
        store[name] = target
        return target  # type: ignore[return-value]

    def _entry_points(self) -> dict[str, object]:
        """The entry points of the group by name, read (not loaded) once; a registered entry of the same name wins."""
        if self._plugins is None:
            group = entry_points(group=self.entry_point_group) if self.entry_point_group else ()
            self._plugins = {point.name: point for point in group}
        return self._plugins

    def _check(self, name: str, obj: Any, source: str) -> Any:
        """``obj`` after the base-class and name checks (a class without a ``name`` of its own gets ``name``)."""
        what = f"{self.kind} {name!r} ({source})"
        if self.base is not None and not _conforms(obj, self.base):
            raise RegistryError(f"{what} is {obj!r}; expected {_expected(self.base)}")
        own = vars(obj).get("name", _ABSENT) if isinstance(obj, type) else getattr(obj, "name", name)
        if own is _ABSENT:
            obj.name = name
        elif own != name:
            raise RegistryError(f"{what} defines name {own!r}: an entry's name is the one it is registered as")
        return obj


def _split(target: str, what: str) -> tuple[str, str]:
    module, colon, attr = target.partition(":")
    if not (module and colon and attr) or ":" in attr:
        raise RegistryError(f"{what}: {target!r} is not a 'module:attr' reference")
    return module, attr


def _import(target: str, what: str) -> object:
    """The object a ``"module:attr"`` names (an error inside the module propagates as it is)."""
    module_name, attr = _split(target, what)
    module = importlib.import_module(module_name)
    if not hasattr(module, attr):
        raise RegistryError(f"{what}: module {module_name!r} has no attribute {attr!r} ({target!r})")
    return getattr(module, attr)


def _conforms(obj: object, base: Any) -> bool:
    if get_origin(base) is type:
        return isinstance(obj, type) and issubclass(obj, get_args(base)[0])
    return isinstance(obj, base)


def _expected(base: Any) -> str:
    if get_origin(base) is type:
        cls = get_args(base)[0]
        return f"a subclass of {cls.__module__}.{cls.__qualname__}"
    return f"an instance of {base.__module__}.{base.__qualname__}"
