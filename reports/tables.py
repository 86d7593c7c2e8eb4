"""Leaderboard tables as Markdown, CSV, LaTeX (booktabs) and JSON, from :mod:`a2bench.reports.collect` data.

Numbers are printed per metric as the Animate-X tables print them (PSNR 2 decimals, SSIM 3, L1 in
scientific notation such as ``1.02E-04``, ...); CSV and JSON carry the stored values at full precision.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import Any

from a2bench.reports.collect import Column, Entry, Group, ReportData
from a2bench.reports.published import PROTOCOL_NAMES, Published, PublishedColumn

_FORMATS = {
    "psnr": ".2f",
    "psnr_uint8_legacy": ".2f",
    "ssim": ".3f",
    "ssim_rgb": ".3f",
    "l1": ".2E",
    "mae": ".4f",
    "lpips": ".3f",
    "lpips_disco": ".3f",
    "fid": ".2f",
    "fid_clean": ".2f",
    "fid_cleanfid": ".2f",
    "fid_vid": ".2f",
    "fvd": ".2f",
    "fvd_disco": ".2f",
    "fvd_i3d400": ".2f",
    "fvd_i3d400_16f": ".2f",
    "fvd_videomae": ".2f",
}
DASH = "–"


def format_value(metric: str, value: float | None) -> str:
    """A value as the paper tables print that metric (``.4g`` for metrics they do not have)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return format(value, _FORMATS.get(metric, ".4g"))


def protocol_name(protocol: str) -> str:
    return PROTOCOL_NAMES.get(protocol, protocol)


def samples_text(entry: Entry) -> str:
    return f"{entry.samples_ok}/{entry.samples_total}"


def status_text(entry: Entry) -> str:
    """``ranked`` (and which columns it lacks), else why not."""
    if not entry.ranked:
        return entry.note
    return f"ranked; not scored on {', '.join(entry.lacks)}" if entry.lacks else "ranked"


def count_text(counts: tuple[int, int]) -> str:
    """``n = 48`` (both sides), or ``n = 47 / 48`` (prediction / ground truth)."""
    n_pred, n_target = counts
    return f"n = {n_pred}" if n_pred == n_target else f"n = {n_pred} / {n_target}"


def _document(
    head: list[str],
    data: ReportData,
    published: Published | None,
    group_lines: Callable[[Group], list[str]],
    published_lines: Callable[[Published], list[str]],
) -> str:
    """``head``, then each group's table, then the published numbers, as one text (Markdown or LaTeX)."""
    out = list(head)
    for group in data.groups:
        out += group_lines(group)
    if published is not None:
        out += published_lines(published)
    return "\n".join(out).rstrip() + "\n"


# -- Markdown ------------------------------------------------------------------------------------------
def markdown(data: ReportData, published: Published | None) -> str:
    out = ["# a2bench leaderboard", ""]
    out += [
        "One table per benchmark version and protocol. **Bold**: best value among ranked runs; ↑ higher is "
        "better, ↓ lower is better. Runs that are incomplete, partial or oracles are listed with the reason "
        "and never ranked. `#` orders ranked runs by their mean rank over the table's metrics.",
        "",
    ]
    return _document(out, data, published, markdown_group, markdown_published)


def markdown_group(group: Group) -> list[str]:
    head = ["#", "model", "run", "protocol", "benchmark", "date", "samples"]
    head += [f"{c.key} {c.arrow}" for c in group.columns] + ["status"]
    align = ["---:", "---", "---", "---", "---", "---", "---:"] + ["---:"] * len(group.columns) + ["---"]
    lines = [
        f"## {group.benchmark} {group.version} · {protocol_name(group.protocol)}",
        "",
        f"Benchmark `{group.benchmark}` version `{group.version}` (manifest sha256 `{group.manifest_sha256[:12]}…`), "
        f"protocol `{group.protocol}`, {group.samples_total} samples.",
        "",
        _md_row(head),
        _md_row(align),
    ]
    for e in group.entries:
        cells = [
            str(e.rank) if e.rank is not None else DASH,
            _md_escape(e.label) + (" (oracle)" if e.oracle else ""),
            f"`{e.run.id}`",
            e.run.protocol,
            _md_escape(f"{e.run.benchmark} {e.run.benchmark_version}"),
            e.date,
            samples_text(e),
        ]
        for c in group.columns:
            text = format_value(c.name, e.values.get(c.key))
            cells.append(f"**{text}**" if c.key in e.best else text)
        cells.append(_md_escape(status_text(e)))
        lines.append(_md_row(cells))
    counted = [
        f"`{c.key}` " + ", ".join(f"{_md_escape(e.label)} {count_text(e.counts[c.key])}" for e in group.entries
                                  if c.key in e.counts)
        for c in group.columns
        if any(c.key in e.counts for e in group.entries)
    ]  # fmt: skip
    if group.ranked_on and len(group.ranked_on) < len(group.columns):
        lines += ["", f"Ranked on the metrics every ranked run has: {', '.join(group.ranked_on)}. "
                  f"{DASH}: a metric the run was not scored with (`a2bench score RUN --metrics` adds it)."]  # fmt: skip
    if counted:
        lines += ["", "Feature vectors per side (prediction / ground truth) behind each distribution metric: "
                  + "; ".join(counted) + ". Below the feature dimension a Fréchet distance is biased upward by n "
                  "(docs/metrics.md, 'Sample size')."]  # fmt: skip
    return [*lines, ""]


def markdown_published(published: Published) -> list[str]:
    source = published.source
    mapping = ", ".join(f"{c.header} = `{c.metric}`" for c in published.columns)
    lines = [
        "## Published numbers (as reported by the paper)",
        "",
        f"{source['paper']}, arXiv {source['arxiv']}, Tables {' and '.join(map(str, source['tables']))}. "
        f"{source['how_recovered']}",
        "",
        f"Columns and the a2bench recipes that compute them (the default `animatex` metric set): {mapping}. "
        "These numbers are on the paper's A2Bench test set, which is not public; they are shown for reference "
        "and are not ranked with the runs measured here.",
        "",
    ]
    lines += [f"- {note}" for note in source.get("notes", [])] + [""]
    for table in published.tables:
        head = ["method"] + [f"{c.header} {c.arrow}" for c in published.columns]
        lines += [f"### {table.title}", "", _md_row(head), _md_row(["---"] + ["---:"] * len(published.columns))]
        for method, marked in table.marked_rows(published.columns):
            cells = [_md_escape(method)]
            for column, value, best in marked:
                text = format_value(column.metric, value)
                cells.append(f"**{text}**" if best else text)
            lines.append(_md_row(cells))
        lines.append("")
    return lines


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- CSV -----------------------------------------------------------------------------------------------
CSV_FIELDS = [
    "benchmark",
    "benchmark_version",
    "manifest_sha256",
    "protocol",
    "run_id",
    "model",
    "kind",
    "rank",
    "mean_rank",
    "status",
    "note",
    "samples_ok",
    "samples_total",
    "date",
]


def csv_text(data: ReportData) -> str:
    """One row per run; one column per metric key (full precision; empty where a run lacks it)."""
    keys: list[str] = []
    for group in data.groups:
        for column in group.columns:
            if column.key not in keys:
                keys.append(column.key)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS + keys)
    for group in data.groups:
        for e in group.entries:
            row = [
                group.benchmark,
                group.version,
                group.manifest_sha256,
                group.protocol,
                e.run.id,
                e.run.model,
                e.kind,
                "" if e.rank is None else e.rank,
                "" if e.mean_rank is None else repr(e.mean_rank),
                e.run.status,
                e.note,
                e.samples_ok,
                e.samples_total,
                e.date,
            ]
            row += [repr(e.values[k]) if k in e.values else "" for k in keys]
            writer.writerow(row)
    return buffer.getvalue()


# -- LaTeX ---------------------------------------------------------------------------------------------
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text).replace("·", r"$\cdot$")


def _tex_arrow(higher: bool) -> str:
    return r"$\uparrow$" if higher else r"$\downarrow$"


def latex(data: ReportData, published: Published | None) -> str:
    out = [
        "% a2bench leaderboard; needs \\usepackage{booktabs}",
        "% Best value among ranked runs in bold. Unranked runs follow the second rule:",
        "% \\dag incomplete or partial, \\ddag oracle (uses the ground truth).",
        "",
    ]
    return _document(out, data, published, latex_group, latex_published)


def latex_group(group: Group) -> list[str]:
    columns = group.columns
    title = f"{group.benchmark} {group.version}, {protocol_name(group.protocol)}"
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{tex_escape(title)}; {group.samples_total} samples. Best in bold.}}",
        rf"\label{{tab:a2bench-{group.slug}}}",
        r"\begin{tabular}{l" + "r" * len(columns) + "}",
        r"\toprule",
        "Method & " + " & ".join(_tex_header(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    ranked = [e for e in group.entries if e.ranked]
    others = [e for e in group.entries if not e.ranked]
    lines += [_tex_row(e, columns) for e in ranked]
    if others:
        if ranked:
            lines.append(r"\midrule")
        lines += [_tex_row(e, columns) for e in others]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return lines


def _tex_header(column: Column) -> str:
    return tex_escape(column.title if column.key == column.name else column.key) + _tex_arrow(column.higher_is_better)


def _tex_row(entry: Entry, columns: list[Column]) -> str:
    mark = r"\textsuperscript{\ddag}" if entry.oracle else ("" if entry.ranked else r"\textsuperscript{\dag}")
    cells = [tex_escape(entry.label) + mark]
    for c in columns:
        text = format_value(c.name, entry.values.get(c.key))
        text = text if text != DASH else "--"
        cells.append(rf"\textbf{{{text}}}" if c.key in entry.best else text)
    return " & ".join(cells) + r" \\"


def latex_published(published: Published) -> list[str]:
    lines = []
    for table in published.tables:
        lines += [
            "% " + "as reported by the paper: " + f"arXiv {published.source['arxiv']}, Table {table.table}",
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{tex_escape(table.title)} (as reported by the paper, arXiv {published.source['arxiv']}).}}",
            rf"\label{{tab:animatex-a2bench-{table.table}}}",
            r"\begin{tabular}{l" + "r" * len(published.columns) + "}",
            r"\toprule",
            "Method & " + " & ".join(_tex_pub_header(c) for c in published.columns) + r" \\",
            r"\midrule",
        ]
        for method, marked in table.marked_rows(published.columns):
            cells = [tex_escape(method)]
            for column, value, best in marked:
                text = format_value(column.metric, value)
                cells.append(rf"\textbf{{{text}}}" if best else text)
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return lines


def _tex_pub_header(column: PublishedColumn) -> str:
    return tex_escape(column.header) + _tex_arrow(column.higher_is_better)


# -- JSON ----------------------------------------------------------------------------------------------
def report_json(data: ReportData, published: Published | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the tables show, at full precision, plus ``extra`` (plots, gallery, created, ...)."""
    groups = []
    for group in data.groups:
        groups.append(
            {
                "slug": group.slug,
                "benchmark": group.benchmark,
                "benchmark_version": group.version,
                "manifest_sha256": group.manifest_sha256,
                "protocol": group.protocol,
                "samples_total": group.samples_total,
                "benchmark_files": group.bench_note,
                "ranked_on": group.ranked_on,
                "columns": [
                    {
                        "key": c.key,
                        "metric": c.name,
                        "title": c.title,
                        "recipe": c.recipe,
                        "higher_is_better": c.higher_is_better,
                    }
                    for c in group.columns
                ],
                "runs": [_entry_json(e) for e in group.entries],
            }
        )
    return {
        "format": "a2bench-report",
        "version": 1,
        "db": data.source,
        "groups": groups,
        "published": published.to_json() if published is not None else None,
        **(extra or {}),
    }


def _entry_json(e: Entry) -> dict[str, Any]:
    return {
        "id": e.run.id,
        "model": e.run.model,
        "label": e.label,
        "kind": e.kind,
        "oracle": e.oracle,
        "ranked": e.ranked,
        "rank": e.rank,
        "mean_rank": e.mean_rank,
        "status": e.run.status,
        "note": e.note,
        "samples_ok": e.samples_ok,
        "samples": e.run.samples,
        "samples_total": e.samples_total,
        "failed": e.failed,
        "started": e.run.started,
        "finished": e.run.finished,
        "identity": e.run.identity,
        "metrics": {
            key: {
                "value": value,
                "best": key in e.best,
                "ci95": list(e.ci[key]) if e.ci.get(key) else None,
                "n_pred": e.counts[key][0] if key in e.counts else None,
                "n_target": e.counts[key][1] if key in e.counts else None,
            }
            for key, value in e.values.items()
        },
        "per_sample": e.per_sample,
    }
