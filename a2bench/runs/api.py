"""The notebook API: ``a2bench.evaluate`` and ``a2bench.load_runs``, the two calls a script or notebook needs.

``evaluate`` is ``a2bench eval`` as a function (folders in any layout :func:`a2bench.core.videoio.sample_videos` reads,
or a benchmark's targets); ``load_runs`` reads the results database into a pandas DataFrame. Both import the
metric and table packages on call, so ``import a2bench`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a2bench.core.data import load_benchmark
from a2bench.core.videoio import describe_layout, sample_videos
from a2bench.runs.results import ResultsDB

if TYPE_CHECKING:
    import pandas

    from a2bench.metrics.evaluate import Evaluation


def evaluate(
    pred: str | os.PathLike,
    gt: str | os.PathLike | None = None,
    *,
    bench: str | None = None,
    protocol: str = "self",
    metrics: str | Sequence[str] = "animatex",
    samples: str = "strict",
    fps: float | None = None,
    device: str | None = None,
    cache: bool = True,
    progress: Callable[[str], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score the videos in the folder ``pred`` against the folder ``gt`` or the benchmark ``bench``'s targets.

    The result has ``.metrics`` (name → value with per-sample values and provenance), ``.failed``, ``.excluded``,
    ``.to_pandas()`` and ``.to_json()``; the arguments are ``a2bench eval``'s (docs/metrics.md). ``progress`` gets
    each sample id as it is scored, ``say`` a line per folder saying what was read there.
    """
    from a2bench.metrics.evaluate import evaluate as score  # lazy: torch

    if (gt is None) == (bench is None):
        raise ValueError("give exactly one of gt= (a folder) or bench= (a benchmark name, folder or HF export)")
    predictions = _read(pred, say)
    if gt is not None:
        targets: dict[str, Any] = _read(gt, say)
        info: dict[str, Any] = {"gt": str(gt)}
    else:
        benchmark = load_benchmark(bench)
        targets = {sample.id: (lambda s=sample: s.task(protocol).target) for sample in benchmark}
        location = str(benchmark.location) if benchmark.location else None
        info = {"bench": {"name": benchmark.name, "version": benchmark.version, "location": location},
                "protocol": protocol}  # fmt: skip
    return score(predictions, targets, metrics, device=device, cache_dir=cache, progress=progress,
                 info={"pred": str(pred), **info}, samples=samples, fps=fps)  # fmt: skip


def _read(folder: str | os.PathLike, say: Callable[[str], None] | None) -> dict[str, Any]:
    sources = dict(sample_videos(folder))
    if say is not None:
        say(f"{folder}: read {describe_layout(sources)}")
    return sources


def load_runs(db: str | os.PathLike | None = None, runs: Sequence[str] | None = None) -> pandas.DataFrame:
    """Every per-sample value of the runs in the results database ``db`` (default: ``$A2BENCH_HOME/results.db``)
    as a long DataFrame: one row per (run, sample, metric) with the run's model, benchmark, version, protocol,
    status and the recipe id. ``runs`` picks runs by id (or unique prefix). Aggregates: ``df.groupby(...)``, or
    ``a2bench runs show``.
    """
    import pandas

    store = ResultsDB(Path(db) if db is not None else None)
    try:
        ids = runs if runs is not None else [run.id for run in store.runs()]
        records = [store.load_record(run_id) for run_id in ids]
        rows = []
        for record in records:
            run = record.run
            for name, metric in record.metrics.items():
                rows += [{"run": run.id, "model": run.model, "benchmark": run.benchmark,
                          "benchmark_version": run.benchmark_version, "protocol": run.protocol, "status": run.status,
                          "sample": sample, "metric": name, "recipe": metric.recipe, "value": value}
                         for sample, value in metric.per_sample.items()]  # fmt: skip
    finally:
        store.close()
    columns = ["run", "model", "benchmark", "benchmark_version", "protocol", "status", "sample", "metric", "recipe"]
    return pandas.DataFrame(rows, columns=[*columns, "value"])
