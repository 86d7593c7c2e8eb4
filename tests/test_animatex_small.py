"""Small pipelines trained from scratch: components, save/load, ``train-vae``, training the encoders, the export,
the latent cache, and the shipped ``animatex-tiny`` model through ``a2bench run``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_script, reset_accelerate, train_config

from a2bench.animatex.components import ByteTokenizer, get_components
from a2bench.animatex.config import ConfigError, get_preset
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _flush_denormals() -> None:
    torch.set_flush_denormal(True)


def modules(pipe: AnimateXPipeline) -> dict[str, torch.nn.Module]:
    """The pipeline's components that hold weights."""
    return {name: module for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)}


def test_byte_tokenizer_and_component_checks() -> None:
    tokens = ByteTokenizer(258)(["aé"], max_length=6)
    assert tokens["input_ids"].tolist() == [[2 + 97, 2 + 0xC3, 2 + 0xA9, 1, 0, 0]]
    assert tokens["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0]]
    wrong = get_components("tiny").replace(text_encoder={**get_components("tiny").text_encoder, "d_model": 8})
    with pytest.raises(ConfigError, match="text_dim"):
        AnimateXPipeline.from_components("tiny", wrong)
    with pytest.raises(ConfigError, match="known: tiny, animatex-tiny"):
        get_components("tinny")


def test_save_and_load_pretrained_round_trip(tmp_path: Path) -> None:
    pipe = AnimateXPipeline.tiny(3)
    pipe.save_pretrained(tmp_path / "p", metadata={"steps": 7})
    again = AnimateXPipeline.from_pretrained(tmp_path / "p")
    assert again.metadata == {"steps": 7} and again.model.config == pipe.model.config
    for name, module in modules(pipe).items():
        other = modules(again)[name].state_dict()
        assert all(torch.equal(t, other[k]) for k, t in module.state_dict().items()), name
    rng = np.random.default_rng(0)
    pose = rng.integers(0, 255, (9, 64, 48, 3), dtype=np.uint8)
    image = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    points = rng.uniform(0, 1, (9, 18, 3)).astype(np.float32)
    a = pipe(image, pose, "a cat", keypoints=points, steps=2).frames
    assert np.array_equal(a, again(image, pose, "a cat", keypoints=points, steps=2).frames)
    # float16 storage (the shipped animatex-tiny): half the file, loaded into float32 as the weights rounded
    pipe.save_pretrained(tmp_path / "half", metadata={"steps": 7}, dtype=torch.float16)
    half = AnimateXPipeline.from_pretrained(tmp_path / "half")
    sizes = [(tmp_path / d / "model.safetensors").stat().st_size for d in ("p", "half")]
    assert sizes[1] < 0.52 * sizes[0]
    for name, module in modules(pipe).items():
        other = modules(half)[name].state_dict()
        for key, tensor in module.state_dict().items():
            expected = tensor.half().float() if tensor.is_floating_point() else tensor
            assert other[key].dtype == tensor.dtype and torch.equal(other[key], expected), (name, key)


def test_from_pretrained_names_bad_files(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        AnimateXPipeline.from_pretrained(tmp_path / "nothing")
    folder = AnimateXPipeline.tiny(0).save_pretrained(tmp_path / "p")
    state = load_file(str(folder / "model.safetensors"))
    state.pop("vae.decoder.conv_out.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"conv_out\.bias"):
        AnimateXPipeline.from_pretrained(folder)


def test_train_vae_writes_a_loadable_vae_with_latent_stats(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.train.vae import load_trained_vae, train_vae

    cfg = train_config(tiny_synth, tmp_path, data={"size": [48, 64]})
    first: list[str] = []
    path = train_vae(cfg, echo=first.append, plot=False)
    assert not any("WARNING" in line for line in first)  # 9-frame clips: the model's length
    _, config = load_trained_vae(path)
    assert len(config["latents_mean"]) == len(config["latents_std"]) == 16
    assert all(s > 0 for s in config["latents_std"])
    assert (tmp_path / "vae" / "log.csv").read_text().count("\n") == 3
    lines: list[str] = []
    again = train_vae(cfg.replace(vae={"init": str(path), "steps": 1, "num_frames": 5}), echo=lines.append, plot=False)
    assert again == path
    assert any(line.startswith("WARNING: vae.num_frames 5 < the 9 frames") for line in lines), lines  # short clips
    bad = cfg.replace(model={"preset": "animatex-tiny"}, vae={"init": str(path)})
    with pytest.raises(ValueError, match="another architecture"):
        train_vae(bad, echo=lambda _: None, plot=False)
    with pytest.raises(ValueError, match="train-vae"):
        load_trained_vae(tmp_path / "vae" / "log.csv")


def test_training_the_encoders_and_export(tiny_synth: Path, tmp_path: Path) -> None:
    """From-scratch training (the small presets): the encoders train, the whole pipeline is exported, loadable."""
    from a2bench.animatex.train.loop import build_pipeline, train

    groups = ["transformer", "pose_video_encoder", "ref_pose_encoder", "ipi", "text_encoder", "image_encoder",
              "open_clip"]  # fmt: skip
    cfg = train_config(tiny_synth, tmp_path, dropout={"text": 0.5}, data={"size": [32, 48]},
               train={"trainable": groups, "export": True, "latent_cache": True, "steps": 2})  # fmt: skip
    reset_accelerate()
    torch.manual_seed(0)
    start = build_pipeline(cfg)
    result = train(cfg, echo=lambda _: None, plot=False)
    trained = AnimateXPipeline.from_pretrained(result.output_dir / "pipeline")
    assert trained.metadata["steps"] == 2
    # It samples as trained (data.size, not the preset's 48 x 64); the rest of the config is the preset's.
    sampling = trained.model.config.sampling
    assert (sampling.width, sampling.height) == (32, 48)
    assert trained.model.config.replace(sampling=start.model.config.sampling) == start.model.config
    for name in ("text_encoder", "image_encoder", "open_clip", "model"):
        before = getattr(start, name).state_dict()
        after = getattr(trained, name).state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before), f"{name} did not train"
    assert all(torch.equal(t, trained.vae.state_dict()[k]) for k, t in start.vae.state_dict().items())  # frozen
    with pytest.raises(ConfigError, match="not a LoRA"):
        cfg.replace(train={"trainable": ["lora"], "export": True})
    # model.weights: the exported folder continues training from exactly its weights.
    again = build_pipeline(cfg.replace(model={"weights": str(result.output_dir / "pipeline")}))
    for name, module in modules(trained).items():
        state = modules(again)[name].state_dict()
        assert all(torch.equal(t, state[k]) for k, t in module.state_dict().items()), name
    with pytest.raises(ConfigError, match=r"'tiny' pipeline, but model\.preset is 'animatex-tiny'"):
        build_pipeline(cfg.replace(model={"weights": str(result.output_dir / "pipeline"), "preset": "animatex-tiny"}))
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        cfg.replace(model={"weights": str(tmp_path / "no-pipeline")})
    with pytest.raises(ConfigError, match="small presets"):
        TrainConfig.from_dict({"model": {"preset": "animatex", "weights": "release"},
                               "train": {"trainable": ["text_encoder"]}})  # fmt: skip


def test_latent_cache_and_workers_give_the_same_losses(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.train.loop import train

    losses = []
    for i, train_changes in enumerate(({}, {"latent_cache": True, "num_workers": 2})):
        reset_accelerate()
        cfg = train_config(tiny_synth, tmp_path / str(i), train={"steps": 3, "batch_size": 2, **train_changes})
        losses.append([loss for _, loss in train(cfg, echo=lambda _: None, plot=False).losses])
    # The same items and draws; the numbers differ only by float rounding (measured 1.5e-5 relative).
    assert np.allclose(losses[0], losses[1], rtol=1e-4, atol=0), losses


def test_data_workers_start_after_the_parent_used_opencvs_thread_pool(tiny_synth: Path) -> None:
    # A forked worker inherited the pool mid-state and hung in its first OpenCV call; run apart, with a time limit.
    code = f"""
import cv2, numpy as np
cv2.setNumThreads(2)
cv2.GaussianBlur(np.zeros((2048, 2048), np.float32), (31, 31), 5)  # the parent uses OpenCV's thread pool
from a2bench.animatex.train.data import AnimationDataset
from a2bench.animatex.train.loop import item_batches
batch = next(item_batches(AnimationDataset({str(tiny_synth)!r}, 5, (32, 32)), range(1), 1, 2, 0, 2, workers=1))
print(len(batch))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.split()[-1] == "2", done.stderr[-2000:]


def test_max_seconds_stops_with_a_checkpoint(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.train.loop import train

    reset_accelerate()
    cfg = train_config(tiny_synth, tmp_path, train={"steps": 50, "max_seconds": 1e-9})
    result = train(cfg, echo=lambda _: None, plot=False)
    assert [s for s, _ in result.losses] == [1] and result.checkpoints[-1].name == "step-1"


def test_animatex_tiny_preset_and_shipped_weights() -> None:
    from a2bench.animatex.adapter import TINY_DIR

    cfg = get_preset("animatex-tiny")
    assert (cfg.sampling.width, cfg.sampling.height, cfg.sampling.num_frames) == (64, 64, 33)
    pipe = AnimateXPipeline.from_pretrained(TINY_DIR)
    assert pipe.model.config == cfg and pipe.metadata["steps"] > 0
    size = (ROOT / "animatex" / "assets" / "animatex-tiny" / "model.safetensors").stat().st_size
    assert size < 50 * 2**20


def test_animatex_tiny_runs_in_a2bench(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.core.adapter import AdapterError
    from a2bench.models import MODELS
    from a2bench.runs.runner import RunOptions, run

    adapter = MODELS.get("animatex-tiny")(steps="2")
    assert set(adapter.identity()["weights"]) == {"animatex-tiny/model.safetensors", "animatex-tiny/config.json"}
    with pytest.raises(AdapterError, match=r"no-such-run/model\.safetensors are missing \(--model-arg weights="):
        MODELS.get("animatex-tiny")(weights=str(tmp_path / "no-such-run"))
    options = RunOptions(model="animatex-tiny", model_args={"steps": "2"}, bench=str(tiny_synth), limit=2,
                         metrics=["pixel"], out=tmp_path / "run", db=tmp_path / "r.db")  # fmt: skip
    result = run(options)
    assert result.generated == 2 and not result.failed


def test_loss_by_noise_script_reports_every_clip_by_noise_level(tiny_synth: Path, tmp_path: Path, capsys) -> None:
    script = load_script("loss_by_noise")
    AnimateXPipeline.tiny(0).save_pretrained(tmp_path / "p")
    script.main([str(tmp_path / "p"), "--bench", str(tiny_synth), "--config", str(ROOT / "configs" / "tiny.yaml"),
                 "--items", "8"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("over 8 clips")
    rows = [line.split() for line in lines[2:]]
    assert sum(int(row[2]) for row in rows) == 8
    assert all(np.isfinite(float(v)) and float(v) >= 0 for row in rows for v in row[3:])
