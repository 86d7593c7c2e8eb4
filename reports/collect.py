"""Read runs from the results database into plain data: groups, columns, ranked and unranked rows.

Rules (docs/reports.md):

- **Groups.** Runs are never mixed across benchmarks, benchmark versions (manifest sha256) or
  protocols: each (benchmark name, version, manifest sha256, protocol) is its own table.
- **Ranked.** A run is ranked when it is not an oracle (``Adapter.uses_ground_truth``), its status is
  ``complete``, every one of its samples was generated, and it covers the whole benchmark (all the
  benchmark's samples, not a ``--limit`` subset). Every other run is shown, marked with the reason,
  and never gets a rank or a bold "best" value.
- **Best.** Per column, the best value among ranked runs (by the metric's stored direction) is marked;
  ties (within 1e-12 relative) are all marked.
- **Order.** Ranked runs by their mean rank over the metrics they all have (ties share the average rank),
  then unranked runs, then oracles. A ranked run without a column shows a dash there and says so.
- **Columns.** One per metric name; if runs of a group scored the same metric name with different recipe
  ids (an a2bench upgrade changed a recipe), each recipe gets its own column, since the values are not
  comparable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from a2bench.core import stats
from a2bench.core.data.benchmark import Benchmark
from a2bench.core.provenance import manifest_sha256
from a2bench.runs.results import Generation, ResultsDB, ResultsError, Run, default_db
from a2bench.runs.runner import recorded_bench_args


class ReportError(ValueError):
    """Nothing to report, an unknown run, or conflicting options; the message says what to do."""


@dataclass(frozen=True)
class Column:
    """One metric column of a table."""

    key: str  # unique within the group: the metric name, or "name [recipe]" when recipes differ
    name: str
    recipe: str
    higher_is_better: bool
    title: str  # the paper-style header (``PSNR*``), from the metric registry when known

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass
class Entry:
    """One run in a group, with everything the tables, plots and gallery show."""

    run: Run
    label: str  # model name, plus the run id when the group has several runs of that model
    oracle: bool
    samples_ok: int
    samples_total: int
    failed: dict[str, str]  # sample id → error, including samples never generated
    note: str  # why the run is not ranked ("" when it is)
    values: dict[str, float]  # column key → stored aggregate value
    per_sample: dict[str, dict[str, float]]  # column key → sample id → value
    counts: dict[str, tuple[int, int]]  # column key → (n_pred, n_target) feature vectors of a distribution metric
    frames: dict[str, int]  # sample id → frame count of the stored video
    videos: dict[str, str]  # sample id → stored video path (ok generations)
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    best: set[str] = field(default_factory=set)
    rank: int | None = None
    mean_rank: float | None = None
    lacks: list[str] = field(default_factory=list)  # the table's columns this run has no value in

    @property
    def ranked(self) -> bool:
        return not self.note

    @property
    def kind(self) -> str:
        return "oracle" if self.oracle else ("ranked" if self.ranked else "unranked")

    @property
    def date(self) -> str:
        return _date(self.run.finished or self.run.started)


@dataclass
class Group:
    """The runs of one benchmark version under one protocol: one leaderboard table."""

    benchmark: str
    version: str
    manifest_sha256: str
    protocol: str
    columns: list[Column]
    entries: list[Entry]
    samples: list[str]  # the benchmark's sample ids (or, without the benchmark, every id a run has)
    samples_total: int  # the benchmark's sample count (without it: the largest run's)
    bench: Benchmark | None
    bench_note: str  # where the benchmark was found, or why not
    ranked_on: list[str]  # the column keys every ranked run has: the mean rank is over these
    slug: str = ""

    @property
    def title(self) -> str:
        return f"{self.benchmark} {self.version} · {self.protocol}"

    def sample_info(self, sample_id: str) -> tuple[str, str]:
        """``(category, style)`` from the benchmark manifest (``("?", "?")`` without it)."""
        if self.bench is None:
            return "?", "?"
        sample = self.bench[sample_id]
        return sample.category, sample.style


@dataclass
class ReportData:
    groups: list[Group]
    db: str


def collect(
    db_path: str | Path | None,
    run_ids: list[str] | None = None,
    *,
    bench: str | None = None,
    protocol: str | None = None,
) -> ReportData:
    """The runs to report (``run_ids``, else all), filtered, grouped and ranked."""
    path = Path(db_path) if db_path is not None else default_db()
    if not path.is_file():
        raise ReportError(f"{path}: no results database; make runs with `a2bench run --model NAME` (or pass --db)")
    try:
        db = ResultsDB(path)
    except ResultsError as exc:
        raise ReportError(str(exc)) from exc
    try:
        if run_ids:
            try:
                runs = list({r.id: r for r in (db.run(i) for i in run_ids)}.values())
            except ResultsError as exc:
                raise ReportError(str(exc)) from exc
        else:
            runs = db.runs()
            if not runs:
                raise ReportError(
                    f"{db.path}: no runs recorded; make one with `a2bench run --model NAME` (or pass --db)"
                )
        bench_obj = _load_bench_arg(bench)
        runs = _filter(runs, bench, bench_obj, protocol)
        keys: dict[tuple[str, str, str, str], list[Run]] = {}
        for run in runs:
            keys.setdefault((run.benchmark, run.benchmark_version, run.manifest_sha256, run.protocol), []).append(run)
        groups = []
        finder = _BenchFinder(bench_obj, runs)
        for (name, version, sha, proto), members in sorted(keys.items(), key=lambda kv: _group_order(kv[0])):
            groups.append(_group(db, name, version, sha, proto, members, finder))
        _slugs(groups)
        return ReportData(groups, str(db.path))
    finally:
        db.close()


def is_oracle(model: str) -> bool:
    """Whether the adapter registered as ``model`` uses the ground truth (unknown models are not oracles)."""
    from a2bench.models import MODELS

    try:
        return bool(MODELS.get(model).uses_ground_truth)
    except Exception:  # an adapter from a package no longer installed
        return False


def metric_title(name: str) -> str:
    try:
        from a2bench.metrics import METRICS

        return METRICS.get(name).title
    except Exception:
        return name


# --------------------------------------------------------------------------------------------------
def _filter(runs: list[Run], bench: str | None, bench_obj: Benchmark | None, protocol: str | None) -> list[Run]:
    kept = runs
    if bench_obj is not None:
        sha = manifest_sha256(bench_obj)
        kept = [r for r in kept if r.manifest_sha256 == sha]
        what = f"benchmark {bench_obj.name} {bench_obj.version} at {bench}"
    elif bench is not None:
        kept = [r for r in kept if bench in (r.benchmark, f"{r.benchmark}@{r.benchmark_version}")]
        what = f"benchmark {bench!r}"
    if bench is not None and not kept:
        have = sorted({f"{r.benchmark}@{r.benchmark_version}" for r in runs})
        raise ReportError(f"no selected run is on {what}; the runs are on: {', '.join(have)}")
    if protocol is not None:
        before = kept
        kept = [r for r in kept if r.protocol == protocol]
        if not kept:
            have = sorted({r.protocol for r in before})
            raise ReportError(f"no selected run uses the {protocol} protocol (they use: {', '.join(have)})")
    return kept


def _group(
    db: ResultsDB, name: str, version: str, sha: str, protocol: str, runs: list[Run], finder: _BenchFinder
) -> Group:
    bench, bench_note = finder.find(sha)
    details = {run.id: db.metrics(run.id) for run in runs}
    columns = _columns(runs, details)
    generations = {run.id: db.run_generations(run.id) for run in runs}
    if bench is not None:
        samples = [s.id for s in bench.samples]
    else:
        samples = sorted({sid for gens in generations.values() for sid in gens})
    total = len(samples) if bench is not None else max([r.samples for r in runs] + [len(samples)])
    models = [r.model for r in runs]
    entries = []
    for run in runs:
        entries.append(_entry(db, run, details[run.id], generations[run.id], columns, total, models.count(run.model)))
    ranked_on = _rank(entries, columns)
    return Group(
        name, version, sha, protocol, columns, _ordered(entries), samples, total, bench, bench_note, ranked_on
    )


def _columns(runs: list[Run], details: dict[str, dict[str, dict[str, Any]]]) -> list[Column]:
    order: list[str] = []
    for run in runs:  # the runs' own metric order (e.g. the animatex set's), first seen first
        for name in [*run.metric_names, *details[run.id]]:
            if name not in order:
                order.append(name)
    columns = []
    for name in order:
        recipes: dict[str, bool] = {}
        for run in runs:
            detail = details[run.id].get(name)
            if detail is not None:
                recipes.setdefault(str(detail.get("recipe", "")), bool(detail.get("higher_is_better")))
        for recipe, higher in recipes.items():
            key = name if len(recipes) == 1 else f"{name} [{recipe}]"
            columns.append(Column(key, name, recipe, higher, metric_title(name)))
    return columns


def _entry(
    db: ResultsDB,
    run: Run,
    detail: dict[str, dict[str, Any]],
    generations: dict[str, Generation],
    columns: list[Column],
    total: int,
    same_model: int,
) -> Entry:
    per_sample_db = db.sample_metrics(run.id)
    ok = {sid: g for sid, g in generations.items() if g.status == "ok"}
    failed = {sid: (g.error or "failed") for sid, g in generations.items() if g.status != "ok"}
    missing = run.samples - len(generations)
    if missing > 0:
        failed["(not generated)"] = f"{missing} sample(s) never generated (the run did not finish)"
    values, per_sample, counts = {}, {}, {}
    for column in columns:
        found = detail.get(column.name)
        if found is not None and str(found.get("recipe", "")) == column.recipe:
            values[column.key] = float(found["value"])
            if found.get("n_pred") is not None:
                counts[column.key] = (int(found["n_pred"]), int(found["n_target"]))
            if column.name in per_sample_db:
                per_sample[column.key] = per_sample_db[column.name]
    oracle = is_oracle(run.model)
    samples_ok = len(ok)
    if oracle:
        note = "oracle: uses the ground truth, never ranked"
    elif run.status in ("running", "interrupted"):
        note = f"{run.status}: {samples_ok}/{run.samples} samples"
    elif failed or run.status != "complete" or samples_ok < run.samples:
        note = f"incomplete: {samples_ok}/{run.samples} samples generated"
    elif run.samples < total:
        note = f"partial: {run.samples} of the benchmark's {total} samples"
    elif not values:
        note = "not scored (run again without --no-eval)"
    else:
        note = ""
    label = run.model if same_model == 1 else f"{run.model} · {run.id[:6]}"
    entry = Entry(
        run=run,
        label=label,
        oracle=oracle,
        samples_ok=samples_ok,
        samples_total=total,
        failed=failed,
        note=note,
        values=values,
        per_sample=per_sample,
        counts=counts,
        lacks=[c.key for c in columns if c.key not in values],
        frames={sid: int(g.num_frames or 1) for sid, g in ok.items()},
        videos={sid: g.path for sid, g in ok.items() if g.path},
    )
    for key, samples in per_sample.items():
        ids = sorted(samples)
        if ids:
            weights = [entry.frames.get(sid, 1) for sid in ids]
            entry.ci[key] = stats.bootstrap_ci([samples[s] for s in ids], weights=weights)
        else:
            entry.ci[key] = None
    return entry


def _rank(entries: list[Entry], columns: list[Column]) -> list[str]:
    """Mark the best values, rank the ranked runs by mean rank over the columns they all have (ranking over
    fewer would let a run win by skipping metrics), and return those columns' keys."""
    ranked = [e for e in entries if e.ranked]
    shared = [c for c in columns if ranked and all(c.key in e.values for e in ranked)]
    if len(ranked) > 1 and not shared:
        for e in ranked:
            e.note = "no metric in common with the other runs: scored on " + ", ".join(e.values)
        return []
    ranks: dict[str, list[float]] = {e.run.id: [] for e in ranked}
    for column in columns:
        have = [e for e in ranked if column.key in e.values]
        if not have:
            continue
        sign = -1.0 if column.higher_is_better else 1.0
        best = min(sign * e.values[column.key] for e in have)
        for e in have:
            if abs(sign * e.values[column.key] - best) <= 1e-12 * max(1.0, abs(best)):
                e.best.add(column.key)
        if column not in shared:
            continue
        ordered = sorted(have, key=lambda e: sign * e.values[column.key])
        position = 0
        while position < len(ordered):  # ties share the average of their positions
            end = position
            value = ordered[position].values[column.key]
            while end + 1 < len(ordered) and ordered[end + 1].values[column.key] == value:
                end += 1
            for e in ordered[position : end + 1]:
                ranks[e.run.id].append((position + end) / 2 + 1)
            position = end + 1
    for e in ranked:
        e.mean_rank = sum(ranks[e.run.id]) / len(ranks[e.run.id]) if ranks[e.run.id] else None
    ranked.sort(key=lambda e: (e.mean_rank if e.mean_rank is not None else float("inf"), e.label))
    for index, e in enumerate(ranked):
        same = index > 0 and ranked[index - 1].mean_rank == e.mean_rank
        e.rank = ranked[index - 1].rank if same else index + 1
    return [c.key for c in shared]


def _ordered(entries: list[Entry]) -> list[Entry]:
    kind = {"ranked": 0, "unranked": 1, "oracle": 2}
    return sorted(entries, key=lambda e: (kind[e.kind], e.rank or 0, e.label, e.run.id))


def _group_order(key: tuple[str, str, str, str]) -> tuple:
    name, version, sha, protocol = key
    return (name, version, sha, {"self": 0, "cross": 1}.get(protocol, 2), protocol)


def _slugs(groups: list[Group]) -> None:
    seen: set[str] = set()
    for group in groups:
        base = re.sub(r"[^A-Za-z0-9]+", "-", f"{group.benchmark}-{group.version}-{group.protocol}").strip("-").lower()
        slug, n = base, 2
        while slug in seen:
            slug, n = f"{base}-{n}", n + 1
        seen.add(slug)
        group.slug = slug


def _date(text: str | None) -> str:
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


# -- finding each group's benchmark (for the gallery and the per-category plots) ------------------------
def _load_bench_arg(bench: str | None) -> Benchmark | None:
    """``--bench``: a folder or HF export is loaded (runs are then matched by manifest sha256); a name filters."""
    if bench is None or not Path(bench).exists():
        return None
    from a2bench.core.data.errors import BenchmarkError
    from a2bench.core.data.load import load_benchmark

    try:
        return load_benchmark(Path(bench))
    except BenchmarkError as exc:
        raise ReportError(f"--bench {bench}: {exc}") from exc


class _BenchFinder:
    """Locates a benchmark by manifest sha256 without generating anything.

    Candidates: the ``--bench`` folder, the ``--bench`` argument of each run's recorded command line
    when it names an existing folder, and every folder under ``$A2BENCH_HOME/benchmarks`` (where
    ``synth`` caches its builds).
    """

    def __init__(self, given: Benchmark | None, runs: list[Run]) -> None:
        self._loaded: dict[str, tuple[Benchmark, str] | None] = {}
        self._given = given
        self._given_sha = manifest_sha256(given) if given is not None else None
        self._paths = self._candidates(runs)  # any run's --bench may be another group's benchmark too

    def find(self, sha: str) -> tuple[Benchmark | None, str]:
        if self._given is not None and self._given_sha == sha:
            return self._given, f"Benchmark files: {self._given.location}"
        for path in self._paths:
            found = self._load(path)
            if found is not None and found[1] == sha:
                return found[0], f"Benchmark files: {path}"
        return None, (
            "Benchmark files not found (no folder with this manifest sha256 among the runs' --bench arguments "
            "and $A2BENCH_HOME/benchmarks); pass --bench FOLDER for the gallery and the per-category plots"
        )

    def _candidates(self, runs: list[Run]) -> list[Path]:
        from a2bench.core.paths import home

        paths: list[Path] = []
        for run in runs:
            paths += [Path(value) for value in recorded_bench_args(run)]
        cache = home() / "benchmarks"
        if cache.is_dir():
            paths += sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))
        unique: list[Path] = []
        for path in paths:
            if path.is_dir() and path.resolve() not in unique:
                unique.append(path.resolve())
        return unique

    def _load(self, path: Path) -> tuple[Benchmark, str] | None:
        key = str(path)
        if key not in self._loaded:
            from a2bench.core.data.load import load_benchmark

            try:
                bench = load_benchmark(path)
                self._loaded[key] = (bench, manifest_sha256(bench))
            except Exception:  # not a benchmark folder: not a candidate
                self._loaded[key] = None
        return self._loaded[key]
