"""``command``: run any external program (an official repository's script) per sample or per batch.

``--model command --model-arg template=NAME|PATH [--model-arg repo=DIR python=EXE timeout=S var.X=V]``

A template (YAML, schema in docs/baselines.md) says which inputs to write into the sample's folder
(reference image, skeleton video or frames drawn in a given convention, ``pose.json``, the Animate-X
pose pickle, the driving video, the prompt), which config files to render, which command to run (in
the other model's own environment: ``{python}``, inside its checkout: ``{repo}``), and where the
program writes its video. Each sample gets its own folder (``Job.workdir``, or a temporary one),
where the program's stdout and stderr are kept (``stdout.txt``, ``stderr.txt``, ``command.txt``).

Safety: commands run without a shell. A list command is used as argv with each item rendered
separately; a string command is split with :func:`shlex.split` *before* substitution. Either way a
placeholder's value is one argv item (or part of one), whatever it holds: a prompt containing
``; rm -rf /`` is just text. A timeout kills the command's whole process group.

The adapter itself needs no GPU (``needs_gpu = False``); the programs it runs usually do, and must
find one themselves (``CUDA_VISIBLE_DEVICES`` in the template's ``env``, or the caller's
environment).
"""

from __future__ import annotations

import contextlib
import difflib
import glob
import hashlib
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import yaml
from PIL import Image

from a2bench.models import Adapter, AdapterError, Argument, Job, Output, register
from a2bench.pose import PoseSequence
from a2bench.pose.convert import dump_animatex_pickle
from a2bench.pose.keypoints import BODY, missing_mask
from a2bench.pose.render import render_poses
from a2bench.videoio import Video, VideoError, read_video, write_video

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUN_PATCHED = "a2bench_run_patched.py"  # the helper {run_patched} points to, written on demand
_STDERR_TAIL_LINES = 20
_KILL_GRACE_S = 3.0  # SIGTERM first; SIGKILL for whatever is left after this

# ------------------------------------------------------------------------------------------------
# Placeholders

# What a sample's inputs are called; each is also a placeholder holding the file's absolute path.
INPUTS: dict[str, dict[str, Any]] = {
    "reference": {"path": "reference.png"},
    "pose_video": {"path": "pose.mp4", "convention": "animatex", "face": False, "swap_rb": False},
    "pose_frames": {
        "dir": "pose_frames",
        "name": "%04d.png",
        "start": 0,
        "convention": "animatex",
        "face": False,
        "swap_rb": False,
        "reference_pose": None,
    },
    "pose_json": {"path": "pose.json"},
    "pose_pickle": {"path": "pose.pkl", "reference_pickle": None},
    "prompt_file": {"path": "prompt.txt"},
    "driving_video": {"path": "driving.mp4"},
    "driving_frames": {"dir": "driving_frames", "name": "%04d.png", "start": 0},
}
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
FILTERS = {"json"}  # {name|json}: the value as a JSON string literal (also valid YAML and Python)

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([A-Za-z_]+))?\}|[{}]")
_GLOB_CHARS = re.compile(r"[*?\[]")


class TemplateError(AdapterError):
    """A template that cannot be loaded or rendered; the message names the template and the spot."""


class CommandError(RuntimeError):
    """The external program failed, timed out, or wrote no readable video."""


@dataclass(frozen=True)
class _Unavailable:
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


def render(text: str, values: Mapping[str, str | _Unavailable], where: str = "text") -> str:
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
        if isinstance(value, _Unavailable):
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
}
_OUTPUT_KEYS = {"path", "panel", "keep_first", "resize"}
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
    )
    known = builtin | defaults.keys()
    used: set[str] = set()
    for text, where in template.strings():
        for placeholder, kind in placeholders(text, f"{label}: {where}"):
            if placeholder not in known:
                close = difflib.get_close_matches(placeholder, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                raise TemplateError(
                    f"{label}: unknown placeholder {{{placeholder}}} in {where}{hint}; a template can use the "
                    f"built-ins (docs/baselines.md) and the names under its defaults: ({', '.join(defaults) or 'none'})"
                )
            if kind is not None and kind not in FILTERS:
                raise TemplateError(f"{label}: unknown filter |{kind} in {where} (filters: {', '.join(FILTERS)})")
            used.add(placeholder)
    for value in template.generates.values():
        for placeholder, _ in placeholders(str(value), f"{label}: generates"):
            if placeholder not in defaults:
                raise TemplateError(f"{label}: generates may only use the template's defaults, not {{{placeholder}}}")
    inputs = _inputs(doc.get("inputs"), used, label)
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


def _inputs(value: Any, used: set[str], label: str) -> dict[str, dict[str, Any]]:
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


# ------------------------------------------------------------------------------------------------
# The adapter


@register
class Command(Adapter):
    name = "command"
    version = "1"
    description = (
        "Runs an external program (an official repo's inference script) from a YAML template, per sample or "
        "per batch; the program usually needs its own environment and a GPU."
    )
    needs_gpu = False  # the adapter does not; the programs it runs usually do (see the template's note)
    arguments: ClassVar[dict[str, Argument]] = {
        "template": Argument(str, "YAML template: a file, or a shipped name (baselines/templates/)", required=True),
        "python": Argument(str, "interpreter of the model's own environment, substituted as {python}", "python"),
        "repo": Argument(str, "checkout of the official repository, substituted as {repo} (default cwd)", ""),
        "timeout": Argument(float, "seconds per sample before the command's process group is killed", 3600.0),
    }
    VAR_PREFIX: ClassVar[str] = "var."

    def __init__(self, device: str = "cpu", **args: str) -> None:
        overrides = {k[len(self.VAR_PREFIX) :]: v for k, v in args.items() if k.startswith(self.VAR_PREFIX)}
        plain = {k: v for k, v in args.items() if not k.startswith(self.VAR_PREFIX)}
        super().__init__(device, **plain)
        self.template = load_template(self.args["template"])
        unknown = sorted(set(overrides) - set(self.template.defaults))
        if unknown:
            names = ", ".join(f"var.{k}" for k in self.template.defaults) or "none"
            raise AdapterError(
                f"template {self.template.name!r} has no variable {', '.join(unknown)} (its variables: {names})"
            )
        self.vars = {**self.template.defaults, **overrides}
        if self.args["timeout"] <= 0:
            raise AdapterError(f"model 'command': timeout must be positive, got {self.args['timeout']}")
        repo = self.args["repo"]
        if repo:
            if not Path(repo).expanduser().is_dir():
                raise AdapterError(f"model 'command': repo={repo!r} is not a folder")
            self.repo: str | None = str(Path(repo).expanduser().resolve())
        else:
            self.repo = None
            if "repo" in self.template.used:
                upstream = self.template.doc.get("upstream") or {}
                where = upstream.get("repo", "the official repository") if isinstance(upstream, dict) else upstream
                raise AdapterError(
                    f"template {self.template.name!r} runs inside a checkout of {where}: "
                    "pass --model-arg repo=/path/to/checkout"
                )
        python = self.args["python"]
        if os.sep in python:  # a path: make it absolute, since the command runs in another folder
            resolved = Path(python).expanduser().absolute()
            if not resolved.is_file():
                raise AdapterError(f"model 'command': python={python!r} is not a file")
            self.args["python"] = str(resolved)
        self.batch_size = self.template.batch_size
        self.output = self._declared_output()

    def preview(self, job: Job, folder: Path | None = None) -> dict[str, Any]:
        """What the template renders to for ``job`` (commands, files, cwd, env, output pattern), for a
        sample folder ``folder``, without writing or running anything (per-sample values as in per: sample).
        """
        folder = Path(folder or job.workdir or "/tmp/a2bench-preview").resolve()
        values = self._sample_values(job, folder)
        values.update(self._batch_values(folder, 1))
        where = f"template {self.template.name!r}"
        files = {}
        for i, spec in enumerate(self.template.files):
            text = spec.content if spec.each is None else spec.head + spec.each + spec.tail
            path = render(spec.path, values, f"{where}: files[{i}].path")
            files[path] = render(text or "", values, f"{where}: files[{i}]")
        commands = [
            [render(item, values, f"{where}: command {i + 1}") for item in argv]
            for i, argv in enumerate(self.template.commands)
        ]
        keep_first = self.template.keep_first
        return {
            "commands": commands,
            "files": files,
            "cwd": render(self.template.cwd, values, f"{where}: cwd") if self.template.cwd else self.repo,
            "env": {k: render(v, values, f"{where}: env.{k}") for k, v in self.template.env.items()},
            "output": render(self.template.output_path, values, f"{where}: output.path"),
            "keep_first": None if keep_first is None else render(keep_first, values, f"{where}: output.keep_first"),
        }

    # -- identity and declared output ------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        base = super().identity()
        base["args"].pop("timeout", None)  # how long we wait does not change the video
        return {
            **base,
            "template": {"name": self.template.name, "sha256": self.template.sha256},
            "vars": dict(sorted(self.vars.items())),
            "repo_commit": _git_commit(self.repo) if self.repo else None,
        }

    def _declared_output(self) -> Output:
        spec = self.template.generates
        where = f"template {self.template.name!r}: generates"

        def value(key: str) -> str | None:
            raw = spec.get(key)
            return None if raw is None else render(str(raw), self.vars, f"{where}.{key}")

        frames, fps = value("frames"), value("fps")
        size = spec.get("size")
        try:
            return Output(
                size=None if size is None or self.template.resize else (int(size[0]), int(size[1])),
                num_frames=None if frames is None else int(frames),
                fps=None if fps is None else Fraction(fps),
            )
        except (ValueError, ZeroDivisionError) as exc:
            raise TemplateError(f"{where}: frames must be an integer and fps a number ({exc})") from exc

    # -- generation ----------------------------------------------------------------------------------

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        if not jobs:
            return []
        if self.template.per == "sample":
            return [self._run_batch([job])[0] for job in jobs]
        return self._run_batch(list(jobs))

    def _run_batch(self, jobs: list[Job]) -> list[Video]:
        folders, temporary = [], []
        for job in jobs:
            if job.workdir is not None:
                folder = Path(job.workdir).resolve()
                folder.mkdir(parents=True, exist_ok=True)
            else:
                folder = Path(tempfile.mkdtemp(prefix=f"a2bench-command-{job.sample.id}-"))
                temporary.append(folder)
            folders.append(folder)
        if self.template.per == "sample":
            batch_dir = folders[0]
        elif jobs[0].workdir is not None:
            batch_dir = folders[0] / "batch"
            batch_dir.mkdir(exist_ok=True)
        else:
            batch_dir = Path(tempfile.mkdtemp(prefix="a2bench-command-batch-"))
            temporary.append(batch_dir)
        label = self._label(jobs)
        samples = [self._sample_values(job, folder) for job, folder in zip(jobs, folders, strict=True)]
        common = self._batch_values(batch_dir, len(jobs))
        for values in samples:
            values.update(common)
        batch = dict(common)
        for key in SAMPLE_PLACEHOLDERS:
            seen = {values[key] for values in samples}
            batch[key] = (
                seen.pop()
                if len(seen) == 1
                else _Unavailable("it differs between the samples of a per: batch template; use it in files: each:")
            )
        where = f"template {self.template.name!r}"
        try:
            for job, folder, values in zip(jobs, folders, samples, strict=True):
                out_dir = Path(values["output_dir"])
                if out_dir.exists():
                    shutil.rmtree(out_dir)
                out_dir.mkdir(parents=True)
                self._write_inputs(job, folder)
            if "run_patched" in self.template.used:
                (batch_dir / RUN_PATCHED).write_text(_RUN_PATCHED_SOURCE, encoding="utf-8")
            if self.template.per == "batch":
                (batch_dir / "batch.json").write_text(
                    json.dumps([{k: v for k, v in s.items() if isinstance(v, str)} for s in samples], indent=1),
                    encoding="utf-8",
                )
            self._write_files(batch, samples, where)
            commands = [
                [render(item, batch, f"{where}: command {i + 1}") for item in argv]
                for i, argv in enumerate(self.template.commands)
            ]
            cwd = render(self.template.cwd, batch, f"{where}: cwd") if self.template.cwd else (self.repo or batch_dir)
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            env.update({k: render(v, batch, f"{where}: env.{k}") for k, v in self.template.env.items()})
            patterns = [render(self.template.output_path, values, f"{where}: output.path") for values in samples]
            before = [_snapshot(pattern) for pattern in patterns]
        except TemplateError:
            raise
        except (OSError, VideoError, ValueError) as exc:
            raise CommandError(
                f"{label}: preparing the inputs of template {self.template.name!r} failed: {exc}"
            ) from exc
        try:
            logs = self._execute(commands, Path(cwd), env, self.args["timeout"] * len(jobs), batch_dir, label)
        finally:
            if self.template.per == "batch":  # every sample's folder keeps the batch's logs, failed or not
                for folder in folders:
                    for name in ("stdout.txt", "stderr.txt", "command.txt"):
                        if (batch_dir / name).exists():
                            shutil.copyfile(batch_dir / name, folder / name)
        videos = [
            self._collect(job, values, pattern, seen, logs)
            for job, values, pattern, seen in zip(jobs, samples, patterns, before, strict=True)
        ]
        for folder in temporary:
            shutil.rmtree(folder, ignore_errors=True)
        return videos

    def _label(self, jobs: Sequence[Job]) -> str:
        ids = ", ".join(job.sample.id for job in jobs)
        return f"sample{'s' if len(jobs) > 1 else ''} {ids} (command template {self.template.name!r})"

    def _batch_values(self, batch_dir: Path, size: int) -> dict[str, str | _Unavailable]:
        values: dict[str, str | _Unavailable] = dict(self.vars)
        values.update(
            python=self.args["python"],
            repo=self.repo if self.repo else _Unavailable("no --model-arg repo=... was given"),
            batch_dir=str(batch_dir),
            batch_json=str(batch_dir / "batch.json")
            if self.template.per == "batch"
            else _Unavailable("only per: batch templates get a batch.json"),
            batch_size=str(size),
            run_patched=str(batch_dir / RUN_PATCHED),
        )
        return values

    def _sample_values(self, job: Job, folder: Path) -> dict[str, Any]:
        width, height = job.size
        values: dict[str, Any] = {
            "prompt": job.prompt(),
            "output": str(folder / "output.mp4"),
            "output_dir": str(folder / "out"),
            "frames": str(job.num_frames),
            "width": str(width),
            "height": str(height),
            "fps": str(Fraction(job.fps)),
            "seed": str(job.seed),
            "sample_id": job.sample.id,
            "protocol": job.task.protocol,
            "driver_id": job.task.driver_id,
            "workdir": str(folder),
        }
        for kind, default in INPUTS.items():
            options = self.template.inputs.get(kind, default)
            values[kind] = (
                str(folder / (options.get("path") or options["dir"]))
                if kind in self.template.inputs
                else _Unavailable(f"input {kind} is not prepared")
            )
        return values

    # -- inputs and files ------------------------------------------------------------------------------

    def _write_inputs(self, job: Job, folder: Path) -> None:
        for kind, options in self.template.inputs.items():
            _WRITERS[kind](job, folder, options)

    def _write_files(self, batch: Mapping[str, Any], samples: list[dict[str, Any]], where: str) -> None:
        written: set[Path] = set()
        for i, spec in enumerate(self.template.files):
            at = f"{where}: files[{i}]"
            if spec.each is not None:
                text = render(spec.head, batch, f"{at}.head")
                text += "".join(render(spec.each, values, f"{at}.each") for values in samples)
                text += render(spec.tail, batch, f"{at}.tail")
                targets = [(Path(render(spec.path, batch, f"{at}.path")), text)]
            else:
                targets = [
                    (Path(render(spec.path, values, f"{at}.path")), render(spec.content or "", values, f"{at}.content"))
                    for values in samples
                ]
            for path, text in targets:
                if not path.is_absolute():
                    raise TemplateError(
                        f"{at}.path: {path} is not absolute; start it with {{workdir}} or {{batch_dir}}"
                    )
                if path in written:
                    raise TemplateError(f"{at}.path: {path} is written twice; put {{workdir}} in the path")
                written.add(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")

    # -- running -----------------------------------------------------------------------------------------

    def _execute(
        self, commands: list[list[str]], cwd: Path, env: dict[str, str], timeout: float, log_dir: Path, label: str
    ) -> tuple[Path, Path, Path]:
        """Run the commands in order; raise :class:`CommandError` on a non-zero exit or the timeout."""
        stdout, stderr, record = log_dir / "stdout.txt", log_dir / "stderr.txt", log_dir / "command.txt"
        lines = [f"cwd: {cwd}", *(f"env: {k}={v}" for k, v in self.template.env.items())]
        lines += [f"$ {shlex.join(argv)}" for argv in commands]
        record.write_text("\n".join(lines) + "\n", encoding="utf-8")
        logs = (stdout, stderr, record)
        where = f"logs: {stdout} and {stderr}"
        failure = None
        deadline = time.monotonic() + timeout
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            for i, argv in enumerate(commands):
                step = f" (command {i + 1} of {len(commands)}: {argv[0]})" if len(commands) > 1 else ""
                try:
                    process = subprocess.Popen(
                        argv,
                        cwd=cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,  # its own process group: a timeout kills it and its children
                    )
                except OSError as exc:
                    raise CommandError(
                        f"{label}: cannot start {argv[0]!r} in {cwd}{step}: {exc}. Check --model-arg python=... and "
                        f"repo=...; {where}"
                    ) from exc
                try:
                    code = process.wait(timeout=max(deadline - time.monotonic(), 0.001))
                except subprocess.TimeoutExpired:
                    _kill_group(process)
                    failure = f"timed out after {timeout:g} s{step}; it was killed with its whole process group"
                    break
                except BaseException:
                    _kill_group(process)
                    raise
                _kill_group(process)  # whatever it left running in the background
                if code != 0:
                    failure = f"exited with code {code}{step}"
                    break
        if failure is not None:
            raise CommandError(f"{label}: {failure}; {where}; last lines of stderr:\n{_tail(stderr)}")
        return logs

    def _collect(
        self, job: Job, values: Mapping[str, Any], pattern: str, before: dict[str, Any], logs: Sequence[Path]
    ) -> Video:
        label = self._label([job])
        where = f"logs: {logs[0]} and {logs[1]}"
        now = _snapshot(pattern)
        fresh = sorted(path for path, stamp in now.items() if before.get(path) != stamp)
        if not fresh:
            stale = f" ({len(now)} older match(es) were there before the run)" if now else ""
            raise CommandError(
                f"{label}: the command succeeded but wrote no output matching {pattern}{stale}; {where}; "
                f"last lines of stderr:\n{_tail(logs[1])}"
            )
        if len(fresh) > 1:
            raise CommandError(
                f"{label}: several outputs match {pattern}: {', '.join(fresh)}; make output.path specific to the sample"
            )
        try:
            video = read_video(fresh[0], fps=Fraction(job.fps))
        except VideoError as exc:
            raise CommandError(f"{label}: the output cannot be read as a video: {exc}; {where}") from exc
        frames = video.frames
        at = f"template {self.template.name!r}: output"
        if self.template.panel is not None:
            frames = _crop_panel(frames, self.template.panel, f"{label}: {fresh[0]}")
        if self.template.keep_first is not None:
            text = render(self.template.keep_first, values, f"{at}.keep_first")
            try:
                frames = frames[: int(text)]
            except ValueError as exc:
                raise TemplateError(f"{at}.keep_first: {text!r} is not an integer") from exc
        if self.template.resize and (frames.shape[2], frames.shape[1]) != tuple(job.size):
            frames = np.stack(
                [np.asarray(Image.fromarray(f).resize(job.size, Image.Resampling.BICUBIC)) for f in frames]
            )
        return Video(np.ascontiguousarray(frames), video.fps)


# ------------------------------------------------------------------------------------------------
# Input writers


def _write_reference(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    image = Image.fromarray(job.reference())
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=95)
    else:
        image.save(path)


def _pose_images(job: Job, options: dict[str, Any], pose: PoseSequence | None = None) -> np.ndarray:
    frames = render_poses(pose or job.pose, job.size, convention=options["convention"], face=bool(options["face"]))
    # swap_rb: some reference pipelines save their RGB canvas as if it were BGR (cv2.imwrite, or a
    # cvtColor(BGR2RGB) before an RGB writer), so the model was trained on pose images with red and blue
    # exchanged; reproduce that.
    return frames[..., ::-1] if options["swap_rb"] else frames


def _write_pose_video(job: Job, folder: Path, options: dict[str, Any]) -> None:
    write_video(_target(folder, options["path"]), _pose_images(job, options), job.fps)


def _write_frames(folder: Path, options: dict[str, Any], frames: np.ndarray) -> Path:
    """Frames (RGB as the file should hold them) as numbered images, written by OpenCV."""
    directory = _target(folder, options["dir"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for index, frame in enumerate(frames):
        path = directory / (options["name"] % (index + int(options["start"])))
        if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1])):
            raise OSError(f"{path}: OpenCV could not write the image")
    return directory


def _write_pose_frames(job: Job, folder: Path, options: dict[str, Any]) -> None:
    directory = _write_frames(folder, options, _pose_images(job, options))
    if options["reference_pose"]:
        pose = job.pose
        reference = pose.reference if pose.reference is not None else pose.frames[0]
        single = PoseSequence(reference[None], pose.size, pose.fps)
        image = _pose_images(job, options, single)[0]
        path = directory / str(options["reference_pose"])
        if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"{path}: OpenCV could not write the image")


def _write_pose_json(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _target(folder, options["path"]).write_text(json.dumps(job.pose.to_json()), encoding="utf-8")


def _write_pose_pickle(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    path.write_bytes(dump_animatex_pickle(job.pose))
    extra = options.get("reference_pickle")
    if extra:
        target = path.with_name(f"{path.stem}_ref_pose.pkl") if extra is True else _target(folder, str(extra))
        target.write_bytes(_reference_pickle(job.pose))


def _reference_pickle(pose: PoseSequence) -> bytes:
    """The reference image's body as DWPose's detector returns it: ``{"bodies": {"candidate", "subset"}}``.

    Animate-X v1 reads ``<pkl stem>_ref_pose.pkl`` → ``["bodies"]["candidate"][:18]`` (normalised x, y;
    missing = -1) when it exists; nothing in its release writes that file, so the layout beyond that key
    is our reading of DWPose's output.
    """
    reference = pose.reference if pose.reference is not None else pose.frames[0]
    body = reference[BODY]
    missing = missing_mask(body)
    candidate = np.where(missing[:, None], -1.0, body[:, :2]).astype(np.float32)
    subset = np.where(missing, -1.0, np.arange(18, dtype=np.float64))[None]
    return pickle.dumps({"bodies": {"candidate": candidate, "subset": subset}}, protocol=4)


def _write_prompt_file(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _target(folder, options["path"]).write_text(job.prompt() + "\n", encoding="utf-8")


def _driver(job: Job):
    return job.sample.benchmark[job.task.driver_id]


def _write_driving_video(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    if path.suffix.lower() == ".mp4":
        path.write_bytes(_driver(job).read_bytes("video.mp4"))  # the benchmark's own file, byte for byte
    else:
        video = _driver(job).video()
        write_video(path, video.frames, video.fps)


def _write_driving_frames(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _write_frames(folder, options, _driver(job).video().frames)


def _target(folder: Path, relative: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


_WRITERS = {
    "reference": _write_reference,
    "pose_video": _write_pose_video,
    "pose_frames": _write_pose_frames,
    "pose_json": _write_pose_json,
    "pose_pickle": _write_pose_pickle,
    "prompt_file": _write_prompt_file,
    "driving_video": _write_driving_video,
    "driving_frames": _write_driving_frames,
}


# ------------------------------------------------------------------------------------------------
# Helpers


def _snapshot(pattern: str) -> dict[str, Any]:
    """Every path matching ``pattern`` with a stamp that changes when the file (or folder) is rewritten."""
    paths = glob.glob(pattern, recursive=True) if _GLOB_CHARS.search(pattern) else [pattern]
    out = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        stamp: Any = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if os.path.isdir(path):
            stamp = (stamp, tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(path))))
        out[path] = stamp
    return out


def _crop_panel(frames: np.ndarray, panel: Mapping[str, int], where: str) -> np.ndarray:
    """One panel of a side-by-side video: ``columns`` equal panels separated and framed by ``padding`` px."""
    columns, index, padding = panel["columns"], panel["index"], panel["padding"]
    total = frames.shape[2] - padding * (columns + 1)
    if total <= 0 or total % columns:
        raise CommandError(
            f"{where}: a {frames.shape[2]} px wide video does not split into {columns} panels with {padding} px padding"
        )
    width = total // columns
    left = padding + index * (width + padding)
    return frames[:, padding : frames.shape[1] - padding, left : left + width]


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL what is left after a grace period, and reap the process."""
    group = process.pid  # start_new_session=True: the group id is the leader's pid
    try:
        os.killpg(group, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        process.wait()
        return
    end = time.monotonic() + _KILL_GRACE_S
    while time.monotonic() < end:
        process.poll()
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    process.wait()


def _tail(path: Path, lines: int = _STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_bytes()[-8000:].decode("utf-8", errors="replace")
    except OSError:
        return "  (no stderr)"
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in kept) if kept else "  (stderr is empty)"


def _git_commit(repo: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# The {run_patched} helper: stdlib only, for Python 3.8+, because it runs in the model's environment.
_RUN_PATCHED_SOURCE = '''\
"""Run a Python script with some of its assignments replaced. Written by a2bench's command adapter.

usage: python a2bench_run_patched.py SCRIPT [NAME=PYTHON_LITERAL ...] [-- SCRIPT_ARGUMENTS ...]

Official inference scripts often hard-code their inputs (a test list, the frame size, the seed) as
plain assignments. Every statement "NAME = value" in SCRIPT (one plain name on the left, at any depth)
whose NAME is given gets the literal instead; a NAME the script never assigns is an error, so a
changed upstream script fails loudly. SCRIPT then runs as __main__, with sys.argv = [SCRIPT, *ARGS]
and its own folder first on sys.path, as "python SCRIPT ARGS" would run it.
"""
import ast
import os
import sys


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    script, rest = argv[0], argv[1:]
    if "--" in rest:
        cut = rest.index("--")
        pairs, arguments = rest[:cut], rest[cut + 1:]
    else:
        pairs, arguments = rest, []
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.isidentifier():
            sys.stderr.write("a2bench_run_patched: %r is not NAME=PYTHON_LITERAL\\n" % pair)
            return 2
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            sys.stderr.write("a2bench_run_patched: %s=%r is not a Python literal (%s)\\n" % (name, text, exc))
            return 2
        overrides[name] = text
    with open(script, "rb") as handle:
        tree = ast.parse(handle.read(), filename=script)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name) and target.id in overrides:
            node.value = ast.copy_location(ast.parse(overrides[target.id], mode="eval").body, node.value)
            found.add(target.id)
    missing = sorted(set(overrides) - found)
    if missing:
        sys.stderr.write("a2bench_run_patched: %s never assigns %s\\n" % (script, ", ".join(missing)))
        return 2
    code = compile(ast.fix_missing_locations(tree), script, "exec")
    sys.argv = [script] + arguments
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    namespace = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__}
    exec(code, namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''

__all__ = [
    "INPUTS",
    "Command",
    "CommandError",
    "Template",
    "TemplateError",
    "load_template",
    "placeholders",
    "render",
    "shipped_templates",
]
