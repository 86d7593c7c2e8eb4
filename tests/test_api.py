"""The notebook API: ``a2bench.evaluate`` and ``a2bench.load_runs`` (README "From Python")."""

from __future__ import annotations

from pathlib import Path

import pytest

import a2bench
from a2bench.core.data import load_benchmark
from a2bench.core.videoio import write_video
from a2bench.metrics import evaluate
from a2bench.metrics.testing import perturb, smooth_videos
from a2bench.runs.results import ResultsDB
from a2bench.runs.runner import RunOptions, run


def test_evaluate_folders_or_a_benchmark_and_read_the_result_as_tables(tiny_synth: Path, tmp_path: Path) -> None:
    gts = {f"s{i}": v for i, v in enumerate(smooth_videos(3, 4, 32, 32, seed=1))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=2), strict=True))
    for side, videos in (("gt", gts), ("pred", preds)):
        for key, frames in videos.items():
            write_video(tmp_path / side / f"{key}.mp4", frames, 15, lossless=True)
    result = a2bench.evaluate(tmp_path / "pred", tmp_path / "gt", metrics="psnr,ssim")
    direct = evaluate(preds, gts, "psnr,ssim")
    table = result.to_pandas()
    assert list(table.index) == ["psnr", "ssim"] and table.loc["psnr", "value"] == direct.metrics["psnr"].value
    per_sample = result.to_pandas(per_sample=True)
    assert list(per_sample.index) == ["s0", "s1", "s2"] and per_sample.loc["s1", "ssim"] == direct.metrics[
        "ssim"].per_sample["s1"]  # fmt: skip
    for sample in load_benchmark(str(tiny_synth)):  # the benchmark's own ground truth as predictions
        write_video(tmp_path / "copy" / f"{sample.id}.mp4", sample.video().frames, 15, lossless=True)
    on_bench = a2bench.evaluate(tmp_path / "copy", bench=str(tiny_synth), metrics="psnr")
    assert on_bench.metrics["psnr"].value == 100.0 and len(on_bench.samples) == 4
    with pytest.raises(ValueError, match=r"exactly one of gt= .* or bench="):
        a2bench.evaluate(tmp_path / "pred")


def test_load_runs_gives_every_per_sample_value(tiny_synth: Path, tmp_path: Path) -> None:
    options = RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=["psnr", "l1"], db=tmp_path / "r.db",
                         out=tmp_path / "out")  # fmt: skip
    done = run(options)
    frame = a2bench.load_runs(tmp_path / "r.db")
    assert len(frame) == 2 * 4 and set(frame["metric"]) == {"psnr", "l1"}
    assert set(frame["model"]) == {"reference-copy"} and set(frame["run"]) == {done.run.id}
    stored = ResultsDB(tmp_path / "r.db").sample_metrics(done.run.id)
    psnr = frame[frame["metric"] == "psnr"].set_index("sample")["value"].to_dict()
    assert psnr == stored["psnr"] and frame["recipe"].str.startswith(("psnr/", "l1/")).all()
    assert a2bench.load_runs(tmp_path / "r.db", runs=[done.run.id[:6]]).equals(frame)
