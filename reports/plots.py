"""Plots of one leaderboard group (matplotlib, Agg backend, PNG).

- ``bars``: per metric, each run's value with the bootstrap 95 % interval over samples
  (:mod:`a2bench.reports.stats`); distribution metrics (FID, FVD, ...) have one value for the whole set and no
  interval.
- ``distributions``: per metric, each run's per-sample values: a box plus every sample as a dot.
- ``categories``: per metric, each run's mean by character category and by style (from the benchmark
  manifest), frame-weighted as the metric pools frames.

Oracles are left out (their values are the metric's ideal and would flatten every axis); unranked
runs are drawn hatched with the reason in their label. Colours are the Okabe–Ito palette, which stays
distinguishable under the common colour-vision deficiencies.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from a2bench.core.stats import weighted_mean
from a2bench.reports.collect import Column, Entry, Group
from a2bench.reports.tables import format_value

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#000000", "#F0E442")
DPI = 110
LABEL_WIDTH = 22  # characters per line of a run's label


@dataclass(frozen=True)
class Plot:
    kind: str  # bars | distributions | categories
    path: str  # relative to the report folder
    caption: str


def group_plots(group: Group, out: Path, prefix: str = "plots") -> list[Plot]:
    """Write the group's plots under ``out/prefix`` and describe them (paths relative to ``out``)."""
    entries = [e for e in group.entries if not e.oracle and e.values]
    if not entries:
        return []
    folder = out / prefix
    folder.mkdir(parents=True, exist_ok=True)
    colours = {e.run.id: OKABE_ITO[i % len(OKABE_ITO)] for i, e in enumerate(entries)}
    left_out = [e.label for e in group.entries if e.oracle]
    oracle_note = f" Oracles left out: {', '.join(left_out)}." if left_out else ""
    plots = []
    columns = [c for c in group.columns if any(c.key in e.values for e in entries)]
    if columns:
        name = f"{prefix}/{group.slug}-bars.png"
        _bars(entries, columns, colours, out / name)
        plots.append(
            Plot(
                "bars",
                name,
                "Each run's value; whiskers: bootstrap 95 % interval over samples (2000 resamples, seed 0). "
                "Hatched: not ranked." + oracle_note,
            )
        )
    paired = [c for c in columns if any(e.per_sample.get(c.key) for e in entries)]
    if paired:
        name = f"{prefix}/{group.slug}-distributions.png"
        _distributions(entries, paired, colours, out / name)
        plots.append(Plot("distributions", name, "Per-sample values: box (quartiles) and every sample." + oracle_note))
        if group.bench is not None:
            name = f"{prefix}/{group.slug}-categories.png"
            _categories(group, entries, paired, colours, out / name)
            plots.append(
                Plot(
                    "categories",
                    name,
                    "Mean per character category and per style (benchmark manifest); n = samples." + oracle_note,
                )
            )
    return plots


def _label(entry: Entry) -> str:
    text = entry.label if entry.ranked else f"{entry.label} ({entry.note.split(':')[0]})"
    return textwrap.fill(text, LABEL_WIDTH, break_long_words=True, break_on_hyphens=True)


def _grid(count: int, per_row: int) -> tuple[int, int]:
    cols = min(per_row, count)
    return (count + cols - 1) // cols, cols


def _title(column: Column) -> str:
    head = f"{column.key} {column.arrow}"
    return head if column.title in (column.key, column.name) else f"{head}\n{column.title}"


def _row_height(entries: list[Entry]) -> float:
    """Inches per row of panels: enough for every run's (wrapped) label."""
    lines = sum(_label(e).count("\n") + 1 for e in entries)
    return max(1.5, 0.32 * len(entries) + 0.16 * lines) + 0.9


def _bars(entries: list[Entry], columns: list[Column], colours: dict[str, str], path: Path) -> None:
    rows, cols = _grid(len(columns), 3)
    height = _row_height(entries)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols + 1.6, height * rows), squeeze=False, sharey=True)
    y = np.arange(len(entries))
    for index, column in enumerate(columns):
        ax = axes[index // cols][index % cols]
        values = np.array([e.values.get(column.key, np.nan) for e in entries])
        lows, highs = [], []
        for e, v in zip(entries, values, strict=True):
            ci = e.ci.get(column.key)
            lows.append(v - ci[0] if ci else 0.0)
            highs.append(ci[1] - v if ci else 0.0)
        has_ci = any(e.ci.get(column.key) for e in entries)
        bars = ax.barh(
            y,
            np.nan_to_num(values),
            color=[colours[e.run.id] for e in entries],
            edgecolor="#333333",
            linewidth=0.6,
            xerr=np.array([lows, highs]) if has_ci else None,
            error_kw={"ecolor": "#222222", "elinewidth": 1.2, "capsize": 3},
        )
        for bar, e in zip(bars, entries, strict=True):
            if not e.ranked:
                bar.set_hatch("///")
        top = np.nanmax([v + h for v, h in zip(values, highs, strict=True)] + [0.0])
        bottom = min(0.0, np.nanmin(values))
        span = (top - bottom) or 1.0
        for yi, v, h in zip(y, values, highs, strict=True):
            if not np.isnan(v):
                ax.text(v + h + 0.02 * span, yi, format_value(column.name, v), va="center", fontsize=8)
        ax.set_xlim(bottom, top + 0.3 * span)
        ax.set_title(_title(column), fontsize=10)
        if not has_ci:
            ax.text(0.99, 0.01, "one value per set: no CI", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
        _ticks(ax, "x", [*values, top])
        _style(ax, "x")
    for ax in axes[:, 0]:
        ax.set_yticks(y, [_label(e) for e in entries], fontsize=9)
    axes[0][0].set_ylim(len(entries) - 0.5, -0.5)  # first run on top (the axes share y)
    for index in range(len(columns), rows * cols):
        axes[index // cols][index % cols].axis("off")
    _save(fig, path)


def _distributions(entries: list[Entry], columns: list[Column], colours: dict[str, str], path: Path) -> None:
    rows, cols = _grid(len(columns), 3)
    height = _row_height(entries) + 0.3
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols + 1.6, height * rows), squeeze=False, sharey=True)
    rng = np.random.default_rng(0)  # jitter only; fixed so the picture is reproducible
    positions = np.arange(len(entries))
    for index, column in enumerate(columns):
        ax = axes[index // cols][index % cols]
        data = [np.array(list(e.per_sample.get(column.key, {}).values()), dtype=float) for e in entries]
        drawn = [i for i, d in enumerate(data) if len(d)]
        if drawn:
            boxes = ax.boxplot(
                [data[i] for i in drawn],
                positions=positions[drawn],
                orientation="horizontal",
                widths=0.6,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "#222222", "linewidth": 1.4},
            )
            for patch, i in zip(boxes["boxes"], drawn, strict=True):
                patch.set_facecolor(colours[entries[i].run.id])
                patch.set_alpha(0.35)
                if not entries[i].ranked:
                    patch.set_hatch("///")
        for i, d in enumerate(data):
            jitter = rng.uniform(-0.18, 0.18, size=len(d))
            ax.scatter(d, positions[i] + jitter, s=16, color=colours[entries[i].run.id], edgecolor="#222222",
                       linewidth=0.4, zorder=3)  # fmt: skip
        ax.set_title(_title(column), fontsize=10)
        _ticks(ax, "x", [v for d in data for v in d])
        _style(ax, "x")
    axes[0][0].set_yticks(positions, [_label(e) for e in entries], fontsize=9)
    axes[0][0].set_ylim(len(entries) - 0.5, -0.5)
    for ax in axes[1:, 0]:
        ax.set_yticks(positions, [_label(e) for e in entries], fontsize=9)
    for index in range(len(columns), rows * cols):
        axes[index // cols][index % cols].axis("off")
    _save(fig, path)


def _categories(group: Group, entries: list[Entry], columns: list[Column], colours: dict[str, str], path: Path) -> None:
    info = {sid: group.sample_info(sid) for sid in group.samples}
    facets = [("category", 0), ("style", 1)]
    fig, axes = plt.subplots(len(columns), 2, figsize=(12, 2.7 * len(columns) + 0.9), squeeze=False)
    width = 0.8 / len(entries)
    for row, column in enumerate(columns):
        for col, (facet, position) in enumerate(facets):
            ax = axes[row][col]
            names = sorted({v[position] for v in info.values()})
            counts = {n: sum(1 for v in info.values() if v[position] == n) for n in names}
            x = np.arange(len(names))
            e_values = []
            for i, e in enumerate(entries):
                samples = e.per_sample.get(column.key, {})
                means = []
                for n in names:
                    ids = [s for s in samples if info.get(s, ("?", "?"))[position] == n]
                    weights = [e.frames.get(s, 1) for s in ids]
                    means.append(weighted_mean([samples[s] for s in ids], weights) if ids else np.nan)
                e_values.append(means)
                bars = ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(means), width, color=colours[e.run.id],
                              edgecolor="#333333", linewidth=0.5)  # fmt: skip
                if not e.ranked:
                    for bar in bars:
                        bar.set_hatch("///")
            labels = [textwrap.fill(f"{n} (n={counts[n]})", 14) for n in names]
            ax.set_xticks(
                x, labels, fontsize=8, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
            )
            ax.set_title(f"{column.key} {column.arrow} by {facet}", fontsize=10)
            _ticks(ax, "y", [v for d in e_values for v in d])
            _style(ax, "y")
    handles = [
        Patch(facecolor=colours[e.run.id], edgecolor="#333333", hatch=None if e.ranked else "///", label=_label(e))
        for e in entries
    ]
    fig.legend(handles=handles, loc="upper center", ncol=min(4, len(handles)), fontsize=9, frameon=False)
    _save(fig, path, top=1 - 0.75 / fig.get_figheight() * ((len(handles) + 3) // 4))


def _ticks(ax: plt.Axes, axis: str, values: list[float]) -> None:
    """Tick labels like the tables print small values (``4.0E-04``), instead of an offset text that can collide
    with the title."""
    finite = [abs(v) for v in values if v is not None and np.isfinite(v) and v != 0]
    target = ax.xaxis if axis == "x" else ax.yaxis
    if finite and max(finite) < 1e-2:
        target.set_major_formatter(FuncFormatter(lambda v, _: "0" if v == 0 else f"{v:.1E}"))
        target.set_major_locator(MaxNLocator(nbins=4))  # these labels are long: fewer ticks, no overlap


def _style(ax: plt.Axes, axis: str) -> None:
    """Light grid lines along ``axis`` behind the data; no top or right frame."""
    ax.grid(axis=axis, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)


def _save(fig: plt.Figure, path: Path, top: float = 1.0) -> None:
    """Lay out (leaving the figure's top above ``top`` free, for a legend), write the PNG and free the figure."""
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
