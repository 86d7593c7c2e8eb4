"""``command``: run any external program (an official repository's script) per sample or per batch.

``--model command --model-arg template=NAME|PATH [--model-arg repo=DIR python=EXE timeout=S var.X=V]``

A template (YAML, schema in docs/baselines.md) says which inputs to write into the sample's folder
(reference image, skeleton video or frames drawn in a given convention, ``pose.json``, the Animate-X
pose pickle, the driving video, the prompt), which config files to render, which command to run (in
the other model's own environment: ``{python}``, inside its checkout: ``{repo}``), and where the
program writes its video. Each sample gets its own folder (``Job.workdir``, or a temporary one),
where the program's stdout and stderr are kept (``stdout.txt``, ``stderr.txt``, ``command.txt``).

Lengths: a template's ``length`` rule is checked for every sample before anything is written or run
(:meth:`Command.check`), so a task the release cannot generate fails with the template's rule and
costs no GPU time; the count the program writes is checked against the rule, and ``derive`` computes
per-sample variables (tile sizes, frame caps) from the task.

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
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2bench.baselines.command.expressions import Expression, ExpressionError, number, show
from a2bench.baselines.command.inputs import INPUTS, write_inputs
from a2bench.baselines.command.template import (
    RUN_PATCHED,
    SAMPLE_PLACEHOLDERS,
    TemplateError,
    Unavailable,
    load_template,
    render,
)
from a2bench.core.adapter import Adapter, AdapterError, Argument, Job, Output
from a2bench.core.frames import resize_frames
from a2bench.core.provenance import git_commit
from a2bench.core.videoio import Video, VideoError, read_video

_STDERR_TAIL_LINES = 20
_KILL_GRACE_S = 3.0  # SIGTERM first; SIGKILL for whatever is left after this
_GLOB_CHARS = re.compile(r"[*?\[]")
# The {run_patched} helper: run_patched.py beside this file, stdlib only and for Python 3.8+ because it runs
# in the model's environment. It is copied into the batch folder as RUN_PATCHED, never imported.
_RUN_PATCHED_SOURCE = Path(__file__).with_name("run_patched.py").read_text(encoding="utf-8")


class CommandError(RuntimeError):
    """The external program failed, timed out, or wrote no readable video."""


class RefusedError(CommandError):
    """The template's length rule refuses the task; raised before anything is written or run."""


class Command(Adapter):
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
        try:
            self.check(job)
            refused = None
        except RefusedError as exc:
            refused = str(exc)
        numbers = self.numbers(job)
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
        rule = self.template.length
        return {
            "refused": refused,
            "derived": {name: show(numbers[name]) for name, _ in self.template.derive},
            "inputs": self.resolved_inputs(numbers),
            "writes": None
            if rule is None or rule.writes is None
            else self._count(rule.writes, numbers, "length.writes"),
            "commands": commands,
            "files": files,
            "cwd": render(self.template.cwd, values, f"{where}: cwd") if self.template.cwd else self.repo,
            "env": {k: render(v, values, f"{where}: env.{k}") for k, v in self.template.env.items()},
            "output": render(self.template.output_path, values, f"{where}: output.path"),
            "keep_first": None if keep_first is None else render(keep_first, values, f"{where}: output.keep_first"),
            "drop_first": None
            if self.template.drop_first is None
            else self._count(self.template.drop_first, numbers, "output.drop_first"),
        }

    # -- lengths and derived variables ---------------------------------------------------------------

    def numbers(self, job: Job) -> dict[str, Any]:
        """What expressions see for ``job``: the task's numbers, the variables, then the derived variables."""
        width, height = job.size
        return self.numbers_for(job.num_frames, width, height, Fraction(job.fps), job.seed)

    def numbers_for(self, frames: int, width: int, height: int, fps: Fraction, seed: int = 0) -> dict[str, Any]:
        """:meth:`numbers` for a task described by its numbers alone (no benchmark needed)."""
        values: dict[str, Any] = {k: number(v) for k, v in self.vars.items()}
        values.update(frames=int(frames), width=int(width), height=int(height), fps=Fraction(fps), seed=int(seed))
        for name, expression in self.template.derive:
            values[name] = self._evaluate(expression, values, f"derive.{name}")
        return values

    def check(self, job: Job) -> None:
        """Raise :class:`RefusedError` when the template's length rule refuses ``job`` (nothing is run)."""
        rule = self.template.length
        if rule is None:
            return
        numbers = self.numbers(job)
        frames, name, sample = job.num_frames, self.template.name, job.sample.id
        tail = f" Length rule of template {name!r}: {rule.rule}"
        if rule.min is not None and frames < (least := self._count(rule.min, numbers, "length.min")):
            raise RefusedError(
                f"template {name!r} needs at least {least} frames; this benchmark's sample {sample} has {frames}. "
                f"Refused before running anything.{tail}"
            )
        if rule.max is not None and frames > (most := self._count(rule.max, numbers, "length.max")):
            raise RefusedError(
                f"template {name!r} generates at most {most} frames; this benchmark's sample {sample} has {frames}. "
                f"Refused before running anything.{tail}"
            )
        values = {**self.vars, **{k: show(v) for k, v in numbers.items()}}
        for i, (condition, because) in enumerate(rule.refuse):
            if self._evaluate(condition, numbers, f"length.refuse[{i}].if"):
                reason = render(because, values, f"template {name!r}: length.refuse[{i}].because")
                raise RefusedError(
                    f"template {name!r} cannot generate sample {sample} ({frames} frames at {show(numbers['fps'])} "
                    f"fps): {reason}. Refused before running anything.{tail}"
                )

    def resolved_inputs(self, numbers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The template's inputs with draw_size, save_size and pad_to evaluated for one task."""
        out = {}
        for kind, options in self.template.inputs.items():
            options = dict(options)
            for key in ("draw_size", "save_size"):
                if options.get(key) is not None:
                    options[key] = tuple(self._count(e, numbers, f"inputs.{kind}.{key}", least=1) for e in options[key])
            if options.get("pad_to") is not None:
                options["pad_to"] = self._count(options["pad_to"], numbers, f"inputs.{kind}.pad_to")
            out[kind] = options
        return out

    def _evaluate(self, expression: Expression, numbers: Mapping[str, Any], where: str) -> Any:
        try:
            return expression.evaluate(numbers, f"template {self.template.name!r}: {where}")
        except ExpressionError as exc:
            raise TemplateError(str(exc)) from exc

    def _count(self, expression: Expression, numbers: Mapping[str, Any], where: str, least: int = 0) -> int:
        value = self._evaluate(expression, numbers, where)
        at = f"template {self.template.name!r}: {where}: {expression.text!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or value != int(value):
            raise TemplateError(f"{at} gave {value!r}, not an integer")
        if int(value) < least:
            raise TemplateError(f"{at} gave {value}, below {least}")
        return int(value)

    # -- identity and declared output ------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        base = super().identity()
        base["args"].pop("timeout", None)  # how long we wait does not change the video
        return {
            **base,
            "template": {"name": self.template.name, "sha256": self.template.sha256},
            "vars": dict(sorted(self.vars.items())),
            "repo_commit": git_commit(self.repo) if self.repo else None,
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
        for job in jobs:  # before any folder, input or command: a refused task costs nothing
            self.check(job)
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
        for key in [*SAMPLE_PLACEHOLDERS, *(name for name, _ in self.template.derive)]:
            seen = {values[key] for values in samples}
            batch[key] = (
                seen.pop()
                if len(seen) == 1
                else Unavailable("it differs between the samples of a per: batch template; use it in files: each:")
            )
        where = f"template {self.template.name!r}"
        try:
            for job, folder, values in zip(jobs, folders, samples, strict=True):
                out_dir = Path(values["output_dir"])
                if out_dir.exists():
                    shutil.rmtree(out_dir)
                out_dir.mkdir(parents=True)
                self._write_inputs(job, folder, self.resolved_inputs(self.numbers(job)))
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

    def _batch_values(self, batch_dir: Path, size: int) -> dict[str, str | Unavailable]:
        values: dict[str, str | Unavailable] = dict(self.vars)
        values.update(
            python=self.args["python"],
            repo=self.repo if self.repo else Unavailable("no --model-arg repo=... was given"),
            batch_dir=str(batch_dir),
            batch_json=str(batch_dir / "batch.json")
            if self.template.per == "batch"
            else Unavailable("only per: batch templates get a batch.json"),
            batch_size=str(size),
            run_patched=str(batch_dir / RUN_PATCHED),
        )
        return values

    def _sample_values(self, job: Job, folder: Path) -> dict[str, Any]:
        width, height = job.size
        numbers = self.numbers(job)
        values: dict[str, Any] = {
            **{name: show(numbers[name]) for name, _ in self.template.derive},
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
                else Unavailable(f"input {kind} is not prepared")
            )
        return values

    # -- inputs and files ------------------------------------------------------------------------------

    def _write_inputs(self, job: Job, folder: Path, inputs: Mapping[str, dict[str, Any]] | None = None) -> None:
        write_inputs(job, folder, self.resolved_inputs(self.numbers(job)) if inputs is None else inputs)

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
        rule, numbers = self.template.length, self.numbers(job)
        if rule is not None and rule.writes is not None:
            expected = self._count(rule.writes, numbers, "length.writes")
            if len(frames) != expected:
                raise CommandError(
                    f"{label}: {fresh[0]} has {len(frames)} frames, but for a {job.num_frames}-frame task the "
                    f"program should write {expected} (length.writes {rule.writes.text!r}); length rule of "
                    f"template {self.template.name!r}: {rule.rule}; {where}"
                )
        if self.template.drop_first is not None:
            frames = frames[self._count(self.template.drop_first, numbers, "output.drop_first") :]
        if self.template.keep_first is not None:
            text = render(self.template.keep_first, values, f"{at}.keep_first")
            try:
                frames = frames[: int(text)]
            except ValueError as exc:
                raise TemplateError(f"{at}.keep_first: {text!r} is not an integer") from exc
        if rule is not None and len(frames) != job.num_frames:
            raise CommandError(
                f"{label}: {len(frames)} frames left after output.drop_first/keep_first, the task has "
                f"{job.num_frames}; length rule of template {self.template.name!r}: {rule.rule}; {where}"
            )
        if self.template.resize:
            frames = resize_frames(frames, tuple(job.size))
        return Video(np.ascontiguousarray(frames), video.fps)


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
