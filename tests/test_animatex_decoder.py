"""``animatex train-decoder``: only the VAE decoder learns, from the DiT's one-step predictions, with the
benchmark's SSIM in its loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_config

from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.train.decoder import grey_ssim, one_step_latents, train_decoder


@pytest.fixture(autouse=True)
def _flush_denormals() -> None:
    torch.set_flush_denormal(True)


def test_grey_ssim_is_skimages_on_the_grey_frames() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.uniform(-1, 1, (6, 3, 5, 6)))  # smooth structure plus fine texture
    smooth = torch.nn.functional.interpolate(coarse, size=(20, 24), mode="bilinear").view(2, 3, 3, 20, 24)
    x = (0.3 * torch.from_numpy(rng.uniform(-1, 1, (2, 3, 3, 20, 24))) + 0.7 * smooth).clamp(-1, 1)
    y = (x + 0.2 * torch.from_numpy(rng.normal(size=x.shape))).clamp(-1, 1)
    weights = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1, 1)
    grey = lambda v: (v.numpy() * weights).sum(1)  # noqa: E731 - (B, T, H, W)
    pairs = zip(grey(x).reshape(-1, 20, 24), grey(y).reshape(-1, 20, 24), strict=True)
    reference = [structural_similarity(a, b, data_range=2.0) for a, b in pairs]
    assert float(grey_ssim(x, y)) == pytest.approx(np.mean(reference), abs=1e-10)
    assert float(grey_ssim(x, x)) == pytest.approx(1.0)


def test_train_decoder_changes_the_decoder_only(tiny_synth: Path, tmp_path: Path) -> None:
    start = AnimateXPipeline.tiny(seed=1)
    start.save_pretrained(tmp_path / "start", metadata={"steps": 5})
    decoder = {"output_dir": str(tmp_path / "dec"), "steps": 2, "batch_size": 2, "lr": 1e-3, "warmup_steps": 0,
               "ssim_weight": 0.5, "log_every": 1, "mixed_precision": "bf16"}  # fmt: skip
    cfg = train_config(tiny_synth, tmp_path, model={"weights": str(tmp_path / "start")}, decoder=decoder,
                       dropout={"text": 0.0}, data={"ti2v_ratio": 0.0, "epi": {"probability": 0.0}})  # fmt: skip
    lines: list[str] = []
    folder = train_decoder(cfg, echo=lines.append, plot=False)
    assert lines[0].startswith("decoder: ") and "parameters train" in lines[0]
    trained = AnimateXPipeline.from_pretrained(folder)
    assert trained.metadata["steps"] == 5 and trained.metadata["decoder"]["steps"] == 2  # the DiT's record is kept
    assert (tmp_path / "dec" / "log.csv").read_text().count("\n") == 3
    before, after = start.vae.state_dict(), trained.vae.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"decoder", "post_quant_conv"}
    assert trained.vae.config.latents_mean == start.vae.config.latents_mean  # the DiT's latent scale is unchanged
    assert trained.vae.config.latents_std == start.vae.config.latents_std
    for name in ("model", "text_encoder", "image_encoder", "open_clip"):
        state = getattr(trained, name).state_dict()
        assert all(torch.equal(t, state[k]) for k, t in getattr(start, name).state_dict().items()), name
    with pytest.raises(ValueError, match=r"model\.weights"):
        train_decoder(cfg.replace(model={"weights": "random"}), echo=lambda _: None, plot=False)


def test_one_step_latents_are_what_the_pipeline_samples_in_one_step(tiny_synth: Path, tmp_path: Path) -> None:
    """x̂0 from the batch's noise at σ = 1 is the pipeline's one-step sample from the same noise and conditions."""
    from a2bench.animatex.train.loop import TrainModule, build_inputs, build_pipeline, training_dataset

    AnimateXPipeline.tiny(seed=2).save_pretrained(tmp_path / "p")
    cfg = train_config(tiny_synth, tmp_path, model={"weights": str(tmp_path / "p")}, dropout={"text": 0.0},
                       data={"ti2v_ratio": 0.0, "epi": {"probability": 0.0}})  # fmt: skip
    pipe = build_pipeline(cfg)
    inputs = build_inputs(pipe, [training_dataset(cfg)[0]], cfg, torch.device("cpu"))
    sigma = inputs["sigma"].view(-1, 1, 1, 1, 1)
    x0 = inputs["latents"] - sigma * inputs["target"]
    noise = x0 + inputs["target"]
    module = TrainModule(pipe).eval()
    estimate = one_step_latents(pipe, module, inputs)
    timestep = torch.full_like(inputs["timestep"], 1000.0)
    with torch.no_grad():
        direct = noise - module({**inputs, "latents": noise, "timestep": timestep})
    torch.testing.assert_close(estimate, direct, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(estimate, x0)  # a random DiT does not know the clip
