"""The CI regression gate: is a run worse than a baseline run, beyond tolerance and beyond noise?

``a2bench gate`` compares the metrics of a *current* run with those of a *baseline* run on the same
benchmark (name, version, manifest) and protocol. docs/runner.md ("CI regression gate") states the
rules; in short, per metric:

- **Paired metrics** (those with per-sample values: PSNR, SSIM, L1, LPIPS, ...). Over the samples both
  runs scored, ``d_i = current_i - baseline_i``; the gate reports the mean of ``d`` and a paired
  percentile-bootstrap confidence interval of that mean (sample ids resampled with replacement, seeded).
  The metric **regresses** when the mean difference is worse than the tolerance *and* the interval lies
  entirely on the worse side of zero (:func:`decide`).
- **Distribution metrics** (FID, FVD, ...: one value for the whole set). The metric regresses when the
  current value is worse than the baseline's by more than the tolerance.
- **Coverage.** A sample the baseline generated that the current run did not (failed, or not run), or
  that has a baseline per-sample value of a gated metric but no current one, is a failure by itself
  (``incomplete``): a gate must not pass because the hard samples stopped being scored. So is a current
  run whose status is not ``complete``.

"Worse" follows each metric's stored ``higher_is_better``. Everything here is pure data in, data out;
``a2bench.cli.gate`` does the reading, printing and exit codes.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2bench.core.record import MetricRecord, RecordError, RunRecord
from a2bench.core.stats import bootstrap_ci
from a2bench.runs.results import ResultsDB, ResultsError, default_db

#: Differences this small (relative to the value's magnitude, at least 1) are floating-point noise:
#: a metric recomputed on another machine may move in the last digits, which is never a regression.
NUMERIC_FLOOR = 1e-9

#: Verdicts that fail the gate.
FAILING = ("regression", "incomplete", "incomparable")


class GateError(ValueError):
    """The gate cannot compare what it was given (usage error); the message says why and what to do."""


@dataclass(frozen=True)
class Tolerance:
    """How much worse a metric may get: an absolute amount, or a percentage of the baseline value."""

    amount: float = 0.0
    relative: bool = False

    def absolute(self, baseline: float) -> float:
        """The tolerance in the metric's own units, for a baseline value ``baseline``."""
        return abs(baseline) * self.amount / 100.0 if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.relative else f"{self.amount:g}"


def parse_metric_spec(text: str) -> tuple[str, Tolerance]:
    """``"psnr:0.5"`` → (psnr, 0.5 absolute); ``"ssim:1%"`` → (ssim, 1 % relative); ``"fid"`` → tolerance 0."""
    name, sep, amount = text.strip().partition(":")
    name, amount = name.strip(), amount.strip()
    if not name:
        raise GateError(f"--metric {text!r}: expected NAME or NAME:TOLERANCE (e.g. psnr:0.5 or ssim:1%)")
    if not sep:
        return name, Tolerance()
    relative = amount.endswith("%")
    try:
        value = float(amount[:-1] if relative else amount)
    except ValueError:
        raise GateError(f"--metric {text!r}: tolerance {amount!r} is not a number or a percentage") from None
    if not math.isfinite(value) or value < 0:
        raise GateError(f"--metric {text!r}: the tolerance must be a finite number >= 0")
    return name, Tolerance(value, relative)


# ------------------------------------------------------------------------------------------------
# The statistics: pure functions.


def decide(
    mean_diff: float,
    ci: tuple[float, float] | None,
    tolerance: float,
    higher_is_better: bool,
    scale: float = 1.0,
) -> str:
    """``"regression"``, ``"improved"`` or ``"ok"`` for one metric.

    ``mean_diff`` is current − baseline (the mean of paired differences, or the difference of the two
    values for a distribution metric), ``tolerance`` is absolute (>= 0) and ``ci`` the interval of
    ``mean_diff`` (``None`` for distribution metrics). With ``worse = -mean_diff`` when higher is better,
    else ``mean_diff``:

    - regression: ``worse > tolerance`` and (no interval, or the interval excludes zero on the worse
      side: ``high < 0`` when higher is better, ``low > 0`` when lower is better);
    - improved: the mirror image (better by more than the tolerance, interval on the better side);
    - ok: anything else.

    Differences within ``NUMERIC_FLOOR * max(1, scale)`` are treated as zero.
    """
    sign = -1.0 if higher_is_better else 1.0  # turns "current - baseline" into "how much worse"
    worse = sign * mean_diff
    floor = NUMERIC_FLOOR * max(1.0, abs(scale))
    if ci is not None:
        low, high = sorted(sign * bound for bound in ci)  # the interval of `worse`
        worse_side, better_side = low > floor, high < -floor
    else:
        worse_side = better_side = True
    if worse > tolerance + floor and worse_side:
        return "regression"
    if -worse > tolerance + floor and better_side:
        return "improved"
    return "ok"


# ------------------------------------------------------------------------------------------------
# Runs as the gate reads them: checked run records.


def load_run(spec: str, db_path: Path | None, role: str = "run") -> RunRecord:
    """``spec`` is a run id (or unique prefix) in the results database, or ``FILE`` / ``FILE#RUN`` naming
    an export written by ``a2bench runs export --format json``; ``#RUN`` picks one of several runs. ``role``
    (``baseline``, ``current run``) starts every error message.

    Either way the run is read as its export and checked field by field (:meth:`RunRecord.from_export`): a value
    that is not what the exporter writes (a string or null where a number belongs, NaN, infinity, a wrong type) is a
    :class:`GateError` naming the source, the metric and the sample, never a comparison of whatever it parses to."""
    try:
        file, run_id = _split_spec(spec)
        if file is not None:
            return _from_file(file, run_id)
        return _from_db(spec, db_path)
    except GateError as exc:
        raise GateError(f"{role}: {exc}") from exc


def _from_db(spec: str, db_path: Path | None) -> RunRecord:
    path = Path(db_path) if db_path is not None else default_db()
    if not path.is_file():
        raise GateError(f"{spec!r} is neither an export file nor a run: there is no results database at {path}")
    try:
        store = ResultsDB(path)
        try:
            record = store.load_record(spec)
        finally:
            store.close()
    except ResultsError as exc:
        raise GateError(str(exc)) from exc
    except (sqlite3.Error, ValueError) as exc:  # a damaged file or row: a JSON column that does not parse
        raise GateError(f"{path}: run {spec!r} cannot be read ({exc}); the results database is damaged") from exc
    return _checked(record.to_export(), record.source)


def _split_spec(spec: str) -> tuple[Path | None, str | None]:
    if Path(spec).is_file():
        return Path(spec), None
    head, sep, tail = spec.rpartition("#")
    if sep and head and Path(head).is_file():
        return Path(head), tail or None
    if sep and head:
        raise GateError(f"{spec!r}: no export file {head!r}")
    return None, None


def _from_file(path: Path, run_id: str | None) -> RunRecord:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSON and Unicode errors are ValueErrors
        raise GateError(f"{path}: cannot be read as JSON ({str(exc)[:300]})") from exc
    if not isinstance(doc, dict) or doc.get("format") != "a2bench-runs" or not isinstance(doc.get("runs"), list):
        raise GateError(f"{path}: not an a2bench runs export (write one with `a2bench runs export --format json`)")
    runs = doc["runs"]
    if not all(isinstance(r, dict) for r in runs):
        raise GateError(f"{path}: every element of 'runs' must be a run object, as `a2bench runs export` writes it")
    if run_id is not None:
        runs = [r for r in runs if str(r.get("id", "")).startswith(run_id)]
    ids = ", ".join(str(r.get("id")) for r in runs)
    if not runs:
        which = f" matching {run_id!r}" if run_id else ""
        raise GateError(f"{path}: holds no run{which}")
    if len(runs) > 1:
        raise GateError(f"{path}: holds {len(runs)} runs ({ids}); choose one with {path}#RUN")
    return _checked(runs[0], f"{path}#{runs[0].get('id')}")


def _checked(doc: Any, source: str) -> RunRecord:
    try:
        return RunRecord.from_export(doc, source)
    except RecordError as exc:
        more = f" (and {len(exc.problems) - 5} more)" if len(exc.problems) > 5 else ""
        raise GateError(
            f"{source}: {'; '.join(exc.problems[:5])}{more}. The gate cannot compare this run: export it again with "
            "`a2bench runs export --format json` (or run the same `a2bench run` again to re-score it)"
        ) from exc


# ------------------------------------------------------------------------------------------------
# The comparison.


@dataclass
class MetricVerdict:
    """One row of the gate's table."""

    metric: str
    kind: str  # "paired" | "distribution"
    higher_is_better: bool | None
    recipe: str | None
    baseline: float | None
    current: float | None
    diff: float | None  # paired: mean of per-sample differences; distribution: current - baseline
    ci: tuple[float, float] | None
    samples: int  # samples compared (paired), 0 for distribution metrics
    tolerance: str
    tolerance_abs: float | None
    verdict: str  # ok | improved | regression | incomparable | skipped
    reason: str = ""


@dataclass
class GateResult:
    baseline: RunRecord
    current: RunRecord
    verdicts: list[MetricVerdict]
    incomplete: dict[str, str]  # sample id → why the current run lacks it (not generated, or not scored)
    confidence: float
    resamples: int
    seed: int
    warnings: list[str] = field(default_factory=list)
    run_incomplete: str = ""  # why the current run as a whole is incomplete (its status is not "complete")

    @property
    def passed(self) -> bool:
        return not self.incomplete and not self.run_incomplete and not any(v.verdict in FAILING for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        def run(record: RunRecord) -> dict[str, Any]:
            keys = ("id", "model", "benchmark", "benchmark_version", "manifest_sha256", "protocol", "status")
            return {**{k: getattr(record.run, k) for k in keys}, "source": record.source}

        return {
            "format": "a2bench-gate",
            "version": 1,
            "passed": self.passed,
            "baseline": run(self.baseline),
            "current": run(self.current),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "verdicts": [{**asdict(v), "ci": list(v.ci) if v.ci else None} for v in self.verdicts],
            "incomplete": self.incomplete,
            "run_incomplete": self.run_incomplete or None,
            "warnings": self.warnings,
        }


def check_comparable(baseline: RunRecord, current: RunRecord, allow_different_benchmark: bool = False) -> list[str]:
    """Raise :class:`GateError` unless both runs are on the same benchmark and protocol; returns warnings."""
    base, cur = baseline.run, current.run
    if base.protocol != cur.protocol:
        raise GateError(
            f"protocols differ: the baseline {baseline.source} ran {base.protocol!r}, the current run "
            f"{current.source} ran {cur.protocol!r}; compare runs of the same protocol"
        )
    mismatch = []
    for label, attr in (("name", "benchmark"), ("version", "benchmark_version"), ("manifest", "manifest_sha256")):
        if getattr(base, attr) != getattr(cur, attr):
            mismatch.append(f"{label} {getattr(base, attr)!r} vs {getattr(cur, attr)!r}")
    if not mismatch:
        return []
    message = (
        f"the runs are on different benchmarks (baseline {baseline.source} vs current {current.source}: "
        f"{'; '.join(mismatch)})"
    )
    if allow_different_benchmark:
        return [message + "; compared anyway (--allow-different-benchmark)"]
    raise GateError(message + "; regenerate the baseline on this benchmark, or pass --allow-different-benchmark")


def compare(
    baseline: RunRecord,
    current: RunRecord,
    metrics: Mapping[str, Tolerance] | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    allow_different_benchmark: bool = False,
) -> GateResult:
    """Compare ``current`` with ``baseline``. ``metrics`` maps the gated metrics to their tolerances;
    ``None`` or empty gates every metric both runs have, with tolerance 0 (the interval still decides)."""
    warnings = check_comparable(baseline, current, allow_different_benchmark)
    if metrics:
        missing = {
            name: [label for label, run in (("baseline", baseline), ("current", current)) if name not in run.metrics]
            for name in metrics
        }
        missing = {name: where for name, where in missing.items() if where}
        if missing:
            listing = "; ".join(f"{name} (not in the {' and '.join(where)} run)" for name, where in missing.items())
            raise GateError(
                f"cannot gate {listing}. The baseline has {', '.join(baseline.metrics) or 'no metrics'}; the current "
                f"run has {', '.join(current.metrics) or 'no metrics'}"
            )
        gated = dict(metrics)
    else:
        common = [name for name in baseline.metrics if name in current.metrics]
        if not common:
            raise GateError(
                f"the runs have no metric in common (baseline {baseline.run.id}: "
                f"{', '.join(baseline.metrics) or 'none'}; current {current.run.id}: "
                f"{', '.join(current.metrics) or 'none'}); was the current run scored (not --no-eval)?"
            )
        gated = {name: Tolerance() for name in common}
    verdicts = [
        _compare_metric(name, tolerance, baseline, current, confidence, resamples, seed)
        for name, tolerance in gated.items()
    ]
    if not metrics:
        for name in [*baseline.metrics, *(n for n in current.metrics if n not in baseline.metrics)]:
            if name not in gated:
                side = "baseline" if name in baseline.metrics else "current run"
                verdicts.append(_row(name, None, None, "skipped", f"only the {side} has it"))
    incomplete = {}
    for sample_id, sample in baseline.samples.items():
        if sample.status != "ok":
            continue
        now = current.samples.get(sample_id)
        if now is None or now.status != "ok":
            incomplete[sample_id] = "failed in the current run" if now else "not generated by the current run"
    unscored: dict[str, list[str]] = {}  # generated, but a paired metric has no value for it now
    for name in gated:
        current_samples = current.metrics[name].per_sample
        for sample_id in baseline.metrics[name].per_sample:
            if sample_id not in current_samples:
                unscored.setdefault(sample_id, []).append(name)
    for sample_id, names in unscored.items():
        incomplete.setdefault(sample_id, f"not scored by the current run ({', '.join(names)})")
    result = GateResult(baseline, current, verdicts, incomplete, confidence, resamples, seed, warnings)
    if current.run.status != "complete":
        result.run_incomplete = (
            f"the current run {current.run.id} is not complete: its status is {current.run.status!r}"
        )
        warnings.append(result.run_incomplete + " (the gate fails)")
    return result


def _row(name: str, info: MetricRecord | None, tolerance: Tolerance | None, verdict: str, reason: str):
    return MetricVerdict(
        metric=name,
        kind="distribution",
        higher_is_better=info.higher_is_better if info else None,
        recipe=info.recipe if info else None,
        baseline=None,
        current=None,
        diff=None,
        ci=None,
        samples=0,
        tolerance=str(tolerance) if tolerance else "",
        tolerance_abs=None,
        verdict=verdict,
        reason=reason,
    )


def _compare_metric(
    name: str,
    tolerance: Tolerance,
    baseline: RunRecord,
    current: RunRecord,
    confidence: float,
    resamples: int,
    seed: int,
) -> MetricVerdict:
    base, cur = baseline.metrics[name], current.metrics[name]
    higher = base.higher_is_better
    if base.recipe != cur.recipe or higher != cur.higher_is_better:
        reason = f"recipe {base.recipe!r} in the baseline, {cur.recipe!r} now; regenerate the baseline"
        return _row(name, base, tolerance, "incomparable", reason)
    base_value, cur_value = base.value, cur.value
    tolerance_abs = tolerance.absolute(base_value)
    row = MetricVerdict(
        metric=name,
        kind="distribution",
        higher_is_better=higher,
        recipe=base.recipe,
        baseline=base_value,
        current=cur_value,
        diff=cur_value - base_value,
        ci=None,
        samples=0,
        tolerance=str(tolerance),
        tolerance_abs=tolerance_abs,
        verdict="ok",
    )
    base_samples, cur_samples = base.per_sample, cur.per_sample
    if base_samples and cur_samples:
        row.kind = "paired"
        common = [sid for sid in base_samples if sid in cur_samples]
        if not common:
            row.verdict, row.reason = "incomparable", "no sample scored by both runs"
            return row
        diffs = np.array([cur_samples[sid] - base_samples[sid] for sid in common])
        row.diff, row.samples = float(diffs.mean()), len(diffs)
        row.ci = bootstrap_ci(diffs, confidence, resamples, seed)
    row.verdict = decide(row.diff, row.ci, tolerance_abs, higher, scale=base_value)
    if row.verdict == "regression":
        side = "below" if higher else "above"
        noise = f" and the {confidence:.0%} interval is entirely {side} 0" if row.ci else ""
        row.reason = f"worse by more than the tolerance {tolerance_abs:.6g}{noise}"
    return row
