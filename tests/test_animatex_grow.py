"""Growing a trained small pipeline (``a2bench.animatex.train.grow``): the VAE and model grown to more latent channels
compute what the old ones did, whatever the new channels hold; the DiT widened k times computes what the narrow one
did, and its copies part once trained."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import reset_accelerate, train_config
from test_animatex_model import LATENT_FRAMES, LATENT_H, LATENT_W, build, inputs

from a2bench.animatex.config import ConfigError, get_preset
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.train.grow import grow_model, grow_vae_state, widen_model


@pytest.fixture(autouse=True)
def _flush_denormals() -> None:
    torch.set_flush_denormal(True)


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """No zero-initialised layer: every weight matters to the comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_grown_vae_reconstructs_as_before() -> None:
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    old = AutoencoderKLWan(base_dim=8, z_dim=4, num_res_blocks=1).eval()
    _randomise(old, 1)
    new = AutoencoderKLWan(base_dim=8, z_dim=6, num_res_blocks=1).eval()
    new.load_state_dict(grow_vae_state(old.state_dict(), new.state_dict(), old_z=4))
    x = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        before, after = old.encode(x).latent_dist, new.encode(x).latent_dist
        assert torch.allclose(after.mean[:, :4], before.mean, atol=1e-6)
        assert torch.allclose(after.logvar[:, :4], before.logvar, atol=1e-6)
        assert after.mean[:, 4:].abs().max() > 0  # the new channels carry something from the start
        z = after.mean.clone()
        z[:, 4:] = torch.randn(z[:, 4:].shape)  # the decoder ignores them until trained
        assert torch.allclose(new.decode(z).sample, old.decode(before.mean).sample, atol=1e-5)
    wider = AutoencoderKLWan(base_dim=16, z_dim=6, num_res_blocks=1)
    with pytest.raises(ValueError, match="is not a latent channel"):
        grow_vae_state(old.state_dict(), wider.state_dict(), old_z=4)


def test_grown_model_predicts_as_before() -> None:
    model = build(get_preset("tiny")).eval()
    _randomise(model, 3)
    grown = grow_model(model, 24).eval()
    t = grown.config.transformer
    assert (t.in_channels, t.out_channels, grown.config.ref_pose.out_channels) == (52, 24, 28)
    x = inputs()
    g = torch.Generator().manual_seed(5)
    shape = (x["latents"].shape[0], 8, LATENT_FRAMES, LATENT_H, LATENT_W)
    latents = torch.cat([x["latents"], torch.randn(shape, generator=g)], 1)  # anything in the new channels
    y = torch.cat([x["y"], torch.randn(shape, generator=g)], 1)
    with torch.no_grad():
        ref, ref_grown = model.encode_ref_pose(x["ref_pose"]), grown.encode_ref_pose(x["ref_pose"])
        assert torch.allclose(ref_grown[:, :20], ref) and ref_grown[:, 20:].abs().max() == 0
        before = model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], ref_pose_features=ref)
        after = grown(latents, x["timestep"], x["text"], x["image"], condition=y, ref_pose_features=ref_grown)
    assert torch.allclose(after.sample[:, :16], before.sample, atol=1e-5)
    assert after.sample[:, 16:].abs().max() == 0  # no velocity for the new channels until trained
    with pytest.raises(ValueError, match="shrink"):
        grow_model(grown, 16)


def _predict(model: torch.nn.Module, x: dict[str, torch.Tensor]) -> torch.Tensor:
    """The full model's velocity: reference pose, pose video and IPI all in."""
    ref = model.encode_ref_pose(x["ref_pose"])
    pose, ipi = model.encode_pose_video(x["pose_video"]), model.encode_ipi(x["keypoints"], x["clip"])
    return model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], ref_pose_features=ref,
                 pose_tokens=pose, ipi_tokens=ipi).sample  # fmt: skip


@pytest.mark.parametrize("k", [2, 3])
def test_widened_model_predicts_as_before_and_its_copies_part_when_trained(k: int) -> None:
    model = build(get_preset("tiny")).eval()
    _randomise(model, 3)
    wide = widen_model(model, k).eval()
    t, old = wide.config.transformer, model.config.transformer
    assert (t.num_attention_heads, t.attention_head_dim, t.ffn_dim) == (
        k * old.num_attention_heads,
        old.attention_head_dim,
        k * old.ffn_dim,
    )
    assert wide.config.pose_video.out_channels == wide.config.ipi.out_dim == t.inner_dim == k * old.inner_dim
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in model.parameters())
    x = inputs()
    with torch.no_grad():
        before, after = _predict(model, x), _predict(wide, x)
    assert before.abs().mean() > 0.1  # pose, IPI and every block contribute
    assert torch.allclose(after, before, atol=1e-5), (after - before).abs().max()

    wide.train()
    _predict(wide, x).square().mean().backward()
    first = wide.transformer.blocks[0].attn1.to_q.weight
    d = old.inner_dim
    assert not torch.allclose(first.grad[:d], first.grad[d : 2 * d])  # each copy its own gradient
    with pytest.raises(ValueError, match="whole number"):
        widen_model(model, 0)


def test_train_vae_and_train_grow_a_trained_pipeline(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.train.loop import build_pipeline, train
    from a2bench.animatex.train.vae import load_trained_vae, train_vae

    cfg = train_config(tiny_synth, tmp_path, vae={"steps": 1})
    small = train_vae(cfg, echo=lambda _: None, plot=False)
    lines: list[str] = []
    grown_cfg = cfg.replace(vae={"init": str(small), "z_dim": 24, "output_dir": str(tmp_path / "vae24")})
    big = train_vae(grown_cfg, echo=lines.append, plot=False)
    assert any("latent channels grown 16 -> 24" in line for line in lines), lines
    assert load_trained_vae(big)[1]["z_dim"] == 24
    with pytest.raises(ValueError, match="only more latent channels"):
        train_vae(cfg.replace(vae={"init": str(big)}), echo=lambda _: None, plot=False)

    AnimateXPipeline.tiny(seed=1).save_pretrained(tmp_path / "trained")
    on_big = cfg.replace(model={"weights": str(tmp_path / "trained"), "vae": str(big)})
    pipe = build_pipeline(on_big)
    config = pipe.model.config
    assert config.transformer.out_channels == 24 and config.ref_pose.out_channels == 28
    reset_accelerate()
    result = train(on_big, echo=lambda _: None, plot=False)
    assert len(result.losses) == 1 and math.isfinite(result.losses[0][1])
    with pytest.raises(ConfigError, match="24 latent channels, but the 'tiny' DiT takes 16"):
        build_pipeline(cfg.replace(model={"vae": str(big)}))


def test_train_widens_a_trained_pipeline_and_exports_the_wide_one(tiny_synth: Path, tmp_path: Path) -> None:
    from a2bench.animatex.train.loop import train

    AnimateXPipeline.tiny(seed=1).save_pretrained(tmp_path / "trained")
    cfg = train_config(tiny_synth, tmp_path, model={"weights": str(tmp_path / "trained"), "widen": 2},
                       train={"export": True, "trainable": ["transformer", "pose_video_encoder", "ipi"]})  # fmt: skip
    reset_accelerate()
    result = train(cfg, echo=lambda _: None, plot=False)
    assert len(result.losses) == 1 and math.isfinite(result.losses[0][1])
    wide = AnimateXPipeline.from_pretrained(tmp_path / "pipeline")
    assert wide.model.config.transformer.inner_dim == 2 * get_preset("tiny").transformer.inner_dim
    with pytest.raises(ConfigError, match=r"model\.widen 2: widens a trained small pipeline"):
        train_config(tiny_synth, tmp_path, model={"widen": 2})
