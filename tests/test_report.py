"""``a2bench report``: tables equal the database, ranking rules, published numbers, plots, gallery, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from a2bench.cli import main
from a2bench.core import stats
from a2bench.core.adapter import Adapter, Job
from a2bench.core.data import load_benchmark
from a2bench.core.videoio import Video, read_video
from a2bench.models import MODELS
from a2bench.reports.build import MARKER, ReportOptions, ReportResult, build_report
from a2bench.reports.collect import ReportError
from a2bench.reports.gallery import caption_height
from a2bench.reports.published import load_published
from a2bench.reports.tables import format_value
from a2bench.runs.results import ResultsDB, read_records
from a2bench.runs.runner import RunOptions, run

PIXEL = ["psnr", "ssim", "l1", "mae"]


class Blend(Adapter):
    """Half ground truth, half reference image: a deterministic second 'model' better than reference-copy."""

    name = "test-report-blend"

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        out = []
        for job in jobs:
            ref = np.repeat(job.reference()[None].astype(np.int16), job.num_frames, axis=0)
            out.append(Video(((job.task.target.frames.astype(np.int16) + ref) // 2).astype(np.uint8), job.fps))
        return out


class Flaky(Adapter):
    """Returns the ground truth except on one sample, where it fails: an incomplete run that scores very well."""

    name = "test-report-flaky-model-with-a-rather-long-name"

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        if any(job.sample.id == "s001" for job in jobs):
            raise RuntimeError("simulated out-of-memory")
        return [job.task.target for job in jobs]


@pytest.fixture(scope="module")
def runs(tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A database with ranked, incomplete, partial, oracle and cross-protocol runs on the tiny synth."""
    with MODELS.temporary(Blend.name, Blend), MODELS.temporary(Flaky.name, Flaky):
        folder = tmp_path_factory.mktemp("report-runs")
        db = folder / "r.db"
        ids = {}
        made = [
            ("reference-copy", "self", None),
            (Blend.name, "self", None),
            ("gt-oracle", "self", None),
            (Flaky.name, "self", None),
            ("reference-copy-limit", "self", 2),
            ("reference-copy-psnr", "self", None),
            ("reference-copy-cross", "cross", None),
            (Blend.name + "-cross", "cross", None),
        ]
        for key, protocol, limit in made:
            model = key.removesuffix("-limit").removesuffix("-cross").removesuffix("-psnr")
            metrics = ["psnr"] if key.endswith("-psnr") else PIXEL
            options = RunOptions(
                model=model, bench=str(tiny_synth), protocol=protocol, limit=limit, metrics=metrics, db=db,
                out=folder / key,
            )  # fmt: skip
            ids[key] = run(options).run.id
        yield db, ids


def report_of(db: Path, run_ids: list[str] | None = None, **options) -> ReportResult:
    """A report of the runs ``run_ids`` (default: all) of the database ``db``, as ``a2bench report`` builds it."""
    return build_report(ReportOptions(source=str(db), **options), lambda: read_records(db, run_ids))


@pytest.fixture(scope="module")
def report(runs, tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory):
    db, ids = runs
    out = tmp_path_factory.mktemp("report") / "out"
    result = report_of(db, out=out, bench=str(tiny_synth))
    return result, db, ids


def _csv(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))


def _self_group(doc: dict) -> dict:
    return next(g for g in doc["groups"] if g["protocol"] == "self")


def test_csv_and_json_values_equal_the_database(report) -> None:
    result, db, ids = report
    store = ResultsDB(db)
    rows = _csv(result.out)
    doc = json.loads((result.out / "report.json").read_text())
    assert doc["format"] == "a2bench-report"
    assert {r["run_id"] for r in rows} == set(ids.values())
    for row in rows:
        stored = store.metrics(row["run_id"])
        assert set(stored) == ({"psnr"} if row["run_id"] == ids["reference-copy-psnr"] else set(PIXEL))
        for metric, detail in stored.items():
            assert float(row[metric]) == detail["value"]  # full precision, not rounded
    for group in doc["groups"]:
        for entry in group["runs"]:
            stored = store.metrics(entry["id"])
            assert {k: v["value"] for k, v in entry["metrics"].items()} == {k: v["value"] for k, v in stored.items()}
            assert entry["per_sample"] == store.sample_metrics(entry["id"])
            ok = sum(1 for g in store.run_generations(entry["id"]).values() if g.status == "ok")
            assert entry["samples_ok"] == ok and entry["samples_total"] == 4
        directions = {c["metric"]: c["higher_is_better"] for c in group["columns"]}
        assert directions == {"psnr": True, "ssim": True, "l1": False, "mae": False}


def test_runs_of_different_protocols_are_separate_tables(report) -> None:
    result, _, ids = report
    doc = json.loads((result.out / "report.json").read_text())
    by_protocol = {g["protocol"]: {r["id"] for r in g["runs"]} for g in doc["groups"]}
    assert by_protocol["cross"] == {ids["reference-copy-cross"], ids[Blend.name + "-cross"]}
    assert ids["reference-copy"] in by_protocol["self"] and not by_protocol["self"] & by_protocol["cross"]
    md = (result.out / "leaderboard.md").read_text()
    assert md.count("\n## synth ") == 2 and "· self-driven" in md and "· cross-driven" in md


def test_best_values_are_marked_in_each_metrics_direction(report) -> None:
    result, db, ids = report
    store = ResultsDB(db)
    ranked = [ids["reference-copy"], ids[Blend.name]]  # the only complete, full, non-oracle self runs
    values = {rid: {m: v["value"] for m, v in store.metrics(rid).items()} for rid in ranked}
    expected = {}
    for metric, higher in {"psnr": True, "ssim": True, "l1": False, "mae": False}.items():
        pick = max if higher else min
        expected[metric] = pick(ranked, key=lambda rid, m=metric: values[rid][m])
    # The blend is closer to the ground truth: best everywhere, including l1 where best means lowest.
    assert set(expected.values()) == {ids[Blend.name]}
    group = _self_group(json.loads((result.out / "report.json").read_text()))
    for entry in group["runs"]:
        for metric, value in entry["metrics"].items():
            assert value["best"] == (entry["id"] == expected[metric]), (entry["label"], metric)
    best_values = {m: values[expected[m]][m] for m in expected}
    assert format_value("l1", best_values["l1"]).endswith(("E-03", "E-04", "E-05"))

    md = (result.out / "leaderboard.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| # |"))
    assert "psnr ↑" in header and "ssim ↑" in header and "l1 ↓" in header and "mae ↓" in header
    blend_row = next(line for line in md.splitlines() if f"`{ids[Blend.name]}`" in line)
    copy_row = next(line for line in md.splitlines() if f"`{ids['reference-copy']}`" in line)
    for metric, value in best_values.items():
        assert f"**{format_value(metric, value)}**" in blend_row
        assert f"**{format_value(metric, values[ids['reference-copy']][metric])}**" not in copy_row
    assert blend_row.startswith("| 1 |") and copy_row.startswith("| 2 |")

    tex = (result.out / "leaderboard.tex").read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{table}"):
        assert rule in tex
    assert r"PSNR*$\uparrow$" in tex and r"SSIM$\uparrow$" in tex and r"L1$\downarrow$" in tex
    self_table = tex.split(r"\begin{table}")[1]
    tex_blend = next(line for line in self_table.splitlines() if line.startswith("test-report-blend"))
    for metric, value in best_values.items():
        assert rf"\textbf{{{format_value(metric, value)}}}" in tex_blend
    assert r"\textbf" not in next(line for line in self_table.splitlines() if line.startswith("reference-copy"))


def test_incomplete_partial_and_oracle_runs_are_shown_but_never_ranked(report) -> None:
    result, _, ids = report
    group = _self_group(json.loads((result.out / "report.json").read_text()))
    entries = {e["id"]: e for e in group["runs"]}
    flaky, oracle, partial = entries[ids[Flaky.name]], entries[ids["gt-oracle"]], entries[ids["reference-copy-limit"]]
    # The flaky run and the oracle return the ground truth: their values beat every ranked run ...
    assert flaky["metrics"]["psnr"]["value"] == 100.0 and oracle["metrics"]["psnr"]["value"] == 100.0
    # ... and still get no rank and no "best" mark.
    for entry, kind, note in (
        (flaky, "unranked", "incomplete: 3/4"),
        (partial, "unranked", "partial: 2 of the benchmark's 4"),
        (oracle, "oracle", "oracle"),
    ):
        assert entry["kind"] == kind and entry["rank"] is None and not entry["ranked"]
        assert note in entry["note"]
        assert not any(m["best"] for m in entry["metrics"].values())
    assert flaky["samples_ok"] == 3 and "s001" in flaky["failed"]
    kinds = [e["kind"] for e in group["runs"]]
    assert kinds == sorted(kinds, key=["ranked", "unranked", "oracle"].index)  # ranked first, oracles last
    md = (result.out / "leaderboard.md").read_text()
    oracle_row = next(line for line in md.splitlines() if f"`{ids['gt-oracle']}`" in line)
    assert oracle_row.startswith("| – | gt-oracle (oracle)") and "**" not in oracle_row
    flaky_row = next(line for line in md.splitlines() if f"`{ids[Flaky.name]}`" in line)
    assert flaky_row.startswith("| – |") and "**" not in flaky_row and "incomplete" in flaky_row
    tex = (result.out / "leaderboard.tex").read_text()
    assert r"gt-oracle\textsuperscript{\ddag}" in tex
    assert r"test-report-flaky-model-with-a-rather-long-name\textsuperscript{\dag}" in tex
    html = (result.out / "index.html").read_text()
    oracle_body = html.split('<tbody class="oracle">')[1].split("</tbody>")[0]
    assert ids["gt-oracle"] in oracle_body and " best" not in oracle_body


def test_runs_scored_on_different_metrics_are_ranked_on_the_metrics_they_share(report) -> None:
    result, _, ids = report
    group = _self_group(json.loads((result.out / "report.json").read_text()))
    entries = {e["id"]: e for e in group["runs"]}
    psnr_only, copy, blend = (entries[ids[k]] for k in ("reference-copy-psnr", "reference-copy", Blend.name))
    assert group["ranked_on"] == ["psnr"]  # the one metric all three ranked runs have
    assert [e["kind"] for e in (psnr_only, copy, blend)] == ["ranked"] * 3
    assert blend["metrics"]["psnr"]["value"] > copy["metrics"]["psnr"]["value"] == psnr_only["metrics"]["psnr"]["value"]
    assert (blend["rank"], copy["rank"], psnr_only["rank"]) == (1, 2, 2)  # same videos, same psnr: a tie
    assert set(psnr_only["metrics"]) == {"psnr"}
    md = (result.out / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if f"`{ids['reference-copy-psnr']}`" in line).split(" | ")
    assert row[-4:-1] == ["–"] * 3 and row[-1] == "ranked; not scored on ssim, l1, mae |"
    assert "Ranked on the metrics every ranked run has: psnr." in md


def test_published_numbers_are_present_labelled_and_separate(report) -> None:
    result, _, ids = report
    published = load_published()
    assert published.source["arxiv"] == "2410.10306v2" and published.source["tables"] == [1, 2]
    table1, table2 = published.tables
    assert (table1.table, table1.protocol, table2.table, table2.protocol) == (1, "cross", 2, "self")
    assert dict(table1.rows)["Animate-X"] == [13.60, 0.452, 1.02e-04, 0.430, 26.11, 32.23, 703.87]
    assert dict(table2.rows)["LIA (ICLR22)"][2] == 9.70e-05 and len(table2.rows) == 10
    columns = ["psnr", "ssim", "l1", "lpips_disco", "fid_clean", "fid_vid", "fvd_disco"]
    assert [c.metric for c in published.columns] == columns

    md = (result.out / "leaderboard.md").read_text()
    head, section = md.split("## Published numbers (as reported by the paper)")
    assert "Animate-X" not in head and all(run_id not in section for run_id in ids.values())
    assert "| Animate-X | **13.60** | **0.452** | **1.02E-04** |" in section
    assert (
        "PSNR* = `psnr`" in section and "LPIPS = `lpips_disco`" in section and "rows were recovered" in section.lower()
    )
    doc = json.loads((result.out / "report.json").read_text())
    assert doc["published"]["label"] == "as reported by the paper"
    assert all(r["model"] != "Animate-X" for g in doc["groups"] for r in g["runs"])
    html = (result.out / "index.html").read_text()
    assert 'id="published"' in html and "as reported by the paper" in html
    assert html.index('id="published"') > html.rindex('class="leaderboard"')
    tex = (result.out / "leaderboard.tex").read_text()
    assert r"\label{tab:animatex-a2bench-1}" in tex and r"\textbf{1.02E-04}" in tex


def test_gallery_composites_decode_with_every_column(report, tiny_synth: Path) -> None:
    result, _, ids = report
    doc = json.loads((result.out / "report.json").read_text())
    bench = load_benchmark(tiny_synth)
    width, height = bench.manifest.width, bench.manifest.height
    for group in doc["groups"]:
        items = doc["gallery"][group["slug"]]
        assert [i["sample_id"] for i in items] == ["s000", "s001", "s002", "s003"]
        shown = [r for r in group["runs"] if not r["oracle"]]
        for item in items:
            path = result.out / item["video"]
            video = read_video(path)
            assert video.num_frames == 12 == item["frames"]
            assert video.size == ((3 + len(shown)) * width, height + caption_height(width))
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert [c["label"] for c in item["cells"][3:]] == [r["label"] for r in shown]
        # Column 3 is the ground truth; the blend run's column lies between it and the reference.
        item = items[0]
        frames = read_video(result.out / item["video"]).frames[:, caption_height(width) :].astype(float)
        task = bench["s000"].task(group["protocol"])
        truth = frames[:, :, 2 * width : 3 * width]
        assert np.abs(truth - task.target.frames).mean() < 4  # H.264 at crf 17
        reference = frames[:, :, :width]
        assert np.abs(reference - bench["s000"].reference()[None]).mean() < 4
    flaky_cell = next(
        c for i in doc["gallery"][_self_group(doc)["slug"]] if i["sample_id"] == "s001" for c in i["cells"]
        if c["run_id"] == ids[Flaky.name]
    )  # fmt: skip
    assert "simulated out-of-memory" in flaky_cell["error"]


def test_plots_exist_and_are_pngs(report) -> None:
    result, _, _ = report
    doc = json.loads((result.out / "report.json").read_text())
    for group in doc["groups"]:
        kinds = {p["kind"]: p["path"] for p in doc["plots"][group["slug"]]}
        assert set(kinds) == {"bars", "distributions", "categories"}
        for path in kinds.values():
            with Image.open(result.out / path) as image:
                assert image.format == "PNG" and image.width > 600 and image.height > 200
    html = (result.out / "index.html").read_text()
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert not src.startswith(("/", "http")) and (result.out / src).is_file()


def test_html_is_static_self_contained_and_sortable(report) -> None:
    result, _, _ = report
    html = (result.out / "index.html").read_text()
    assert "<script src" not in html and "<link" not in html  # no CDN: CSS and JS are inline
    assert html.count('class="leaderboard"') == 2 and "th.sortable" in html and "aria-sort" in html
    videos = re.findall(r"<video [^>]*>", html)
    assert len(videos) == 8
    for tag in videos:
        for attribute in ("muted", "loop", "controls", "playsinline"):
            assert f" {attribute}" in tag
        src = re.search(r'src="([^"]+)"', tag).group(1)
        assert not src.startswith(("/", "http")) and (result.out / src).is_file()
    assert (result.out / MARKER).is_file()
    assert not [p for p in result.out.parent.iterdir() if p.name.startswith(".out.")]  # no temp folders left


def test_bootstrap_intervals_are_seeded_and_centred_on_the_stored_value(report) -> None:
    result, db, ids = report
    store = ResultsDB(db)
    per_sample = store.sample_metrics(ids["reference-copy"])["psnr"]
    frames = {sid: g.num_frames for sid, g in store.run_generations(ids["reference-copy"]).items()}
    values, weights = list(per_sample.values()), [frames[s] for s in per_sample]
    assert stats.weighted_mean(values, weights) == pytest.approx(store.metrics(ids["reference-copy"])["psnr"]["value"])
    low, high = stats.bootstrap_ci(values, weights=weights)
    assert low <= stats.weighted_mean(values, weights) <= high and low < high
    assert (low, high) == stats.bootstrap_ci(values, weights=weights)  # same seed, same interval
    group = _self_group(json.loads((result.out / "report.json").read_text()))
    entry = next(e for e in group["runs"] if e["id"] == ids["reference-copy"])
    assert entry["metrics"]["psnr"]["ci95"] == pytest.approx([low, high])


def test_number_formats_follow_the_paper_tables() -> None:
    assert format_value("l1", 1.02e-04) == "1.02E-04"
    assert format_value("psnr", 13.6) == "13.60" and format_value("ssim", 0.4521) == "0.452"
    assert format_value("fvd_disco", 703.871) == "703.87" and format_value("l1", None) == "–"


def test_cli_writes_and_replaces_a_report(runs, tiny_synth: Path, tmp_path: Path) -> None:
    db, ids = runs
    out = tmp_path / "site"
    args = ["report", "--out", str(out), "--db", str(db), "--bench", str(tiny_synth)]
    result = CliRunner().invoke(main, [*args, "--all", "--gallery-samples", "1", "--format", "html,csv"])
    assert result.exit_code == 0, result.output
    assert f"open {out / 'index.html'}" in result.output
    assert "report: gallery: " in result.output  # each step as a plain line: stderr is not a terminal here
    assert sorted(p.name for p in (out / "gallery").rglob("*.mp4")) == ["s000.mp4", "s000.mp4"]
    assert (out / "leaderboard.csv").is_file() and not (out / "leaderboard.md").exists()
    # Again, other options: the folder is replaced as a whole.
    result = CliRunner().invoke(
        main, [*args, "--runs", ids["reference-copy"][:6], "--format", "md", "--protocol", "self"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "leaderboard.md"]
    assert ids["reference-copy"] in (out / "leaderboard.md").read_text()


def test_a_failed_build_leaves_the_previous_report(runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = runs
    out = tmp_path / "site"
    report_of(db, out=out, formats=("md", "html"), gallery_samples=0)
    before = (out / "index.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("a2bench.reports.html.render", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        report_of(db, out=out, formats=("md", "html"), gallery_samples=0)
    assert (out / "index.html").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # temporary folders removed


def test_clear_errors(runs, tmp_path: Path) -> None:
    db, _ = runs
    cli = CliRunner()
    missing = cli.invoke(main, ["report", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "a")])
    assert missing.exit_code == 1 and "no results database" in missing.output
    assert not (tmp_path / "missing.db").exists()  # reading never creates a database
    ResultsDB(tmp_path / "empty.db").close()
    empty = cli.invoke(main, ["report", "--db", str(tmp_path / "empty.db"), "--out", str(tmp_path / "a")])
    assert empty.exit_code == 1 and "no runs recorded" in empty.output
    unknown = cli.invoke(main, ["report", "--runs", "nope", "--db", str(db), "--out", str(tmp_path / "b")])
    assert unknown.exit_code == 1 and "no run 'nope'" in unknown.output
    both = cli.invoke(main, ["report", "abc", "--all", "--db", str(db)])
    assert both.exit_code == 2 and "not both" in both.output
    other = cli.invoke(main, ["report", "--bench", "elsewhere", "--db", str(db), "--out", str(tmp_path / "c")])
    assert other.exit_code == 1 and "the runs are on: synth@" in other.output
    fmt = cli.invoke(main, ["report", "--format", "pdf", "--db", str(db), "--out", str(tmp_path / "d")])
    assert fmt.exit_code == 1 and "unknown format(s) pdf" in fmt.output
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    refused = cli.invoke(main, ["report", "--db", str(db), "--out", str(precious), "--format", "md"])
    assert refused.exit_code == 1 and "not an a2bench report" in refused.output
    assert (precious / "thesis.tex").read_text() == "keep me"
    with pytest.raises(ReportError, match="no selected run uses the cross protocol"):
        report_of(db, [_first_self_run(db)], out=tmp_path / "e", protocol="cross")


def test_without_the_benchmark_files_tables_still_work(runs, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    with sqlite3.connect(runs[0]) as source, sqlite3.connect(db) as conn:
        source.backup(conn)  # as runs made before provenance.bench were: their command lines are pytest's
        conn.execute("UPDATE runs SET provenance = json_remove(provenance, '$.bench')")
    result = report_of(db, out=tmp_path / "r", formats=("html", "json"))
    doc = json.loads((result.out / "report.json").read_text())
    assert all(not items for items in doc["gallery"].values())
    assert all({p["kind"] for p in doc["plots"][g["slug"]]} == {"bars", "distributions"} for g in doc["groups"])
    assert "pass --bench FOLDER" in (result.out / "index.html").read_text()
    shutil.rmtree(result.out)


def _first_self_run(db: Path) -> str:
    return next(r.id for r in ResultsDB(db).runs() if r.protocol == "self")
