"""``a2bench gate``: the decision rule, direction, significance, tolerances, coverage and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from a2bench.cli import main
from a2bench.core.record import Run
from a2bench.core.stats import bootstrap_ci
from a2bench.runs.gate import GateError, Tolerance, compare, decide, load_run, parse_metric_spec
from a2bench.runs.results import Generation, ResultsDB

HIGHER = {"psnr": True, "ssim": True, "l1": False, "fid": False}
N = 12


def make_run(
    db: Path,
    run_id: str,
    paired: dict[str, list[float]] | None = None,
    distribution: dict[str, float] | None = None,
    *,
    failed: tuple[str, ...] = (),
    benchmark: str = "synth",
    version: str = "2.0",
    protocol: str = "self",
    recipe_suffix: str = "v1",
    samples: int = N,
) -> str:
    """Write a scored run straight into a results database (no videos: the gate reads rows only)."""
    store = ResultsDB(db)
    ids = [f"s{i:03d}" for i in range(samples)]
    paired, distribution = paired or {}, distribution or {}
    store.save_run(
        Run(
            id=run_id,
            model=f"model-{run_id}",
            identity={"name": run_id},
            benchmark=benchmark,
            benchmark_version=version,
            manifest_sha256=f"{benchmark}-{version}".ljust(64, "0"),
            protocol=protocol,
            seed=0,
            samples=samples,
            metric_names=[*paired, *distribution],
            folder="/nonexistent",
            provenance={},
            status="incomplete" if failed else "complete",
            started="2026-01-01T00:00:00+00:00",
        )
    )
    for sid in ids:
        status = "failed" if sid in failed else "ok"
        store.record(run_id, Generation(f"{run_id}/{sid}", sid, status, error="boom" if status == "failed" else None))
    values = {}
    for name, per_sample in paired.items():
        scored = {sid: float(v) for sid, v in zip(ids, per_sample, strict=True) if sid not in failed}
        values[name] = {
            "value": float(np.mean(list(scored.values()))),
            "recipe": f"{name}/test/{recipe_suffix}",
            "higher_is_better": HIGHER[name],
            "per_sample": scored,
        }
    for name, value in distribution.items():
        values[name] = {"value": value, "recipe": f"{name}/test/{recipe_suffix}", "higher_is_better": HIGHER[name]}
    store.save_metrics(run_id, values)
    store.close()
    return run_id


def gate(db: Path, *args: str):
    return CliRunner().invoke(main, ["gate", "--db", str(db), *args], catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


def psnr_values(offset: float = 0.0, seed: int = 0) -> list[float]:
    return list(25 + np.random.default_rng(seed).normal(0, 2, N) + offset)


# --- pure functions -------------------------------------------------------------------------------


def test_decide_rule() -> None:
    # higher is better: worse means negative differences
    assert decide(-1.0, (-1.5, -0.5), 0.0, True) == "regression"
    assert decide(-1.0, (-1.5, -0.5), 2.0, True) == "ok"  # within tolerance
    assert decide(-1.0, (-2.0, 0.3), 0.0, True) == "ok"  # interval reaches 0: not significant
    assert decide(1.0, (0.5, 1.5), 0.0, True) == "improved"
    # lower is better: worse means positive differences
    assert decide(1.0, (0.5, 1.5), 0.0, False) == "regression"
    assert decide(-1.0, (-1.5, -0.5), 0.0, False) == "improved"
    assert decide(1.0, (-0.1, 2.0), 0.0, False) == "ok"
    # distribution metrics: no interval, tolerance alone decides
    assert decide(2.0, None, 1.0, False) == "regression"
    assert decide(2.0, None, 3.0, False) == "ok"
    assert decide(-2.0, None, 1.0, False) == "improved"
    # equality and floating-point noise are never a regression
    assert decide(0.0, (0.0, 0.0), 0.0, True) == "ok"
    assert decide(-1e-12, (-1e-12, -1e-12), 0.0, True, scale=25.0) == "ok"


def test_bootstrap_ci_is_seeded_and_sane() -> None:
    diffs = np.random.default_rng(1).normal(0.3, 1.0, 50)
    low, high = bootstrap_ci(diffs, 0.95, 2000, seed=7)
    assert (low, high) == bootstrap_ci(diffs, 0.95, 2000, seed=7)
    assert low < diffs.mean() < high
    assert bootstrap_ci(diffs, 0.95, 2000, seed=8) != (low, high)
    narrow = bootstrap_ci(diffs, 0.5, 2000, seed=7)
    assert low < narrow[0] < narrow[1] < high
    assert bootstrap_ci([0.25] * 10) == (0.25, 0.25)
    assert bootstrap_ci([2.0]) == (2.0, 2.0)  # one sample: a point, only the tolerance decides
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_parse_metric_spec() -> None:
    assert parse_metric_spec("psnr:0.5") == ("psnr", Tolerance(0.5))
    assert parse_metric_spec("ssim:1%") == ("ssim", Tolerance(1.0, relative=True))
    assert parse_metric_spec("fid") == ("fid", Tolerance())
    assert Tolerance(1.0, relative=True).absolute(-20.0) == pytest.approx(0.2)
    for bad in ("psnr:abc", "psnr:-1", ":1", "psnr:nan"):
        with pytest.raises(GateError):
            parse_metric_spec(bad)


# --- the command ----------------------------------------------------------------------------------


def test_equal_runs_pass(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values(), "l1": [0.1] * N}, {"fid": 10.0})
    make_run(db, "curr", {"psnr": psnr_values(), "l1": [0.1] * N}, {"fid": 10.0})
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 0, result.output
    assert "gate passed" in result.output
    doc = json.loads((db.parent / "g.json").read_text())
    assert doc["passed"] is True
    assert {v["metric"]: v["verdict"] for v in doc["verdicts"]} == {"psnr": "ok", "l1": "ok", "fid": "ok"}
    psnr = next(v for v in doc["verdicts"] if v["metric"] == "psnr")
    assert psnr["kind"] == "paired" and psnr["ci"] == [0.0, 0.0] and psnr["samples"] == N


def test_clear_regression_fails(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": psnr_values(-3.0)})
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 1, result.output
    assert "REGRESSION" in result.output and "gate FAILED" in result.output
    verdict = json.loads((db.parent / "g.json").read_text())["verdicts"][0]
    assert verdict["verdict"] == "regression"
    assert verdict["diff"] == pytest.approx(-3.0)
    assert verdict["ci"][1] < 0


def test_change_within_tolerance_passes(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values(), "ssim": [0.8] * N})
    make_run(db, "curr", {"psnr": psnr_values(-0.3), "ssim": [0.795] * N})  # consistent, so significant
    assert gate(db, "--baseline", "base", "--current", "curr").exit_code == 1
    ok = gate(db, "--baseline", "base", "--current", "curr", "--metric", "psnr:0.5", "--metric", "ssim:1%")
    assert ok.exit_code == 0, ok.output
    assert gate(db, "--baseline", "base", "--current", "curr", "--metric", "psnr:0.5,ssim:1%").exit_code == 0
    tight = gate(db, "--baseline", "base", "--current", "curr", "--metric", "psnr:0.2")
    assert tight.exit_code == 1
    relative = gate(db, "--baseline", "base", "--current", "curr", "--metric", "ssim:0.5%")
    assert relative.exit_code == 1  # 0.005 worse > 0.5 % of 0.8 = 0.004


def test_tiny_noisy_difference_is_not_a_regression(db: Path) -> None:
    noise = np.random.default_rng(5).normal(0, 1.0, N)
    noise = noise - noise.mean() - 0.05  # the current run is 0.05 dB worse on average, with much noise
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": list(np.array(psnr_values()) + noise)})
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 0, result.output
    verdict = json.loads((db.parent / "g.json").read_text())["verdicts"][0]
    assert verdict["diff"] == pytest.approx(-0.05)
    assert verdict["ci"][0] < 0 < verdict["ci"][1]
    assert verdict["verdict"] == "ok"


def test_direction_follows_higher_is_better(db: Path) -> None:
    make_run(db, "base", {"l1": [0.10] * N, "psnr": psnr_values()})
    make_run(db, "worse", {"l1": [0.12] * N, "psnr": psnr_values(1.0)})  # L1 up is worse, PSNR up is better
    make_run(db, "better", {"l1": [0.08] * N, "psnr": psnr_values(1.0)})
    worse = gate(db, "--baseline", "base", "--current", "worse", "--json", str(db.parent / "w.json"))
    assert worse.exit_code == 1
    verdicts = {v["metric"]: v["verdict"] for v in json.loads((db.parent / "w.json").read_text())["verdicts"]}
    assert verdicts == {"l1": "regression", "psnr": "improved"}
    better = gate(db, "--baseline", "base", "--current", "better", "--json", str(db.parent / "b.json"))
    assert better.exit_code == 0
    verdicts = {v["metric"]: v["verdict"] for v in json.loads((db.parent / "b.json").read_text())["verdicts"]}
    assert verdicts == {"l1": "improved", "psnr": "improved"}


def test_distribution_metric_uses_the_tolerance_only(db: Path) -> None:
    make_run(db, "base", distribution={"fid": 10.0})
    make_run(db, "curr", distribution={"fid": 12.0})
    make_run(db, "good", distribution={"fid": 8.0})
    result = gate(db, "--baseline", "base", "--current", "curr", "--metric", "fid:1", "--json", str(db.parent / "g"))
    assert result.exit_code == 1
    verdict = json.loads((db.parent / "g").read_text())["verdicts"][0]
    assert verdict["kind"] == "distribution" and verdict["ci"] is None and verdict["diff"] == pytest.approx(2.0)
    assert gate(db, "--baseline", "base", "--current", "curr", "--metric", "fid:3").exit_code == 0
    assert gate(db, "--baseline", "base", "--current", "curr", "--metric", "fid:25%").exit_code == 0
    assert gate(db, "--baseline", "base", "--current", "good").exit_code == 0


def test_samples_missing_now_fail_the_gate(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": psnr_values(1.0)}, failed=("s003",))
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 1
    assert "INCOMPLETE" in result.output and "s003 (failed in the current run)" in result.output
    doc = json.loads((db.parent / "g.json").read_text())
    assert doc["incomplete"] == {"s003": "failed in the current run"}
    assert doc["verdicts"][0]["verdict"] == "improved" and doc["verdicts"][0]["samples"] == N - 1
    make_run(db, "short", {"psnr": psnr_values()[:4]}, samples=4)  # like --limit 4
    short = gate(db, "--baseline", "base", "--current", "short")
    assert short.exit_code == 1 and "not generated by the current run" in short.output
    # a sample that failed in the baseline does not count against the current run
    make_run(db, "older", {"psnr": psnr_values()}, failed=("s001",))
    assert gate(db, "--baseline", "older", "--current", "base").exit_code == 0


def test_mismatched_benchmark_or_protocol_is_a_usage_error(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "other", {"psnr": psnr_values()}, version="3.0")
    make_run(db, "cross", {"psnr": psnr_values()}, protocol="cross")
    result = gate(db, "--baseline", "base", "--current", "other")
    assert result.exit_code == 2
    assert "different benchmarks" in result.output and "version '2.0' vs '3.0'" in result.output
    allowed = gate(db, "--baseline", "base", "--current", "other", "--allow-different-benchmark")
    assert allowed.exit_code == 0 and "compared anyway" in allowed.output
    protocol = gate(db, "--baseline", "base", "--current", "cross")
    assert protocol.exit_code == 2 and "protocols differ" in protocol.output


def test_usage_errors_exit_2(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": psnr_values()})
    unknown = gate(db, "--baseline", "base", "--current", "curr", "--metric", "lpips:0.1")
    assert unknown.exit_code == 2 and "cannot gate lpips" in unknown.output
    assert gate(db, "--baseline", "base", "--current", "curr", "--metric", "psnr:x").exit_code == 2
    assert gate(db, "--baseline", "nope", "--current", "curr").exit_code == 2
    assert gate(db, "--baseline", "base", "--current", "curr", "--confidence", "1.5").exit_code == 2
    missing_db = CliRunner().invoke(
        main, ["gate", "--db", str(db.parent / "none.db"), "--baseline", "a", "--current", "b"]
    )
    assert missing_db.exit_code == 2 and "no results database" in missing_db.output
    make_run(db, "unscored", {})
    assert gate(db, "--baseline", "base", "--current", "unscored").exit_code == 2


def test_changed_recipe_is_incomparable(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": psnr_values()}, recipe_suffix="v2")
    result = gate(db, "--baseline", "base", "--current", "curr")
    assert result.exit_code == 1 and "INCOMPARABLE" in result.output and "regenerate the baseline" in result.output


def test_metrics_only_one_run_has_are_skipped(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values(), "ssim": [0.8] * N})
    make_run(db, "curr", {"psnr": psnr_values()})
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 0
    verdicts = {v["metric"]: v["verdict"] for v in json.loads((db.parent / "g.json").read_text())["verdicts"]}
    assert verdicts == {"psnr": "ok", "ssim": "skipped"}


def test_baseline_from_an_export_file(db: Path, tmp_path: Path) -> None:
    make_run(db, "base1", {"psnr": psnr_values()})
    make_run(db, "base2", {"psnr": psnr_values(-5.0)})
    make_run(db, "curr", {"psnr": psnr_values(-1.0)})
    export = tmp_path / "baseline.json"
    runner = CliRunner()
    runner.invoke(main, ["runs", "export", "base1", "--db", str(db), "--out", str(export)], catch_exceptions=False)
    assert load_run(str(export), None).run.id == "base1"
    assert gate(db, "--baseline", str(export), "--current", "curr").exit_code == 1
    both = tmp_path / "both.json"
    runner.invoke(main, ["runs", "export", "base1", "base2", "--db", str(db), "--out", str(both)])
    several = gate(db, "--baseline", str(both), "--current", "curr")
    assert several.exit_code == 2 and "holds 2 runs" in several.output and "#RUN" in several.output
    assert gate(db, "--baseline", f"{both}#base2", "--current", "curr").exit_code == 0
    assert gate(db, "--baseline", f"{both}#base1", "--current", "curr").exit_code == 1
    assert gate(db, "--baseline", f"{both}#zzz", "--current", "curr").exit_code == 2
    # the same numbers whether the baseline comes from the database or the file
    from_db = compare(load_run("base1", db), load_run("curr", db))
    from_file = compare(load_run(f"{both}#base1", None), load_run("curr", db))
    assert [v.ci for v in from_db.verdicts] == [v.ci for v in from_file.verdicts]
    (tmp_path / "junk.json").write_text("{}")
    assert gate(db, "--baseline", str(tmp_path / "junk.json"), "--current", "curr").exit_code == 2


def test_real_runs_reference_copy_against_the_oracle(tiny_synth: Path, tmp_path: Path) -> None:
    """Two real runs on the tiny synth: the static reference copy is clearly worse than the oracle."""
    db = tmp_path / "r.db"
    runner = CliRunner()
    ids = {}
    for model in ("gt-oracle", "reference-copy"):
        args = ["run", "--model", model, "--bench", str(tiny_synth), "--metrics", "psnr,ssim,l1,mae", "--db", str(db)]
        result = runner.invoke(main, [*args, "--out", str(tmp_path / model)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        ids[model] = next(run.id for run in ResultsDB(db).runs() if run.model == model)
    export = tmp_path / "baseline.json"
    runner.invoke(main, ["runs", "export", ids["gt-oracle"], "--db", str(db), "--out", str(export)])
    worse = gate(db, "--baseline", str(export), "--current", ids["reference-copy"], "--metric", "psnr:1,l1:1%")
    assert worse.exit_code == 1, worse.output
    assert worse.output.count("REGRESSION") == 2
    better = gate(db, "--baseline", ids["reference-copy"], "--current", ids["gt-oracle"])
    assert better.exit_code == 0, better.output
    same = gate(db, "--baseline", ids["gt-oracle"], "--current", ids["gt-oracle"])
    assert same.exit_code == 0


def test_samples_not_scored_now_fail_the_gate(db: Path) -> None:
    """A sample generated by both runs but without a current per-sample value is incomplete, not dropped."""
    make_run(db, "base", {"psnr": psnr_values(), "l1": [0.1] * N})
    make_run(db, "curr", {"psnr": psnr_values(), "l1": [0.1] * N})
    store = ResultsDB(db)
    values = store.metrics("curr")
    per_sample = store.sample_metrics("curr")
    per_sample["psnr"].pop("s004")  # e.g. its shared generation row was replaced and never re-scored
    per_sample["l1"].pop("s004")
    per_sample["l1"].pop("s007")
    store.save_metrics("curr", {name: {**value, "per_sample": per_sample[name]} for name, value in values.items()})
    store.close()
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 1, result.output
    assert "INCOMPLETE" in result.output and "gate FAILED: 2 sample(s) incomplete" in result.output
    doc = json.loads((db.parent / "g.json").read_text())
    assert doc["passed"] is False
    assert doc["incomplete"] == {
        "s004": "not scored by the current run (l1, psnr)",
        "s007": "not scored by the current run (l1)",
    }
    # gating only psnr: only psnr's coverage counts
    only_psnr = compare(load_run("base", db), load_run("curr", db), {"psnr": Tolerance()})
    assert only_psnr.incomplete == {"s004": "not scored by the current run (psnr)"} and not only_psnr.passed


def test_a_current_run_that_is_not_complete_fails_the_gate(db: Path) -> None:
    make_run(db, "base", {"psnr": psnr_values()})
    make_run(db, "curr", {"psnr": psnr_values()})
    store = ResultsDB(db)
    store.set_status("curr", "interrupted", None)
    store.close()
    result = gate(db, "--baseline", "base", "--current", "curr", "--json", str(db.parent / "g.json"))
    assert result.exit_code == 1, result.output
    assert "is not complete: its status is 'interrupted'" in result.output and "gate FAILED" in result.output
    doc = json.loads((db.parent / "g.json").read_text())
    assert doc["passed"] is False and doc["incomplete"] == {}
    assert doc["run_incomplete"] == "the current run curr is not complete: its status is 'interrupted'"
    # the baseline's status does not matter
    assert gate(db, "--baseline", "curr", "--current", "base").exit_code == 0
