"""``AnimateXPipeline`` (tiny, random weights, CPU), ``animatex infer --variant tiny``, the adapters' start checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers and open_clip

pytest.importorskip("diffusers")
pytest.importorskip("open_clip")

from click.testing import CliRunner

from a2bench.animatex.adapter import plan_frames, round_frames, round_size
from a2bench.animatex.pipeline import AnimateXPipeline, release_sigmas, sample_indices
from a2bench.animatex.testing import random_poses
from a2bench.core.adapter import AdapterError
from a2bench.core.pose import PoseSequence
from a2bench.core.videoio import probe_video, read_video
from a2bench.models import MODELS

SIZE = (48, 64)  # (W, H)
FRAMES = 9


@pytest.fixture(scope="module")
def pipe() -> AnimateXPipeline:
    return AnimateXPipeline.tiny(seed=0)


@pytest.fixture(scope="module")
def simple_pipe() -> AnimateXPipeline:
    return AnimateXPipeline.tiny(seed=0, variant="tiny-simple")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (80, 60, 3), dtype=np.uint8)


def run(pipe: AnimateXPipeline, image: np.ndarray, **kw):
    kw = {"num_frames": FRAMES, "size": SIZE, "steps": 2, "seed": 0, **kw}
    return pipe(image, kw.pop("pose", random_poses()), "a person is dancing.", **kw)


class Calls:
    """Records the keyword arguments of every transformer forward."""

    def __init__(self, pipe: AnimateXPipeline) -> None:
        self.kwargs: list[dict] = []
        self.handle = pipe.model.transformer.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.kwargs.append({**kwargs, "encoder_hidden_states": args[2]})

    def __enter__(self) -> Calls:
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


# ------------------------------------------------------------------------------------------ helpers


def test_sample_indices_follows_the_release_rule() -> None:
    assert sample_indices(200, 81, 2).tolist() == list(range(0, 162, 2))
    assert sample_indices(100, 81, 2).tolist() == list(range(81))  # stride falls to 100 // 81 = 1
    assert sample_indices(170, 81, 3).tolist() == list(range(0, 162, 2))  # 170 // 81 = 2
    short = sample_indices(5, 9)
    assert short.tolist() == [0, 1, 2, 3, 4, 4, 4, 4, 4]
    assert len(sample_indices(1, 81)) == 81


def test_release_sigmas_give_the_release_timesteps(pipe: AnimateXPipeline) -> None:
    pipe.scheduler.set_timesteps(sigmas=release_sigmas(50))
    t = pipe.scheduler.timesteps.numpy()
    s = np.linspace(1, 0, 51)[:-1]
    np.testing.assert_allclose(t, 1000 * 5 * s / (1 + 4 * s), atol=1e-3)
    assert abs(t[-1] - 92.59) < 0.01


def test_adapter_frame_and_size_rules() -> None:
    assert [round_frames(n) for n in (1, 2, 5, 12, 13, 81)] == [1, 5, 5, 13, 13, 81]
    assert round_size((64, 64)) == (64, 64) and round_size((500, 270)) == (496, 272) and round_size((4, 4)) == (16, 16)
    poses, keep = plan_frames(12, 13)
    assert poses.tolist() == [*range(12), 11] and keep.tolist() == list(range(12))
    poses, keep = plan_frames(162, 81)
    assert len(poses) == 81 and poses[0] == 0 and poses[-1] == 161 and len(keep) == 162
    assert np.abs(poses[keep] - np.arange(162)).max() <= 1


# ------------------------------------------------------------------------------------------ pipeline


def test_tiny_pipeline_makes_the_requested_video(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    out = run(pipe, image, fps=10)
    assert out.frames.shape == (FRAMES, SIZE[1], SIZE[0], 3) and out.frames.dtype == np.uint8
    assert out.fps == 10
    assert out.indices.tolist() == list(range(FRAMES))
    assert out.frames.std() > 0
    assert run(pipe, image).fps == pipe.model.config.sampling.fps


def test_rendered_frames_work_as_pose_input(simple_pipe: AnimateXPipeline, image: np.ndarray) -> None:
    frames = np.random.default_rng(2).integers(0, 256, (12, 40, 40, 3), dtype=np.uint8)
    out = run(simple_pipe, image, pose=frames)
    assert out.frames.shape == (FRAMES, SIZE[1], SIZE[0], 3)


def test_same_seed_same_video_other_seed_other_video(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    a, b, c = run(pipe, image, seed=3), run(pipe, image, seed=3), run(pipe, image, seed=4)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)


def test_cfg_one_skips_the_negative_branch(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    with Calls(pipe) as one:
        plain = run(pipe, image, cfg=1.0, output_type="latent")
    with Calls(pipe) as three:
        guided = run(pipe, image, cfg=3.0, output_type="latent")
    assert len(one.kwargs) == 2 and len(three.kwargs) == 4
    assert not torch.equal(plain.frames, guided.frames)


def test_steps_set_the_number_of_transformer_calls(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    for steps in (1, 3):
        with Calls(pipe) as calls:
            run(pipe, image, steps=steps, cfg=2.0, output_type="latent")
        assert len(calls.kwargs) == 2 * steps


def test_negative_branch_drops_only_the_pose_video(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    with Calls(pipe) as calls:
        run(pipe, image, steps=1, cfg=3.0, output_type="latent")
    positive, negative = calls.kwargs
    assert positive["pose_tokens"] is not None and positive["pose_tokens"].abs().sum() > 0
    assert negative["pose_tokens"] is None  # the release adds nothing: the same as zero pose tokens
    for key in ("condition", "ref_pose_features", "ipi_tokens"):
        assert positive[key] is negative[key], key  # the very same tensors in both branches
    assert positive["ipi_tokens"].abs().sum() > 0
    assert not torch.equal(positive["encoder_hidden_states"], negative["encoder_hidden_states"])


def test_simple_variant_never_calls_the_ipi(simple_pipe: AnimateXPipeline, image: np.ndarray, monkeypatch) -> None:
    assert simple_pipe.model.ipi is None and simple_pipe.open_clip is None

    def fail(*args, **kwargs):
        raise AssertionError("the simple variant called the IPI")

    monkeypatch.setattr(simple_pipe.model, "encode_ipi", fail)
    monkeypatch.setattr(simple_pipe, "encode_ipi", fail)
    with Calls(simple_pipe) as calls:
        out = run(simple_pipe, image, num_frames=13)  # any 4k+1 without an IPI
    assert out.frames.shape[0] == 13
    assert all(kw["ipi_tokens"] is None for kw in calls.kwargs)


def test_full_variant_calls_the_ipi_once(pipe: AnimateXPipeline, image: np.ndarray, monkeypatch) -> None:
    calls = []
    original = pipe.model.encode_ipi
    monkeypatch.setattr(pipe.model, "encode_ipi", lambda *a: calls.append(a) or original(*a))
    run(pipe, image, steps=2, output_type="latent")
    assert len(calls) == 1
    keypoints, clip = calls[0]
    assert keypoints.shape == (1, FRAMES, 130, 3) and clip.shape == (1, FRAMES, pipe.model.config.ipi.clip_dim)


def test_bad_frame_counts_and_sizes_are_refused(pipe: AnimateXPipeline, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="4k"):
        run(pipe, image, num_frames=8)
    with pytest.raises(ValueError, match="IPI"):
        run(pipe, image, num_frames=13)
    with pytest.raises(ValueError, match="multiples of 16"):
        run(pipe, image, size=(40, 64))


# ------------------------------------------------------------------------------------------ command line


def test_infer_tiny_writes_a_playable_video(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.cli import main

    sample = tiny_synth / "s000"
    out = tmp_path / "out.mp4"
    args = ["infer", "--image", str(sample / "reference.png"), "--driving", str(sample / "pose.json"),
            "--out", str(out), "--variant", "tiny", "--frames", "9", "--size", "48x64", "--steps", "2",
            "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "RANDOM WEIGHTS" in result.output
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height) == (9, 48, 64)
    pose = PoseSequence.from_json(json.loads((sample / "pose.json").read_text()))
    assert info.fps == pose.fps
    assert read_video(out).frames.shape == (9, 64, 48, 3)

    wide = tmp_path / "sbs.mp4"
    args = [*args[:5], "--out", str(wide), *args[7:], "--side-by-side", "--fps", "8", "--variant", "tiny-simple"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    info = probe_video(wide)
    assert (info.num_frames, info.width, info.height, info.fps) == (9, 3 * 48, 64, 8)


# ------------------------------------------------------------------------------------------ adapters


@pytest.mark.parametrize("name", ["animatex", "animatex-simple"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_adapters_fail_at_start_with_one_clear_message(name: str, device: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path))
    cls = MODELS.get(name)
    assert cls.needs_gpu and cls.weights
    with pytest.raises(AdapterError) as err:
        cls(device=device)
    message = str(err.value)
    assert "CUDA" in message
    assert "a2bench weights fetch animatex-" in message and str(tmp_path) in message
    assert "animatex-tiny" in message


def test_adapter_efficiency_arguments(monkeypatch) -> None:
    """``--model-arg offload=/vae_tiling=/compile=`` reach the pipeline (loaded on the CPU when offloading); a bad
    offload mode is refused before anything loads."""
    import a2bench.animatex.adapter as adapter

    calls = []
    monkeypatch.setattr(adapter, "_cuda_available", lambda: True)
    monkeypatch.setattr(adapter, "locate", lambda name: Path(name))
    monkeypatch.setattr(AnimateXPipeline, "from_release", classmethod(lambda cls, v, device: calls.append(device)
                                                                       or AnimateXPipeline.tiny(0)))  # fmt: skip
    monkeypatch.setattr(AnimateXPipeline, "enable_efficiency", lambda self, *a: calls.append(a))
    model = MODELS.get("animatex")(device="cuda", offload="group", vae_tiling="true")
    assert calls == ["cpu", ("cuda", "group", True, False)]
    assert model.args["offload"] == "group"  # part of the run identity
    calls.clear()
    MODELS.get("animatex-simple")(device="cuda", compile="1")
    assert calls == ["cuda", ("cuda", "none", False, True)]
    with pytest.raises(AdapterError, match="offload must be one of none, model, group, leaf"):
        MODELS.get("animatex")(device="cuda", offload="disk")


def test_convert_names_the_missing_release_file_and_its_fetch_command(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from a2bench.animatex.cli import main as animatex_main

    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = CliRunner().invoke(animatex_main, ["convert", "--out", str(tmp_path / "bundle.safetensors")])
    assert result.exit_code == 1 and "a2bench weights fetch" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "bundle.safetensors").exists()
