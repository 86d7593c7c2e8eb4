"""Key checks: every key of a checkpoint mapped, none missing, shapes equal; errors that list the keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from a2bench.core.weights import WeightsError

SHOWN = 12  # keys listed per kind in an error message; the rest is counted


class CheckpointKeyError(WeightsError):
    """A checkpoint's keys do not match what the loader maps or the model expects.

    ``missing``, ``unexpected`` and ``mismatched`` (``key: got vs expected`` lines) hold every key; the message
    lists the first :data:`SHOWN` of each with a count.
    """

    def __init__(
        self,
        what: str,
        *,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
        mismatched: Iterable[str] = (),
        hint: str = "",
    ) -> None:
        self.what = what
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.mismatched = sorted(mismatched)
        parts = [
            f"{label} {describe(keys)}"
            for label, keys in (
                ("missing", self.missing),
                ("unexpected", self.unexpected),
                ("wrong shape", self.mismatched),
            )
            if keys
        ]
        super().__init__(f"{what}: " + "; ".join(parts) + (f". {hint}" if hint else ""))


def describe(keys: Iterable[str], shown: int = SHOWN) -> str:
    """``N keys: a, b, … (+M more)``."""
    keys = list(keys)
    head = ", ".join(keys[:shown])
    more = f", … (+{len(keys) - shown} more)" if len(keys) > shown else ""
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''}: {head}{more}"


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a tensor, a ``torch.Size`` or a tuple of ints."""
    return tuple(getattr(value, "shape", value))


def check_state_dict(
    state: Mapping[str, Any],
    expected: Mapping[str, Any],
    what: str,
    *,
    optional: Iterable[str] = (),
    hint: str = "",
    shapes: bool = True,
) -> None:
    """Raise :class:`CheckpointKeyError` unless ``state`` has exactly ``expected``'s keys (and shapes).

    ``expected`` maps keys to tensors or shapes (any values when ``shapes=False``); keys in ``optional`` may be
    absent.
    """
    optional = set(optional)
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {list(shape_of(state[k]))} vs {list(shape_of(v))}"
        for k, v in expected.items()
        if shapes and k in state and shape_of(state[k]) != shape_of(v)
    ]
    if missing or unexpected or mismatched:
        raise CheckpointKeyError(what, missing=missing, unexpected=unexpected, mismatched=mismatched, hint=hint)
