"""Turn run records into plain data: groups, columns, ranked and unranked rows.

The caller reads the records (``a2bench report`` from the results database, :func:`a2bench.runs.results.read_records`);
everything a report shows comes from them, the oracle flag and the metric titles included, so reports never ask the
model or metric registries. Rules (docs/reports.md):

- **Groups.** Runs are never mixed across benchmarks, benchmark versions (manifest sha256) or
  protocols: each (benchmark name, version, manifest sha256, protocol) is its own table.
- **Ranked.** A run is ranked when it is not an oracle (its record's ``oracle``: the adapter's
  ``uses_ground_truth`` when it ran; unknown counts as not an oracle), its status is
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from a2bench.core import stats
from a2bench.core.data.benchmark import Benchmark
from a2bench.core.data.errors import BenchmarkError
from a2bench.core.data.load import load_benchmark
from a2bench.core.paths import home
from a2bench.core.record import MetricRecord, Run, RunRecord


class ReportError(ValueError):
    """Nothing to report, an unknown run, or conflicting options; the message says what to do."""


@dataclass(frozen=True)
class Column:
    """One metric column of a table."""

    key: str  # unique within the group: the metric name, or "name [recipe]" when recipes differ
    name: str
    recipe: str
    higher_is_better: bool
    title: str  # the paper-style header (``PSNR*``) stored with the runs' values, else the metric's name

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass
class Entry:
    """One run in a group: its record, and how the tables, plots and gallery show it."""

    record: RunRecord
    label: str  # model name, plus the run id when the group has several runs of that model
    samples_total: int
    note: str  # why the run is not ranked ("" when it is)
    metrics: dict[str, MetricRecord]  # column key → the run's metric in that column (same name and recipe)
    ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    best: set[str] = field(default_factory=set)
    rank: int | None = None
    mean_rank: float | None = None
    lacks: list[str] = field(default_factory=list)  # the table's columns this run has no value in

    @property
    def run(self) -> Run:
        return self.record.run

    @property
    def oracle(self) -> bool:
        """Whether the run's adapter uses the ground truth (an unknown flag counts as not)."""
        return bool(self.run.oracle)

    @property
    def samples_ok(self) -> int:
        return sum(1 for sample in self.record.samples.values() if sample.status == "ok")

    @property
    def failed(self) -> dict[str, str]:
        """Sample id → error, with one line for the samples never generated."""
        missing = self.record.never_generated
        never = {"(not generated)": f"{missing} sample(s) never generated (the run did not finish)"} if missing else {}
        return {**self.record.failed, **never}

    @property
    def values(self) -> dict[str, float]:
        """Column key → stored aggregate value."""
        return {key: metric.value for key, metric in self.metrics.items()}

    @property
    def per_sample(self) -> dict[str, dict[str, float]]:
        """Column key → sample id → value (paired metrics)."""
        return {key: metric.per_sample for key, metric in self.metrics.items() if metric.per_sample}

    @property
    def counts(self) -> dict[str, tuple[int, int]]:
        """Column key → (n_pred, n_target) feature vectors of a distribution metric."""
        return {key: (m.n_pred, m.n_target) for key, m in self.metrics.items() if m.n_pred is not None}

    @property
    def frames(self) -> dict[str, int]:
        """Sample id → frame count of the stored video."""
        return {sid: int(s.num_frames or 1) for sid, s in self.record.samples.items() if s.status == "ok"}

    @property
    def videos(self) -> dict[str, str]:
        """Sample id → stored video path (generated samples)."""
        return {sid: s.video for sid, s in self.record.samples.items() if s.status == "ok" and s.video}

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
    source: str  # where the runs were read (the results database)


def collect(
    records: Sequence[RunRecord],
    source: str,
    *,
    bench: str | None = None,
    protocol: str | None = None,
) -> ReportData:
    """The runs of ``records`` (read from ``source``, which the report names), filtered, grouped and ranked."""
    if not records:
        raise ReportError(f"{source}: no runs to report")
    bench_obj = _load_bench_arg(bench)
    kept = _filter(list(records), bench, bench_obj, protocol)
    keys: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for record in kept:
        run = record.run
        keys.setdefault((run.benchmark, run.benchmark_version, run.manifest_sha256, run.protocol), []).append(record)
    finder = _BenchFinder(bench_obj, [r.run for r in kept])
    groups = [
        _group(name, version, sha, proto, members, finder)
        for (name, version, sha, proto), members in sorted(keys.items(), key=lambda kv: _group_order(kv[0]))
    ]
    _slugs(groups)
    return ReportData(groups, source)


# --------------------------------------------------------------------------------------------------
def _filter(
    records: list[RunRecord], bench: str | None, bench_obj: Benchmark | None, protocol: str | None
) -> list[RunRecord]:
    kept = records
    if bench_obj is not None:
        sha = bench_obj.manifest.sha256
        kept = [r for r in kept if r.run.manifest_sha256 == sha]
        what = f"benchmark {bench_obj.name} {bench_obj.version} at {bench}"
    elif bench is not None:
        kept = [r for r in kept if bench in (r.run.benchmark, f"{r.run.benchmark}@{r.run.benchmark_version}")]
        what = f"benchmark {bench!r}"
    if bench is not None and not kept:
        have = sorted({f"{r.run.benchmark}@{r.run.benchmark_version}" for r in records})
        raise ReportError(f"no selected run is on {what}; the runs are on: {', '.join(have)}")
    if protocol is not None:
        before = kept
        kept = [r for r in kept if r.run.protocol == protocol]
        if not kept:
            have = sorted({r.run.protocol for r in before})
            raise ReportError(f"no selected run uses the {protocol} protocol (they use: {', '.join(have)})")
    return kept


def _group(name: str, version: str, sha: str, protocol: str, records: list[RunRecord], finder: _BenchFinder) -> Group:
    bench, bench_note = finder.find(sha)
    columns = _columns(records)
    if bench is not None:
        samples = [s.id for s in bench.samples]
    else:
        samples = sorted({sid for record in records for sid in record.samples})
    total = len(samples) if bench is not None else max([r.run.samples for r in records] + [len(samples)])
    models = [r.run.model for r in records]
    entries = [_entry(record, columns, total, models.count(record.run.model)) for record in records]
    ranked_on = _rank(entries, columns)
    return Group(name, version, sha, protocol, columns, _ordered(entries), samples, total, bench, bench_note, ranked_on)


def _columns(records: list[RunRecord]) -> list[Column]:
    order: list[str] = []
    for record in records:  # the runs' own metric order (e.g. the animatex set's), first seen first
        for name in [*record.run.metric_names, *record.metrics]:
            if name not in order:
                order.append(name)
    columns = []
    for name in order:
        found: dict[str, MetricRecord] = {}  # recipe → the first run's metric of that recipe
        for record in records:
            metric = record.metrics.get(name)
            if metric is not None:
                found.setdefault(metric.recipe, metric)
        for recipe, metric in found.items():
            key = name if len(found) == 1 else f"{name} [{recipe}]"
            title = next((m.title for r in records if (m := r.metrics.get(name)) and m.recipe == recipe and m.title),
                         name)  # fmt: skip
            columns.append(Column(key, name, recipe, metric.higher_is_better, title))
    return columns


def _entry(record: RunRecord, columns: list[Column], total: int, same_model: int) -> Entry:
    run = record.run
    metrics = {c.key: m for c in columns if (m := record.metrics.get(c.name)) is not None and m.recipe == c.recipe}
    label = run.model if same_model == 1 else f"{run.model} · {run.id[:6]}"
    entry = Entry(record, label, total, "", metrics, lacks=[c.key for c in columns if c.key not in metrics])
    samples_ok = entry.samples_ok
    if entry.oracle:
        entry.note = "oracle: uses the ground truth, never ranked"
    elif run.status in ("running", "interrupted"):
        entry.note = f"{run.status}: {samples_ok}/{run.samples} samples"
    elif entry.failed or run.status != "complete" or samples_ok < run.samples:
        entry.note = f"incomplete: {samples_ok}/{run.samples} samples generated"
    elif run.samples < total:
        entry.note = f"partial: {run.samples} of the benchmark's {total} samples"
    elif not metrics:
        entry.note = "not scored (run again without --no-eval)"
    frames = entry.frames
    for key, samples in entry.per_sample.items():
        ids = sorted(samples)
        entry.ci[key] = stats.bootstrap_ci([samples[s] for s in ids], weights=[frames.get(sid, 1) for sid in ids])
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
        self._given_sha = given.manifest.sha256 if given is not None else None
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
        paths: list[Path] = []
        for run in runs:
            paths += [Path(value) for value in run.bench_args]
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
            try:
                bench = load_benchmark(path)
                self._loaded[key] = (bench, bench.manifest.sha256)
            except Exception:  # not a benchmark folder: not a candidate
                self._loaded[key] = None
        return self._loaded[key]
