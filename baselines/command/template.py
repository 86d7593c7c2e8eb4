"""Templates of the ``command`` adapter: placeholders, rendering, and loading and checking the YAML.

The schema is in docs/baselines.md; the shipped templates live in ``baselines/templates/``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from a2bench.baselines.command.expressions import Expression, ExpressionError, compile_expression
from a2bench.baselines.command.inputs import INPUTS
from a2bench.core.adapter import AdapterError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RUN_PATCHED = "a2bench_run_patched.py"  # the helper {run_patched} points to, written on demand

# ------------------------------------------------------------------------------------------------
# Placeholders

SAMPLE_PLACEHOLDERS: dict[str, str] = {
    **{name: "absolute path of this input (written before the command runs)" for name in INPUTS},
    "prompt": "the sample's prompt text",
    "output": "<workdir>/output.mp4: where a program that takes an output path should write",
    "output_dir": "<workdir>/out: an empty folder for programs that take an output folder",
    "frames": "number of driving pose frames",
    "width": "benchmark frame width",
    "height": "benchmark frame height",
    "fps": "benchmark frame rate ('15' or '30000/1001')",
    "seed": "the sample's seed",
    "sample_id": "sample id",
    "protocol": "'self' or 'cross'",
    "driver_id": "id of the sample whose motion drives (the sample itself for 'self')",
    "workdir": "the sample's folder (absolute)",
}
BATCH_PLACEHOLDERS: dict[str, str] = {
    "python": "interpreter of the model's environment (--model-arg python=...)",
    "repo": "the official repository's checkout (--model-arg repo=...)",
    "batch_dir": "folder of the batch (the sample's folder when per: sample)",
    "batch_json": "JSON file: a list with every sample's placeholder values (per: batch)",
    "batch_size": "number of samples in the batch",
    "run_patched": f"path of {RUN_PATCHED}: runs a script with some of its assignments replaced",
}
# The task's numbers that expressions (derive, length, input sizes) may use besides the template's variables.
TASK_NUMBERS: dict[str, str] = {
    "frames": "the task's frame count N (int)",
    "width": "benchmark frame width (int)",
    "height": "benchmark frame height (int)",
    "fps": "benchmark frame rate (an exact Fraction; float({fps}) is the float a release computes with)",
    "seed": "the sample's seed (int)",
}
FILTERS = {"json"}  # {name|json}: the value as a JSON string literal (also valid YAML and Python)

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([A-Za-z_]+))?\}|[{}]")


class TemplateError(AdapterError):
    """A template that cannot be loaded or rendered; the message names the template and the spot."""


@dataclass(frozen=True)
class Unavailable:
    """A placeholder with no value where it is rendered; rendering it is a :class:`TemplateError` giving ``reason``."""

    reason: str


def placeholders(text: str, where: str = "text") -> list[tuple[str, str | None]]:
    """``(name, filter)`` of every placeholder in ``text``; a stray brace is a :class:`TemplateError`."""
    found = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(
                f"{where}: stray {token!r} at character {match.start()} of {text!r}; placeholders are "
                "{name} or {name|json}, and a literal brace is written {{ or }}"
            )
        found.append((match.group(1), match.group(2)))
    return found


def render(text: str, values: Mapping[str, str | Unavailable], where: str = "text") -> str:
    """``text`` with every ``{name}`` / ``{name|json}`` replaced; ``{{``/``}}`` are literal braces."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name, kind = match.group(1), match.group(2)
        if name is None:
            raise TemplateError(f"{where}: stray {token!r} at character {match.start()}; write {{{{ or }}}}")
        if name not in values:
            known = ", ".join(sorted(values))
            raise TemplateError(f"{where}: unknown placeholder {{{name}}} (known: {known})")
        value = values[name]
        if isinstance(value, Unavailable):
            raise TemplateError(f"{where}: {{{name}}} is not available here: {value.reason}")
        if kind is None:
            return value
        if kind == "json":
            return json.dumps(value, ensure_ascii=False)
        raise TemplateError(f"{where}: unknown filter |{kind} in {{{name}|{kind}}} (filters: {', '.join(FILTERS)})")

    return _TOKEN.sub(substitute, text)


# ------------------------------------------------------------------------------------------------
# Templates

_TOP_KEYS = {
    "name",
    "description",
    "upstream",
    "runnable_here",
    "note",
    "facts",
    "per",
    "batch_size",
    "defaults",
    "inputs",
    "files",
    "command",
    "commands",
    "cwd",
    "env",
    "output",
    "generates",
    "derive",
    "length",
}
_OUTPUT_KEYS = {"path", "panel", "drop_first", "keep_first", "resize"}
_LENGTH_KEYS = {"rule", "min", "max", "refuse", "writes"}
_REFUSE_KEYS = {"if", "because"}
_SIZE_OPTIONS = ("draw_size", "save_size")  # pose inputs: [width, height] expressions
_PANEL_KEYS = {"columns", "index", "padding"}
_FILE_KEYS = {"path", "content", "head", "each", "tail"}
_GENERATES_KEYS = {"frames", "size", "fps"}


@dataclass(frozen=True)
class FileSpec:
    path: str
    content: str | None  # rendered per sample
    head: str = ""  # with ``each``: head + each (per sample, joined) + tail, rendered once per batch
    each: str | None = None
    tail: str = ""


@dataclass(frozen=True)
class LengthRule:
    """How a task's frame count meets the release: refusals checked before anything runs, and the count
    the program writes (checked after ``output.panel``)."""

    rule: str  # one line of plain text, quoted in every message about lengths
    min: Expression | None
    max: Expression | None
    refuse: tuple[tuple[Expression, str], ...]  # (condition, reason rendered with the sample's values)
    writes: Expression | None


@dataclass(frozen=True)
class Template:
    """A loaded, checked template; ``doc`` is the YAML as read."""

    name: str
    path: Path
    sha256: str
    doc: dict[str, Any]
    per: str
    batch_size: int
    defaults: dict[str, str]
    inputs: dict[str, dict[str, Any]]  # every input to write, with its options filled in
    files: tuple[FileSpec, ...]
    commands: tuple[tuple[str, ...], ...]  # argv templates, run in order
    cwd: str | None
    env: dict[str, str]
    output_path: str
    panel: dict[str, int] | None
    keep_first: str | None
    resize: bool
    generates: dict[str, Any]
    used: frozenset[str]  # every placeholder name the template uses
    derive: tuple[tuple[str, Expression], ...] = ()  # per-sample variables, evaluated in order
    length: LengthRule | None = None
    drop_first: Expression | None = None

    def strings(self) -> list[tuple[str, str]]:
        """Every string that gets rendered, with where it is (for error messages)."""
        out = []
        for i, argv in enumerate(self.commands):
            out += [(item, f"command {i + 1} item {j + 1}") for j, item in enumerate(argv)]
        for i, spec in enumerate(self.files):
            out.append((spec.path, f"files[{i}].path"))
            for key in ("content", "head", "each", "tail"):
                if getattr(spec, key):
                    out.append((getattr(spec, key), f"files[{i}].{key}"))
        if self.cwd is not None:
            out.append((self.cwd, "cwd"))
        out += [(value, f"env.{key}") for key, value in self.env.items()]
        out.append((self.output_path, "output.path"))
        if self.keep_first is not None:
            out.append((self.keep_first, "output.keep_first"))
        if self.length is not None:
            out += [(because, f"length.refuse[{i}].because") for i, (_, because) in enumerate(self.length.refuse)]
        return out


def shipped_templates() -> list[str]:
    """Names of the templates in ``baselines/templates/``."""
    return sorted(p.stem for p in TEMPLATES.glob("*.yaml"))


def template_file(spec: str) -> Path:
    """A template's file: ``spec`` is a path to a YAML file or the name of a shipped template."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    shipped = TEMPLATES / f"{spec}.yaml"
    if "/" not in spec and shipped.is_file():
        return shipped
    names = shipped_templates()
    close = difflib.get_close_matches(spec, names, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise TemplateError(
        f"template {spec!r}: no such file, and no shipped template of that name.{hint} "
        f"Shipped: {', '.join(names) or 'none'}."
    )


def load_template(spec: str | os.PathLike) -> Template:
    """Read and check a template: structure, placeholders, inputs; errors name the template and spot."""
    path = template_file(str(spec))
    data = path.read_bytes()
    label = f"template {path.stem!r} ({path})"
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{label}: not valid UTF-8 YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise TemplateError(f"{label}: expected a mapping at the top, got {type(doc).__name__}")
    _unknown_keys(doc, _TOP_KEYS, label)
    name = str(doc.get("name") or path.stem)
    label = f"template {name!r} ({path})"

    per = doc.get("per", "sample")
    if per not in ("sample", "batch"):
        raise TemplateError(f"{label}: per must be 'sample' or 'batch', got {per!r}")
    batch_size = doc.get("batch_size", 1 if per == "sample" else 8)
    if not isinstance(batch_size, int) or batch_size < 1 or (per == "sample" and batch_size != 1):
        raise TemplateError(f"{label}: batch_size must be a positive integer (and 1 when per: sample)")

    defaults = _mapping(doc.get("defaults"), f"{label}: defaults")
    builtin = SAMPLE_PLACEHOLDERS.keys() | BATCH_PLACEHOLDERS.keys()
    for key in defaults:
        if not key.isidentifier() or key in builtin:
            raise TemplateError(f"{label}: defaults.{key}: variable names must be identifiers and not built-ins")
    defaults = {key: _scalar(value, f"{label}: defaults.{key}") for key, value in defaults.items()}
    numeric = set(TASK_NUMBERS) | defaults.keys()  # what expressions may use; derived names join in order
    derive = []
    for key, source in _mapping(doc.get("derive"), f"{label}: derive").items():
        if not key.isidentifier() or key in builtin or key in defaults:
            raise TemplateError(
                f"{label}: derive.{key}: derived names must be identifiers, not built-ins nor names under defaults"
            )
        derive.append((key, _expression(source, numeric, f"{label}: derive.{key}")))
        numeric.add(key)

    if "command" in doc and "commands" in doc:
        raise TemplateError(f"{label}: give either command or commands, not both")
    if "command" in doc:
        commands = (_argv(doc["command"], f"{label}: command"),)
    elif "commands" in doc and isinstance(doc["commands"], list) and doc["commands"]:
        commands = tuple(_argv(c, f"{label}: commands[{i}]") for i, c in enumerate(doc["commands"]))
    else:
        raise TemplateError(f"{label}: needs a command (a string or a list of argv items) or commands (a list)")

    files = []
    for i, entry in enumerate(doc.get("files") or []):
        where = f"{label}: files[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise TemplateError(f"{where}: each file needs a path and a content (or head/each/tail)")
        _unknown_keys(entry, _FILE_KEYS, where)
        if ("content" in entry) == ("each" in entry):
            raise TemplateError(f"{where}: give content (rendered per sample) or each (once per batch)")
        texts = {k: entry.get(k) for k in ("content", "head", "each", "tail")}
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise TemplateError(f"{where}.{key}: must be a string")
        files.append(FileSpec(entry["path"], texts["content"], texts["head"] or "", texts["each"], texts["tail"] or ""))

    output = doc.get("output", "{output}")
    if isinstance(output, str):
        output = {"path": output}
    if not isinstance(output, dict) or not isinstance(output.get("path", "{output}"), str):
        raise TemplateError(f"{label}: output must be a path pattern or a mapping with path")
    _unknown_keys(output, _OUTPUT_KEYS, f"{label}: output")
    panel = output.get("panel")
    if panel is not None:
        panel = _panel(panel, f"{label}: output.panel")
    keep_first = output.get("keep_first")
    drop_first = output.get("drop_first")

    env = _mapping(doc.get("env"), f"{label}: env")
    template = Template(
        name=name,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        doc=doc,
        per=per,
        batch_size=batch_size,
        defaults=defaults,
        inputs={},
        files=tuple(files),
        commands=commands,
        cwd=None if doc.get("cwd") is None else str(doc["cwd"]),
        env={str(k): _scalar(v, f"{label}: env.{k}") for k, v in env.items()},
        output_path=output.get("path", "{output}"),
        panel=panel,
        keep_first=None if keep_first is None else str(keep_first),
        resize=bool(output.get("resize", False)),
        generates=_generates(doc.get("generates"), f"{label}: generates"),
        used=frozenset(),
        derive=tuple(derive),
        length=_length(doc.get("length"), numeric, f"{label}: length"),
        drop_first=None if drop_first is None else _expression(drop_first, numeric, f"{label}: output.drop_first"),
    )
    known = builtin | defaults.keys() | {key for key, _ in derive}
    used: set[str] = set()
    for text, where in template.strings():
        for placeholder, kind in placeholders(text, f"{label}: {where}"):
            if placeholder not in known:
                close = difflib.get_close_matches(placeholder, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                raise TemplateError(
                    f"{label}: unknown placeholder {{{placeholder}}} in {where}{hint}; a template can use the "
                    f"built-ins (docs/baselines.md), the names under its defaults ({', '.join(defaults) or 'none'}) "
                    f"and under derive ({', '.join(k for k, _ in derive) or 'none'})"
                )
            if kind is not None and kind not in FILTERS:
                raise TemplateError(f"{label}: unknown filter |{kind} in {where} (filters: {', '.join(FILTERS)})")
            used.add(placeholder)
    for value in template.generates.values():
        for placeholder, _ in placeholders(str(value), f"{label}: generates"):
            if placeholder not in defaults:
                raise TemplateError(f"{label}: generates may only use the template's defaults, not {{{placeholder}}}")
    inputs = _inputs(doc.get("inputs"), used, label, numeric)
    return replace(template, inputs=inputs, used=frozenset(used))


def _unknown_keys(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in doc:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TemplateError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(allowed))}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{where}: must be a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"{where}: must be a string or number, got {type(value).__name__}")


def _argv(command: Any, where: str) -> tuple[str, ...]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)  # split the template, never a substituted value
        except ValueError as exc:
            raise TemplateError(f"{where}: cannot split {command!r} like a shell would ({exc})") from exc
    elif isinstance(command, list) and all(isinstance(x, (str, int, float)) for x in command):
        argv = [str(x) for x in command]
    else:
        raise TemplateError(f"{where}: a command is a string or a list of strings")
    if not argv:
        raise TemplateError(f"{where}: is empty")
    return tuple(argv)


def _expression(source: Any, known: set[str], where: str) -> Expression:
    try:
        return compile_expression(source, known, where)
    except ExpressionError as exc:
        raise TemplateError(str(exc)) from exc


def _length(value: Any, known: set[str], where: str) -> LengthRule | None:
    if value is None:
        return None
    spec = _mapping(value, where)
    _unknown_keys(spec, _LENGTH_KEYS, where)
    rule = spec.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise TemplateError(f"{where}.rule: one line saying how the task's frame count meets the release")
    refuse = []
    entries = spec.get("refuse") or []
    if not isinstance(entries, list):
        raise TemplateError(f"{where}.refuse: a list of {{if: EXPRESSION, because: TEXT}}")
    for i, entry in enumerate(entries):
        at = f"{where}.refuse[{i}]"
        entry = _mapping(entry, at)
        _unknown_keys(entry, _REFUSE_KEYS, at)
        if "if" not in entry or not isinstance(entry.get("because"), str):
            raise TemplateError(f"{at}: needs if (an expression) and because (text)")
        refuse.append((_expression(entry["if"], known, f"{at}.if"), entry["because"]))

    def optional(key: str) -> Expression | None:
        return None if spec.get(key) is None else _expression(spec[key], known, f"{where}.{key}")

    return LengthRule(" ".join(rule.split()), optional("min"), optional("max"), tuple(refuse), optional("writes"))


def _panel(panel: Any, where: str) -> dict[str, int]:
    if not isinstance(panel, dict):
        raise TemplateError(f"{where}: must be a mapping with columns, index and optionally padding")
    _unknown_keys(panel, _PANEL_KEYS, where)
    spec = {"columns": panel.get("columns"), "index": panel.get("index"), "padding": panel.get("padding", 0)}
    if not all(isinstance(v, int) and v >= 0 for v in spec.values()) or not 0 <= spec["index"] < spec["columns"]:
        raise TemplateError(f"{where}: columns > index >= 0 and padding >= 0 must be integers, got {panel}")
    return spec


def _generates(value: Any, where: str) -> dict[str, Any]:
    spec = _mapping(value, where)
    _unknown_keys(spec, _GENERATES_KEYS, where)
    size = spec.get("size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise TemplateError(f"{where}.size: must be [width, height] or null")
    return spec


def _inputs(value: Any, used: set[str], label: str, numeric: set[str]) -> dict[str, dict[str, Any]]:
    """Inputs to write: those declared under ``inputs`` plus those whose placeholder is used."""
    declared = _mapping(value, f"{label}: inputs")
    out = {}
    for kind, options in declared.items():
        if kind not in INPUTS:
            close = difflib.get_close_matches(kind, list(INPUTS), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TemplateError(f"{label}: inputs.{kind}: unknown input{hint}; inputs: {', '.join(INPUTS)}")
        options = _mapping(options, f"{label}: inputs.{kind}")
        _unknown_keys(options, set(INPUTS[kind]), f"{label}: inputs.{kind}")
        out[kind] = {**INPUTS[kind], **options}
    for kind in INPUTS:
        if kind in used and kind not in out:
            out[kind] = dict(INPUTS[kind])
    for kind, options in out.items():
        where = f"{label}: inputs.{kind}"
        for key in ("path", "dir", "reference_pose", "reference_pickle"):
            if options.get(key) not in (None, True):
                _relative(str(options[key]), f"{where}.{key}")
        if "name" in options:
            _frame_name(options["name"], f"{where}.name")
        if "convention" in options and options["convention"] not in ("animatex", "dwpose"):
            raise TemplateError(f"{where}.convention: 'animatex' or 'dwpose', got {options['convention']!r}")
        for key in _SIZE_OPTIONS:
            size = options.get(key)
            if size is None:
                continue
            if not isinstance(size, list) or len(size) != 2:
                raise TemplateError(f"{where}.{key}: [width, height], each a number or an expression; got {size!r}")
            options[key] = tuple(_expression(v, numeric, f"{where}.{key}[{i}]") for i, v in enumerate(size))
        if options.get("pad_to") is not None:
            options["pad_to"] = _expression(options["pad_to"], numeric, f"{where}.pad_to")
    return out


def _relative(path: str, where: str) -> None:
    parts = Path(path).parts
    if not parts or Path(path).is_absolute() or ".." in parts:
        raise TemplateError(f"{where}: {path!r} must be a relative path inside the sample's folder")


def _frame_name(pattern: Any, where: str) -> None:
    try:
        ok = isinstance(pattern, str) and "/" not in pattern and pattern % 0 != pattern % 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TemplateError(
            f"{where}: a file name with one printf integer field, e.g. 'frame_%04d.jpg'; got {pattern!r}"
        )
