"""``build_report``: collect the given runs, write every requested output into a new folder, swap it into place.

The caller reads the runs (``a2bench report`` from the results database, :func:`a2bench.runs.results.read_records`)
and passes a function returning their records, which is called once the options and ``out`` are checked.

The report is built in a temporary folder beside ``out`` and renamed over it only when complete, so
``out`` holds either the previous report or the new one, never half of one. An existing ``out`` is only
replaced when it is an a2bench report (it holds :data:`MARKER`); any other non-empty folder is refused.
The temporary folders of killed builds are removed by the next build (:mod:`a2bench.core.staging`); a previous
report that a killed build had moved aside without putting the new one in its place is put back first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from a2bench.core.provenance import VERSION
from a2bench.core.record import RunRecord
from a2bench.core.staging import remove_leftovers, staging_folder
from a2bench.reports import tables
from a2bench.reports.collect import ReportData, ReportError, collect
from a2bench.reports.gallery import build_gallery
from a2bench.reports.published import load_published

FORMATS = ("md", "html", "csv", "tex", "json")
MARKER = ".a2bench-report"
FILES = {
    "md": "leaderboard.md",
    "csv": "leaderboard.csv",
    "tex": "leaderboard.tex",
    "json": "report.json",
    "html": "index.html",
}


@dataclass
class ReportOptions:
    out: Path
    source: str = ""  # where the runs come from (the results database), named in the report
    bench: str | None = None  # a benchmark folder (matched by manifest sha256) or a name / name@version filter
    protocol: str | None = None
    formats: tuple[str, ...] = FORMATS
    gallery_samples: int | None = None  # None: every sample; 0: no gallery
    published: bool = True


@dataclass
class ReportResult:
    out: Path
    data: ReportData
    files: list[str] = field(default_factory=list)  # relative to out

    @property
    def index(self) -> Path | None:
        return self.out / FILES["html"] if FILES["html"] in self.files else None


Progress = Callable[[str], None]


def build_report(
    options: ReportOptions,
    runs: Callable[[], Sequence[RunRecord]],
    progress: Progress | None = None,
    note: Progress | None = None,
) -> ReportResult:
    """Write the report of the records ``runs()`` returns to ``options.out`` (see the module docstring for how it is
    replaced); a wrong format or ``out`` is reported before the runs are read. ``note`` gets a line for each folder
    of a killed build removed, put back or, in use by a running build, left alone."""
    unknown = sorted(set(options.formats) - set(FORMATS))
    if unknown or not options.formats:
        raise ReportError(f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}")
    say = progress or (lambda message: None)
    out = Path(options.out).absolute()
    tell = note or (lambda message: None)
    if out.parent.is_dir():

        def restore(old: Path) -> None:  # killed between moving the previous report aside and renaming the new one
            if not out.exists() and (old / "report" / MARKER).is_file():
                os.replace(old / "report", out)
                tell(f"{out}: put back the previous report, which a killed build had moved to {old}")

        remove_leftovers(out, "old", tell, salvage=restore)
        remove_leftovers(out, "tmp", tell)
    _check_target(out)
    data = collect(runs(), options.source, bench=options.bench, protocol=options.protocol)
    published = load_published() if options.published else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(out) as tmp:
        files = _write(tmp, data, published, options, say)
        (tmp / MARKER).write_text(json.dumps({"format": "a2bench-report", "version": 1}) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it 0700; a published report must be readable
        _swap(tmp, out)
    return ReportResult(out, data, files)


def _write(tmp: Path, data: ReportData, published, options: ReportOptions, say: Progress) -> list[str]:
    files: list[str] = []
    plots: dict = {}
    gallery: dict = {}
    if "html" in options.formats:
        from a2bench.reports.plots import group_plots  # lazy: matplotlib, for HTML reports only

        for group in data.groups:
            say(f"plots: {group.title}")
            plots[group.slug] = group_plots(group, tmp)
            if options.gallery_samples != 0 and group.bench is not None:
                count = len(group.samples) if options.gallery_samples is None else options.gallery_samples
                say(f"gallery: {group.title} ({min(count, len(group.samples))} composite videos)")
                gallery[group.slug] = build_gallery(group, tmp, options.gallery_samples)
        files += sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    info = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "a2bench_version": VERSION,
        "db": data.source,
    }
    texts: dict[str, str] = {}
    if "md" in options.formats:
        texts["md"] = tables.markdown(data, published)
    if "csv" in options.formats:
        texts["csv"] = tables.csv_text(data)
    if "tex" in options.formats:
        texts["tex"] = tables.latex(data, published)
    if "json" in options.formats:
        extra = {
            **info,
            "plots": {slug: [asdict(p) for p in items] for slug, items in plots.items()},
            "gallery": {slug: [asdict(i) for i in items] for slug, items in gallery.items()},
        }
        texts["json"] = json.dumps(tables.report_json(data, published, extra), indent=1, ensure_ascii=False) + "\n"
    for fmt, text in texts.items():
        (tmp / FILES[fmt]).write_text(text, encoding="utf-8")
        files.append(FILES[fmt])
    if "html" in options.formats:
        from a2bench.reports import html  # lazy: matplotlib (its plots), for HTML reports only

        downloads = [FILES[f] for f in ("md", "csv", "tex", "json") if f in texts]
        page = html.render(data, published, plots, gallery, info, downloads)
        (tmp / FILES["html"]).write_text(page, encoding="utf-8")
        files.append(FILES["html"])
    return files


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ReportError(
            f"{out}: exists, is not empty and is not an a2bench report; choose another --out "
            "(a report folder is replaced as a whole)"
        )


def _swap(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; a previous report is moved aside first (into a locked staging folder, which a
    later build salvages if this process is killed in between) and deleted after."""
    if not out.exists():
        os.replace(tmp, out)
        return
    with staging_folder(out, "old") as old:
        os.replace(out, old / "report")
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old / "report", out)  # put the previous report back
            raise
