"""The static HTML report: ``index.html`` rendered from ``templates/report.html.j2`` (jinja2).

Everything is inline (CSS, a few lines of JS for sorting); plots and videos are files next to it,
linked relatively, so the folder opens from disk and can be published as it is.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from a2bench.reports.collect import Group, ReportData
from a2bench.reports.gallery import Item
from a2bench.reports.plots import Plot
from a2bench.reports.published import Published
from a2bench.reports.tables import DASH, count_text, format_value, protocol_name, samples_text, status_text

SECTIONS = {
    "ranked": "Ranked runs",
    "unranked": "Not ranked: incomplete, partial or unscored runs",
    "oracle": "Oracles: use the ground truth; reference points, never ranked",
}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    data: ReportData,
    published: Published | None,
    plots: dict[str, list[Plot]],
    gallery: dict[str, list[Item]],
    info: dict[str, Any],
    downloads: list[str],
) -> str:
    groups = [_group_view(g, plots.get(g.slug, []), gallery.get(g.slug, []), published) for g in data.groups]
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            groups=groups,
            published=_published_view(published) if published is not None else None,
            info=info,
            downloads=downloads,
        )
    )


def _group_view(group: Group, plots: list[Plot], items: list[Item], published: Published | None) -> dict[str, Any]:
    sections = []
    for kind, title in SECTIONS.items():
        rows = []
        for e in (e for e in group.entries if e.kind == kind):
            cells = []
            for c in group.columns:
                value = e.values.get(c.key)
                ci = e.ci.get(c.key)
                tip = f"95% CI {format_value(c.name, ci[0])} – {format_value(c.name, ci[1])}" if ci else ""
                if c.key in e.counts:
                    tip = f"{count_text(e.counts[c.key])} feature vectors (prediction / ground truth)"
                cells.append(
                    {"text": format_value(c.name, value), "sort": "" if value is None else repr(value),
                     "best": c.key in e.best, "title": tip}
                )  # fmt: skip
            rows.append(
                {
                    "rank": e.rank,
                    "mean_rank": e.mean_rank,
                    "label": e.label,
                    "model": e.run.model,
                    "id": e.run.id,
                    "protocol": e.run.protocol,
                    "benchmark": f"{e.run.benchmark} {e.run.benchmark_version}",
                    "version": e.run.benchmark_version,
                    "date": e.date,
                    "samples": samples_text(e),
                    "samples_ok": e.samples_ok,
                    "status": status_text(e),
                    "failed": e.failed,
                    "kind": e.kind,
                    "cells": cells,
                }
            )
        if rows:
            sections.append({"kind": kind, "title": title, "rows": rows})
    pub = [f"Table {t.table}" for t in published.for_protocol(group.protocol)] if published is not None else []
    return {
        "slug": group.slug,
        "benchmark": group.benchmark,
        "version": group.version,
        "sha": group.manifest_sha256,
        "protocol": group.protocol,
        "protocol_name": protocol_name(group.protocol),
        "samples_total": group.samples_total,
        "bench_note": group.bench_note,
        "has_bench": group.bench is not None,
        "columns": [
            {"key": c.key, "arrow": c.arrow, "title": c.title, "recipe": c.recipe, "higher": c.higher_is_better}
            for c in group.columns
        ],
        "sections": sections,
        "plots": plots,
        "gallery": items,
        "published_tables": pub,
        "dash": DASH,
    }


def _published_view(published: Published) -> dict[str, Any]:
    tables = []
    for table in published.tables:
        rows = []
        for method, marked in table.marked_rows(published.columns):
            cells = [
                {"text": format_value(column.metric, value), "sort": repr(value), "best": best}
                for column, value, best in marked
            ]
            rows.append({"method": method, "cells": cells})
        tables.append({"table": table.table, "title": table.title, "protocol": table.protocol, "rows": rows})
    return {
        "title": published.title,
        "source": published.source,
        "columns": published.columns,
        "tables": tables,
    }
