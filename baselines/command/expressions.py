"""Small arithmetic expressions of the ``command`` templates: ``derive``, ``length`` and input sizes.

An expression is Python syntax over placeholders in braces, e.g. ``"min({tile_max}, {frames} + 1)"`` or
``"int({frames} / float({fps}) * float({fps}))"``. It is evaluated with Python's own operators, so a
template can repeat a release's arithmetic exactly, float rounding included: ``{frames}``, ``{width}``,
``{height}`` and ``{seed}`` are ints, ``{fps}`` is an exact :class:`~fractions.Fraction` (``float({fps})``
gives the float a release computes with), a template variable is an int, a float or else a string, and a
derived variable is whatever its expression gave. Allowed: numbers, strings, ``True``/``False``, ``+ - * /
// %``, comparisons, ``and or not``, ``a if c else b``, and the functions below. Nothing else (no
attributes, subscripts, ``**``, or other names): a template cannot run code through an expression.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from a2bench.core.adapter import AdapterError

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "round": round,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PREFIX = "_a2bench_"  # what a placeholder becomes inside the parsed tree


class ExpressionError(AdapterError):
    """An expression that cannot be parsed or evaluated; the message names the template and the spot."""


@dataclass(frozen=True)
class Expression:
    """A checked expression; :meth:`evaluate` runs it on the values of the names it uses."""

    text: str
    tree: ast.expr = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()

    def evaluate(self, values: Mapping[str, Any], where: str = "expression") -> Any:
        missing = sorted(self.names - values.keys())
        if missing:
            raise ExpressionError(f"{where}: {self.text!r} needs {', '.join(missing)}, which have no value here")
        try:
            return _evaluate(self.tree, values)
        except (ArithmeticError, TypeError, ValueError, OverflowError) as exc:
            shown = ", ".join(f"{name}={values[name]!r}" for name in sorted(self.names))
            raise ExpressionError(f"{where}: {self.text!r} failed with {shown or 'no names'}: {exc}") from exc


def compile_expression(source: str | int | float, known: set[str] | frozenset[str], where: str) -> Expression:
    """Parse and check ``source``; every placeholder must be in ``known`` (a :class:`ExpressionError` if not)."""
    if isinstance(source, bool) or not isinstance(source, (str, int, float)):
        raise ExpressionError(f"{where}: an expression is a string or a number, got {source!r}")
    text = str(source)
    names = set()

    def name(match: re.Match[str]) -> str:
        names.add(match.group(1))
        return _PREFIX + match.group(1)

    python = _PLACEHOLDER.sub(name, text)
    unknown = sorted(names - set(known))
    if unknown:
        raise ExpressionError(
            f"{where}: {text!r} uses {', '.join('{' + n + '}' for n in unknown)}; expressions may use "
            f"{', '.join('{' + n + '}' for n in sorted(known))}"
        )
    try:
        tree = ast.parse(python.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"{where}: {text!r} is not a valid expression ({exc.msg})") from exc
    _check(tree, text, where)
    return Expression(text, tree, frozenset(names))


def number(text: str) -> int | float | str:
    """A template variable's value in expressions: an int, else a float, else the string itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def show(value: Any) -> str:
    """An expression's value as placeholder text: ``3``, ``2.5``, ``30000/1001``, ``True``, or the string."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return str(value)


def _check(node: ast.AST, text: str, where: str) -> None:
    def bad(what: str) -> ExpressionError:
        return ExpressionError(
            f"{where}: {text!r}: {what} is not allowed; expressions use numbers, strings, placeholders in braces, "
            f"+ - * / // %, comparisons, and/or/not, 'a if c else b' and {', '.join(FUNCTIONS)}"
        )

    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str)):
            raise bad(repr(node.value))
    elif isinstance(node, ast.Name):
        if not node.id.startswith(_PREFIX):
            raise bad(f"the bare name {node.id!r} (write placeholders in braces, e.g. {{frames}})")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise bad(type(node.op).__name__)
        _check(node.left, text, where)
        _check(node.right, text, where)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise bad(type(node.op).__name__)
        _check(node.operand, text, where)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, where)
    elif isinstance(node, ast.Compare):
        if any(type(op) not in _COMPARE for op in node.ops):
            raise bad("this comparison")
        for value in [node.left, *node.comparators]:
            _check(value, text, where)
    elif isinstance(node, ast.IfExp):
        for value in (node.test, node.body, node.orelse):
            _check(value, text, where)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise bad(f"the call {ast.unparse(node.func)}(...)")
        for value in node.args:
            if isinstance(value, ast.Starred):
                raise bad("*arguments")
            _check(value, text, where)
    else:
        raise bad(type(node).__name__)


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id[len(_PREFIX) :]]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _evaluate(value, values)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _evaluate(value, values)
            if result:
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _evaluate(node.body if _evaluate(node.test, values) else node.orelse, values)
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_evaluate(arg, values) for arg in node.args))  # type: ignore[attr-defined]
    raise TypeError(f"unexpected {type(node).__name__}")  # _check lets nothing else through
