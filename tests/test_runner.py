"""``a2bench run``: adapters, failures recorded not scored, resume, and the results database."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import set_file

from a2bench.cli import main
from a2bench.core.adapter import Adapter, AdapterError, Argument, Job
from a2bench.core.videoio import Video, write_video
from a2bench.models import MODELS
from a2bench.runs.results import ResultsDB, export_run
from a2bench.runs.runner import RunOptions, run, sample_seed

PIXEL = ["psnr", "ssim", "l1"]


class Broken(Adapter):
    """Reference copies, broken for one sample in the way ``mode`` says."""

    name = "test-broken"
    arguments = {"mode": Argument(str, "raise | frames | nan | dtype | size | fps", default="raise")}  # noqa: RUF012
    victim = "s001"

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        out = []
        for job in jobs:
            frames = np.repeat(job.reference()[None], job.num_frames, axis=0)
            if job.sample.id == self.victim:
                mode = self.args["mode"]
                if mode == "raise":
                    raise RuntimeError("model exploded")
                frames = {
                    "fps": frames,
                    "frames": frames[:-1],
                    "nan": frames.astype(np.float32) * np.nan,
                    "dtype": frames.astype(np.float32),
                    "size": frames[:, :-2],
                }[mode]
            out.append(Video(frames, 0 if self.args["mode"] == "fps" and job.sample.id == self.victim else job.fps))
        return out


@pytest.fixture
def broken() -> Iterator[type[Adapter]]:
    with MODELS.temporary(Broken.name, Broken):
        yield Broken


def options(bench: Path, tmp_path: Path, model: str = "reference-copy", **kw) -> RunOptions:
    return RunOptions(model=model, bench=str(bench), metrics=PIXEL, db=tmp_path / "r.db", out=tmp_path / model, **kw)


def test_reference_copy_and_oracle_runs_are_scored_listed_and_exported(tiny_synth, tmp_path) -> None:
    cli = CliRunner()
    db = str(tmp_path / "r.db")
    for model in ("reference-copy", "gt-oracle"):
        result = cli.invoke(
            main, ["run", "--model", model, "--bench", str(tiny_synth), "--metrics", "psnr,ssim,l1", "--db", db]
        )
        assert result.exit_code == 0, result.output
        assert "generated 4, reused 0, failed 0" in result.output
    store = ResultsDB(db)
    runs = {r.model: r for r in store.runs()}
    assert set(runs) == {"reference-copy", "gt-oracle"} and all(r.status == "complete" for r in runs.values())
    oracle, copy = store.metrics(runs["gt-oracle"].id), store.metrics(runs["reference-copy"].id)
    assert oracle["psnr"]["value"] == 100.0 and oracle["ssim"]["value"] == 1.0 and oracle["l1"]["value"] == 0.0
    assert copy["psnr"]["value"] < 40 and copy["psnr"]["recipe"] == "psnr/disco-float64/v1"
    assert set(store.sample_metrics(runs["reference-copy"].id)["psnr"]) == {"s000", "s001", "s002", "s003"}
    listing = cli.invoke(main, ["runs", "list", "--db", db])  # not a terminal: whole values, one line per run
    lines = listing.output.splitlines()
    assert lines[0].split("\t") == ["id", "model", "benchmark", "protocol", "samples", "status", "started"]
    for run_row in runs.values():
        assert f"{run_row.id}\t{run_row.model}\t" in listing.output and run_row.started in listing.output
    listed = json.loads(cli.invoke(main, ["runs", "list", "--json", "--db", db]).output)["runs"]
    assert {r["id"]: r["status"] for r in listed} == {r.id: "complete" for r in runs.values()}
    shown = json.loads(cli.invoke(main, ["runs", "show", runs["gt-oracle"].id[:6], "--json", "--db", db]).output)
    assert shown["id"] == runs["gt-oracle"].id and shown["metrics"]["psnr"]["value"] == 100.0
    assert shown["samples"]["s003"]["status"] == "ok"
    exported = cli.invoke(main, ["runs", "export", runs["reference-copy"].id, "--db", db])
    doc = json.loads(exported.output)["runs"][0]
    assert doc["metrics"]["psnr"]["value"] == copy["psnr"]["value"]
    assert doc["samples"]["s002"]["metrics"]["psnr"] == store.sample_metrics(doc["id"])["psnr"]["s002"]
    assert doc["provenance"]["packages"]["lpips"] and doc["identity"]["name"] == "reference-copy"
    csv_text = cli.invoke(main, ["runs", "export", "--format", "csv", "--db", db]).output
    assert csv_text.startswith("run_id,model,benchmark,protocol,sample_id,status,metric,value")
    assert len(csv_text.strip().splitlines()) == 1 + 2 * 4 * 3


def test_unknown_models_and_arguments_are_clear_errors(tiny_synth, tmp_path) -> None:
    cli = CliRunner()
    result = cli.invoke(
        main, ["run", "--model", "refrence-copy", "--bench", str(tiny_synth), "--db", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "Did you mean 'reference-copy'?" in result.output
    result = cli.invoke(
        main, ["run", "--model", "reference-copy", "--model-arg", "steps=4", "--bench", str(tiny_synth)]
    )
    assert result.exit_code == 1 and "has no argument steps" in result.output
    assert "Traceback" not in result.output
    listing = cli.invoke(main, ["models"])  # piped: one whole line per adapter, greppable
    rows = {line.split("\t")[0]: line for line in listing.output.splitlines()}
    assert {"reference-copy", "gt-oracle", "folder", "animatex-simple"} <= set(rows)
    assert MODELS.get("animatex-simple").description in rows["animatex-simple"]
    assert "template*" in rows["command"]
    records = json.loads(cli.invoke(main, ["models", "--json"]).output)["models"]
    assert records["folder"]["arguments"]["path"]["required"] is True and records["gt-oracle"]["uses_ground_truth"]
    assert set(records) == set(MODELS.names())


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("raise", "RuntimeError: model exploded"),
        ("frames", "11 frames, the task has 12"),
        ("nan", "NaN"),
        ("dtype", "must be uint8"),
        ("size", "frames are 64x62, the adapter declares 64x64"),
        ("fps", "frame rate 0 is not a positive number"),
    ],
)
def test_a_failing_sample_is_recorded_never_scored_and_the_run_goes_on(broken, tiny_synth, tmp_path, mode, message):
    result = run(options(tiny_synth, tmp_path, broken.name, model_args={"mode": mode}))
    assert list(result.failed) == ["s001"] and message in result.failed["s001"]
    assert result.exit_code == 1 and result.run.status == "incomplete"
    store = ResultsDB(tmp_path / "r.db")
    assert set(store.sample_metrics(result.run.id)["psnr"]) == {"s000", "s002", "s003"}  # not scored as zero
    generation = store.run_generations(result.run.id)["s001"]
    assert generation.status == "failed" and message in generation.error and generation.path is None
    cli = CliRunner().invoke(
        main,
        ["run", "--model", broken.name, "--model-arg", f"mode={mode}", "--bench", str(tiny_synth), "--metrics", "psnr"]
        + ["--db", str(tmp_path / "cli.db")],
    )
    assert cli.exit_code == 1 and "failed s001" in cli.output and "failed 1" in cli.output


def test_rerunning_resumes_and_other_models_or_arguments_never_reuse(broken, tiny_synth, tmp_path) -> None:
    first = run(options(tiny_synth, tmp_path, broken.name, model_args={"mode": "raise"}))
    again = run(options(tiny_synth, tmp_path, broken.name, model_args={"mode": "raise"}))
    assert (again.generated, again.reused, list(again.failed)) == (0, 3, ["s001"])  # failures are retried
    assert again.run.id == first.run.id
    other = run(options(tiny_synth, tmp_path, broken.name, model_args={"mode": "frames"}))
    assert other.run.id != first.run.id and other.reused == 0 and other.generated == 3
    copy = run(options(tiny_synth, tmp_path, "reference-copy"))
    assert copy.reused == 0 and copy.generated == 4
    limited = run(options(tiny_synth, tmp_path, "reference-copy", limit=2))
    assert limited.run.id != copy.run.id and (limited.generated, limited.reused) == (0, 2)


def test_a_changed_video_on_disk_is_regenerated_not_trusted(tiny_synth, tmp_path) -> None:
    first = run(options(tiny_synth, tmp_path))
    video = Path(ResultsDB(tmp_path / "r.db").run_generations(first.run.id)["s002"].path)
    video.write_bytes(video.read_bytes()[:-100])
    again = run(options(tiny_synth, tmp_path))
    assert (again.generated, again.reused, again.failed) == (1, 3, {})
    assert again.metrics["psnr"]["value"] == first.metrics["psnr"]["value"]


def test_sample_seeds_depend_only_on_run_seed_and_sample_id() -> None:
    assert sample_seed(0, "s001") == sample_seed(0, "s001") != sample_seed(1, "s001")
    assert sample_seed(0, "s001") != sample_seed(0, "s002")


def test_cross_protocol_runs_with_rendered_ground_truth(tiny_synth, tmp_path) -> None:
    oracle = run(options(tiny_synth, tmp_path, "gt-oracle", protocol="cross"))
    assert oracle.metrics["psnr"]["value"] == 100.0 and oracle.run.protocol == "cross"
    copy = run(options(tiny_synth, tmp_path, "reference-copy", protocol="cross"))
    assert copy.metrics["psnr"]["value"] < 40


def test_export_run_lists_every_sample_with_its_status(broken, tiny_synth, tmp_path) -> None:
    result = run(options(tiny_synth, tmp_path, broken.name))
    doc = export_run(ResultsDB(tmp_path / "r.db"), result.run.id)
    assert {k: v["status"] for k, v in doc["samples"].items()} == {
        "s000": "ok",
        "s001": "failed",
        "s002": "ok",
        "s003": "ok",
    }
    assert doc["samples"]["s001"]["metrics"] == {} and doc["status"] == "incomplete"


def test_runs_sharing_an_out_folder_never_overwrite_each_other(broken, tiny_synth, tmp_path) -> None:
    shared = {"db": tmp_path / "r.db", "out": tmp_path / "shared"}
    first = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=PIXEL, **shared))
    other = run(RunOptions(model=broken.name, bench=str(tiny_synth), metrics=PIXEL, **shared))
    assert other.generated == 3
    again = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=PIXEL, **shared))
    assert (again.generated, again.reused) == (0, 4) and again.run.id == first.run.id


class Noisy(Adapter):
    """A model whose output differs on every call (as an unseeded sampler's would)."""

    name = "test-noisy"

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        noise = np.random.default_rng()
        return [Video(noise.integers(0, 256, (job.num_frames, 64, 64, 3), dtype=np.uint8), job.fps) for job in jobs]


def test_a_video_regenerated_for_another_run_is_not_shown_as_the_first_runs(tiny_synth, tmp_path) -> None:
    with MODELS.temporary(Noisy.name, Noisy):
        first = run(options(tiny_synth, tmp_path, Noisy.name))
        store = ResultsDB(tmp_path / "r.db")
        Path(store.run_generations(first.run.id)["s002"].path).unlink()  # the video is lost ...
        second = run(options(tiny_synth, tmp_path, Noisy.name, limit=3))  # ... and regenerated by another run
        assert (second.generated, second.reused) == (1, 2)
        stale = store.run_generations(first.run.id)["s002"]
        assert stale.status == "failed" and "regenerated after this run used it" in stale.error
        again = run(options(tiny_synth, tmp_path, Noisy.name))  # re-running the first command scores the new video
        assert again.run.id == first.run.id and again.failed == {} and again.reused == 4
        assert store.run_generations(first.run.id)["s002"].status == "ok"


class Recording(Adapter):
    """Reference copies that remember which samples they were asked to generate; refuses s003 in :meth:`check`."""

    name = "test-recording"
    asked: ClassVar[list[str]] = []

    def check(self, job: Job) -> None:
        if job.sample.id == "s003":
            raise AdapterError(f"sample s003 has {job.num_frames} frames; this model makes at most 8")

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        type(self).asked += [job.sample.id for job in jobs]
        return [Video(np.repeat(job.reference()[None], job.num_frames, axis=0), job.fps) for job in jobs]


def test_inconsistent_samples_and_refused_jobs_fail_alone_before_any_generation(bench_copy, tmp_path) -> None:
    from a2bench.core.videoio import read_video

    pose = json.loads((bench_copy / "s001" / "pose.json").read_text())
    pose["width"] = 128  # the pose is normalised for 128x64; the task is 64x64
    set_file(bench_copy, "s001", "pose.json", json.dumps(pose).encode(), update_manifest=True)
    short = read_video(bench_copy / "s002" / "video.mp4").frames[:6]  # 6 video frames, 12 pose frames
    write_video(tmp_path / "short.mp4", short, 15, lossless=True)
    set_file(bench_copy, "s002", "video.mp4", (tmp_path / "short.mp4").read_bytes(), update_manifest=True)
    Recording.asked = []
    with MODELS.temporary(Recording.name, Recording):
        result = run(options(bench_copy, tmp_path, Recording.name))
    assert Recording.asked == ["s000"]  # no model call for a sample that cannot be right
    assert set(result.failed) == {"s001", "s002", "s003"}
    assert "pose.json: normalised for 128x64, frames are 64x64" in result.failed["s001"]
    assert "video.mp4: frame-count mismatch: 6 frames, manifest says 12" in result.failed["s002"]
    assert "a2bench bench validate" in result.failed["s002"]
    assert result.failed["s003"] == "sample s003 has 12 frames; this model makes at most 8"
    assert result.exit_code == 1 and result.run.status == "incomplete"
    assert set(ResultsDB(tmp_path / "r.db").sample_metrics(result.run.id)["psnr"]) == {"s000"}  # still scored


def test_a_missing_metric_file_stops_the_run_before_the_model_loads(tiny_synth, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    Recording.asked = []
    with MODELS.temporary(Recording.name, Recording):
        result = CliRunner().invoke(main, ["run", "--model", Recording.name, "--bench", str(tiny_synth), "--metrics",
                                           "psnr,fid", "--db", str(tmp_path / "r.db")])  # fmt: skip
    assert result.exit_code == 1 and Recording.asked == []
    assert "pt_inception-2015-12-05-6726825d.pth" in result.output
    assert "a2bench weights fetch --metrics psnr,fid" in result.output
    assert not (tmp_path / "r.db").exists() or ResultsDB(tmp_path / "r.db").runs() == []  # nothing recorded


def test_runs_delete_removes_rows_and_unshared_videos_only(tiny_synth, tmp_path) -> None:
    full = run(options(tiny_synth, tmp_path))
    limited = run(options(tiny_synth, tmp_path, limit=2))  # reuses the generations of s000 and s001
    store = ResultsDB(tmp_path / "r.db")
    videos = {sid: Path(g.path) for sid, g in store.run_generations(full.run.id).items()}
    cli, db = CliRunner(), str(tmp_path / "r.db")
    refused = cli.invoke(main, ["runs", "delete", full.run.id, "nosuchrun", "--db", db])
    assert refused.exit_code == 1 and "no run 'nosuchrun'" in refused.output
    assert len(store.runs()) == 2 and all(v.is_file() for v in videos.values())  # nothing removed
    result = cli.invoke(main, ["runs", "delete", full.run.id[:8], "--db", db])
    assert result.exit_code == 0, result.output
    assert f"deleted run {full.run.id}" in result.output and "4 sample rows, 2 generations" in result.output
    assert f"removed {videos['s002']}" in result.output and str(videos["s000"]) not in result.output
    assert [r.id for r in store.runs()] == [limited.run.id]
    assert not videos["s002"].exists() and not videos["s003"].exists()
    assert videos["s000"].is_file() and videos["s001"].is_file()  # the other run still uses them
    assert store.metrics(full.run.id) == {} and store.sample_metrics(full.run.id) == {}
    assert store.run_generations(full.run.id) == {}
    assert {g.status for g in store.run_generations(limited.run.id).values()} == {"ok"}
    kept = cli.invoke(main, ["runs", "delete", limited.run.id, "--keep-videos", "--db", db])
    assert kept.exit_code == 0 and f"kept {videos['s000']}" in kept.output and videos["s000"].is_file()
    assert store.runs() == [] and store._conn.execute("SELECT COUNT(*) FROM generations").fetchone() == (0,)
    again = run(options(tiny_synth, tmp_path, limit=2))  # the rows are gone: generated anew, not reused
    assert (again.generated, again.reused) == (2, 0)


def test_score_adds_metrics_to_a_run_without_generating(tiny_synth, tmp_path, monkeypatch) -> None:
    first = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=["psnr"], db=tmp_path / "r.db"))
    store = ResultsDB(tmp_path / "r.db")
    psnr = store.metrics(first.run.id)["psnr"]

    def no_generation(self, jobs):
        raise AssertionError("score must not generate")

    monkeypatch.setattr(MODELS.get("reference-copy"), "generate", no_generation)
    result = CliRunner().invoke(main, ["score", first.run.id[:8], "--metrics", "ssim", "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert f"scoring {first.run.id[:8]}: 4/4 samples" in result.output  # stderr is not a terminal: plain lines
    assert [line.split("\t")[0] for line in result.output.splitlines() if "\t" in line] == ["metric", "psnr", "ssim"]
    after = store.run(first.run.id)
    assert after.metric_names == ["psnr", "ssim"] and after.status == "complete"
    assert store.metrics(first.run.id)["psnr"] == psnr
    assert set(store.sample_metrics(first.run.id)["ssim"]) == {"s000", "s001", "s002", "s003"}
    assert 0 < store.metrics(first.run.id)["ssim"]["value"] < 1
    monkeypatch.undo()
    again = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=["psnr"], db=tmp_path / "r.db"))
    assert again.run.id == first.run.id and set(again.metrics) == {"psnr", "ssim"}  # a resume scores both


def test_score_refuses_a_benchmark_with_another_manifest(tiny_synth, bench_copy, tmp_path) -> None:
    first = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=["psnr"], db=tmp_path / "r.db"))
    (bench_copy / "manifest.json").write_text((bench_copy / "manifest.json").read_text().replace('"synth"', '"x"', 1))
    result = CliRunner().invoke(main, ["score", first.run.id, "--metrics", "ssim", "--bench", str(bench_copy),
                                       "--db", str(tmp_path / "r.db")])  # fmt: skip
    assert result.exit_code == 1 and "pass --bench FOLDER" in result.output
    assert ResultsDB(tmp_path / "r.db").run(first.run.id).metric_names == ["psnr"]
