"""n_pred / n_target of distribution metrics, the oracle flag and metric titles: stored in the results database (with
its schema migrations), read back in the run record, shown in reports."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from a2bench.core.record import Run, RunRecord
from a2bench.metrics import METRICS, MetricValue
from a2bench.reports.collect import collect
from a2bench.reports.tables import markdown, report_json
from a2bench.runs.results import SCHEMA_VERSION, Generation, ResultsDB, read_records
from a2bench.runs.runner import RunOptions, run

FID = MetricValue("fid_clean", 41.5, "fid/clean-fid-disco-noclip/v1", False, None, [], n_pred=9, n_target=12)
PSNR = MetricValue("psnr", 21.0, "psnr/disco-float64/v1", True, {"s0": 21.0})


def make_run(db: ResultsDB, run_id: str, model: str) -> None:
    db.save_run(
        Run(run_id, model, {}, "synth", "1", "0" * 64, "self", 0, 1, ["fid_clean", "psnr"], "f", {}, "complete", "2026")
    )
    db.record(run_id, Generation(f"key-{run_id}", "s0", "ok", f"/v/{run_id}.mp4", "abc", 12, 64, 64, "15", None, 1.0))


def test_counts_are_stored_with_the_metric_row(tmp_path: Path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    make_run(db, "r1", "model-a")
    db.save_metrics("r1", {"fid_clean": FID.to_json(), "psnr": PSNR.to_json()})
    stored = db.metrics("r1")
    assert (stored["fid_clean"]["n_pred"], stored["fid_clean"]["n_target"]) == (9, 12)
    assert stored["psnr"]["n_pred"] is None and stored["fid_clean"]["value"] == 41.5
    row = db._conn.execute("SELECT n_pred, n_target FROM metrics WHERE metric = 'fid_clean'").fetchone()
    assert row == (9, 12)  # columns of the row, queryable without parsing its detail


def test_a_schema_2_database_is_migrated_and_its_rows_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the tables as schema 2 created them
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        old.execute(
            "CREATE TABLE metrics (run_id TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, "
            "detail TEXT NOT NULL, PRIMARY KEY (run_id, metric))"
        )
        detail = json.dumps({"recipe": "fid/pytorch-fid-pool3/v1", "higher_is_better": False, "value": 12.5})
        old.execute("INSERT INTO metrics VALUES ('old', 'fid', 12.5, ?)", (detail,))
    db = ResultsDB(path)
    assert db.metrics("old") == {
        "fid": {"recipe": "fid/pytorch-fid-pool3/v1", "higher_is_better": False, "value": 12.5, "n_pred": None,
                "n_target": None, "title": METRICS.get("fid").title}
    }  # fmt: skip
    make_run(db, "new", "model-b")
    db.save_metrics("new", {"fid_clean": FID.to_json()})
    assert db.metrics("new")["fid_clean"]["n_target"] == 12
    db.close()
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION == 4
    assert ResultsDB(path).metrics("old")["fid"]["value"] == 12.5  # opening a migrated file again changes nothing


def test_reports_show_n_where_a_distribution_metric_is_shown(tmp_path: Path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    for run_id, model in (("r1", "model-a"), ("r2", "model-b")):
        make_run(db, run_id, model)
    db.save_metrics("r1", {"fid_clean": FID.to_json(), "psnr": PSNR.to_json()})
    same = MetricValue("fid_clean", 40.0, FID.recipe, False, None, [], n_pred=12, n_target=12)
    db.save_metrics("r2", {"fid_clean": same.to_json(), "psnr": PSNR.to_json()})
    db.close()
    data = collect(read_records(tmp_path / "r.db"), str(tmp_path / "r.db"))
    text = markdown(data, None)
    line = next(line for line in text.splitlines() if line.startswith("Feature vectors per side"))
    assert "`fid_clean` " in line and "model-a n = 9 / 12" in line and "model-b n = 12" in line
    assert "psnr" not in line  # paired metrics have no n
    runs = {run["id"]: run for run in report_json(data, None)["groups"][0]["runs"]}
    assert (runs["r1"]["metrics"]["fid_clean"]["n_pred"], runs["r1"]["metrics"]["fid_clean"]["n_target"]) == (9, 12)
    assert runs["r1"]["metrics"]["psnr"]["n_pred"] is None


def test_a_schema_3_database_gets_oracle_flags_and_titles_from_the_registries(tmp_path: Path) -> None:
    """Runs recorded before schema 4 get what the registries say at migration; what they do not know stays unknown."""
    path = tmp_path / "old.db"
    db = ResultsDB(path)
    for run_id, model in (("oracle", "gt-oracle"), ("copy", "reference-copy"), ("gone", "a-model-no-longer-installed")):
        make_run(db, run_id, model)
        db.save_metrics(run_id, {"psnr": PSNR.to_json(), "retired_metric": {**PSNR.to_json(), "per_sample": None}})
    db.close()
    with sqlite3.connect(path) as old:  # back to schema 3: no oracle flags, no titles
        old.execute("UPDATE runs SET oracle = NULL")
        old.execute("UPDATE metrics SET title = NULL")
        old.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    records = {record.run.id: record for record in read_records(path)}
    assert {rid: r.run.oracle for rid, r in records.items()} == {"oracle": True, "copy": False, "gone": None}
    assert records["copy"].metrics["psnr"].title == METRICS.get("psnr").title
    assert records["copy"].metrics["retired_metric"].title is None
    data = collect(list(records.values()), str(path))
    entries = {e.run.id: e for e in data.groups[0].entries}
    assert entries["oracle"].kind == "oracle" and entries["gone"].kind == "ranked"  # unknown: not an oracle
    titles = {c.name: c.title for c in data.groups[0].columns}
    assert titles == {"psnr": METRICS.get("psnr").title, "retired_metric": "retired_metric"}


def test_runs_store_the_oracle_flag_and_titles_and_exports_carry_them(tiny_synth: Path, tmp_path: Path) -> None:
    options = RunOptions(model="gt-oracle", bench=str(tiny_synth), metrics=["psnr"], db=tmp_path / "r.db",
                         out=tmp_path / "out")  # fmt: skip
    record = ResultsDB(tmp_path / "r.db").load_record(run(options).run.id)
    assert record.run.oracle is True and record.metrics["psnr"].title == "PSNR*"
    doc = record.to_export()
    assert doc["oracle"] is True and doc["metrics"]["psnr"]["title"] == "PSNR*"
    assert RunRecord.from_export(doc, record.source) == record  # the export is the record, losslessly
