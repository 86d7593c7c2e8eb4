"""Animate-X++ model modules: configs and presets, pose encoders, IPI, and the conditioned Wan transformer.

All on CPU with the ``tiny`` preset, except the 14B parameter counts, which are taken on the meta device.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib

import numpy as np
import pytest
import torch

from a2bench.animatex.config import (
    PRESETS,
    AnimateXConfig,
    ConfigError,
    IPIConfig,
    PoseVideoEncoderConfig,
    RefPoseEncoderConfig,
    TransformerConfig,
    default_ipi_blocks,
    get_preset,
)

pytest.importorskip("diffusers")

from diffusers import WanTransformer3DModel

from a2bench.animatex.ipi import ImplicitPoseIndicator, keypoint_features, sinusoid_table
from a2bench.animatex.pose_encoders import PoseVideoEncoder, RefPoseEncoder, add_reference_pose
from a2bench.animatex.transformer import AnimateXModel, AnimateXTransformer

B, LATENT_FRAMES, LATENT_H, LATENT_W = 2, 3, 8, 6  # tiny: 9 frames of 64x48 pixels
TOL = 1e-5


# ------------------------------------------------------------------------------------------ helpers


def tiny_config(zero_pose_outputs: bool = False, **changes) -> AnimateXConfig:
    cfg = get_preset("tiny")
    if zero_pose_outputs:
        changes.setdefault("pose_video", dataclasses.replace(cfg.pose_video, zero_init_output=True))
        changes.setdefault("ref_pose", dataclasses.replace(cfg.ref_pose, zero_init_output=True))
    return cfg.replace(**changes)


def build(cfg: AnimateXConfig, seed: int = 0) -> AnimateXModel:
    torch.manual_seed(seed)
    return AnimateXModel(cfg)


def plain_wan(model: AnimateXModel) -> WanTransformer3DModel:
    """diffusers' own WanTransformer3DModel with the same weights as ``model.transformer``."""
    plain = WanTransformer3DModel(**model.config.transformer.kwargs()).eval()
    plain.load_state_dict(model.transformer.state_dict(), strict=True)
    return plain


def inputs(seed: int = 1, batch: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cfg = get_preset("tiny")
    t = cfg.transformer
    frames, height, width = cfg.sampling.num_frames, cfg.sampling.height, cfg.sampling.width
    return {
        "latents": torch.randn(batch, 16, LATENT_FRAMES, LATENT_H, LATENT_W, generator=g),
        "y": torch.randn(batch, 20, LATENT_FRAMES, LATENT_H, LATENT_W, generator=g),
        "timestep": torch.tensor([980.0, 420.0][:batch]),
        "text": torch.randn(batch, 512, t.text_dim, generator=g),  # always 512 text tokens (diffusers slices them)
        "image": torch.randn(batch, 257, t.image_dim, generator=g),  # always 257 CLIP tokens
        "pose_video": torch.randint(0, 256, (batch, 3, frames, height, width), generator=g, dtype=torch.uint8),
        "ref_pose": torch.randint(0, 256, (batch, 3, height, width), generator=g, dtype=torch.uint8),
        "keypoints": torch.rand(batch, frames, 18, 2, generator=g),
        "clip": torch.randn(batch, frames, cfg.ipi.clip_dim, generator=g),
    }


def randomise(*layers: torch.nn.Module, seed: int = 5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in layers:
            for p in layer.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)


@torch.no_grad()
def conditioned(model: AnimateXModel, x: dict, *, pose=True, ref=True, ipi=True) -> torch.Tensor:
    """The full conditioned forward: the encoders' outputs fed to the transformer."""
    kwargs = {}
    if pose:
        kwargs["pose_tokens"] = model.encode_pose_video(x["pose_video"])
    if ref:
        kwargs["ref_pose_features"] = model.encode_ref_pose(x["ref_pose"])
    if ipi:
        kwargs["ipi_tokens"] = model.encode_ipi(x["keypoints"], x["clip"])
    out = model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], **kwargs)
    return out.sample


@torch.no_grad()
def unconditioned(plain: WanTransformer3DModel, x: dict) -> torch.Tensor:
    hidden = torch.cat([x["latents"], x["y"]], dim=1)
    return plain(hidden, x["timestep"], x["text"], x["image"]).sample


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


@torch.no_grad()
def reference_forward(wan, hidden, timestep, text, image, pose_grid=None, ipi=None, ipi_blocks=()):
    """The release's ``model_fn_wan_video`` order written out on a plain diffusers Wan's submodules:
    pose grid added to the patch embedding's output; IPI added before each of ``ipi_blocks``."""
    b, _, f, hh, ww = hidden.shape
    h, w = hh // 2, ww // 2
    rotary = wan.rope(hidden)
    grid = wan.patch_embedding(hidden)
    if pose_grid is not None:
        grid = grid + pose_grid
    tokens = grid.flatten(2).transpose(1, 2)
    temb, proj, text_emb, image_emb = wan.condition_embedder(timestep, text, image)
    proj = proj.unflatten(1, (6, -1))
    context = torch.cat([image_emb, text_emb], dim=1)
    for i, block in enumerate(wan.blocks):
        if ipi is not None and i in ipi_blocks:
            tokens = tokens + ipi.repeat_interleave(h * w, dim=1)  # every token of its latent frame
        tokens = block(tokens, context, proj, rotary)
    shift, scale = (wan.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
    tokens = wan.proj_out(wan.norm_out(tokens) * (1 + scale) + shift)
    out = tokens.reshape(b, f, h, w, 1, 2, 2, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return out.reshape(b, -1, f, hh, ww)


# ------------------------------------------------------------------------------------------ configs


def test_presets_and_did_you_mean() -> None:
    assert set(PRESETS) == {"animatex", "animatex-simple", "tiny", "tiny-simple", "animatex-tiny"}
    assert get_preset("animatex").has_ipi and not get_preset("animatex-simple").has_ipi
    with pytest.raises(ConfigError, match="Did you mean 'animatex-simple'"):
        get_preset("animatex_simpel")
    with pytest.raises(ConfigError, match="Known: animatex, animatex-simple, tiny, tiny-simple, animatex-tiny"):
        get_preset("zzz")


def test_14b_transformer_config_is_wan21_i2v_14b_720p() -> None:
    assert get_preset("animatex").transformer.kwargs() == {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 40,
        "attention_head_dim": 128,
        "in_channels": 36,
        "out_channels": 16,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 13824,
        "num_layers": 40,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
        "image_dim": 1280,
        "added_kv_proj_dim": 5120,
        "rope_max_seq_len": 1024,
        "pos_embed_seq_len": None,
    }
    assert get_preset("animatex-simple").transformer == get_preset("animatex").transformer


def test_sampling_defaults_follow_the_release() -> None:
    full, simple = get_preset("animatex").sampling, get_preset("animatex-simple").sampling
    for s in (full, simple):
        assert (s.num_inference_steps, s.shift, s.num_frames, s.height, s.width, s.seed) == (50, 5.0, 81, 832, 480, 0)
        assert s.negative_prompt.startswith("细节模糊不清，字幕") and s.negative_prompt.endswith("倒着走")
    assert (full.guidance_scale, simple.guidance_scale) == (3.0, 5.0)
    assert full.fps == 15


def test_ipi_block_rule() -> None:
    assert default_ipi_blocks(40) == tuple(range(2, 21)) and len(default_ipi_blocks(40)) == 19
    assert get_preset("animatex").ipi_block_indices == tuple(range(2, 21))
    assert get_preset("tiny").ipi_block_indices == (2, 3)
    assert get_preset("animatex-simple").ipi_block_indices == ()


def test_config_round_trip_and_consistency_errors() -> None:
    for cfg in PRESETS.values():
        assert AnimateXConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown TransformerConfig field"):
        AnimateXConfig.from_dict({"name": "x", "transformer": {"layers": 3}})
    with pytest.raises(ConfigError, match=r"pose_video\.out_channels 5120 != transformer width 24"):
        AnimateXConfig(name="bad", transformer=get_preset("tiny").transformer, ipi=None)
    with pytest.raises(ConfigError, match="is not 4k \\+ 1"):
        get_preset("tiny-simple").replace(sampling=dataclasses.replace(get_preset("tiny").sampling, num_frames=10))
    with pytest.raises(ConfigError, match="ipi_blocks \\[6\\] outside"):
        get_preset("tiny").replace(ipi_blocks=(2, 6))


# ------------------------------------------------------------------------------------------ equality with diffusers


def test_without_conditions_equals_plain_diffusers_wan() -> None:
    model = build(get_preset("tiny"))
    plain = plain_wan(model)
    x = inputs()
    reference = unconditioned(plain, x)
    with torch.no_grad():
        hidden = torch.cat([x["latents"], x["y"]], dim=1)
        ours = model(hidden, x["timestep"], x["text"], x["image"]).sample
        ours_condition = model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"]).sample
        zeros = model(
            hidden,
            x["timestep"],
            x["text"],
            x["image"],
            pose_tokens=torch.zeros(B, 24, LATENT_FRAMES, LATENT_H // 2, LATENT_W // 2),
            ipi_tokens=torch.zeros(B, LATENT_FRAMES, 24),
        ).sample
    assert reference.shape == (B, 16, LATENT_FRAMES, LATENT_H, LATENT_W)
    assert max_diff(ours, reference) <= TOL
    assert max_diff(ours_condition, reference) <= TOL
    assert max_diff(zeros, reference) <= TOL


def test_zero_initialised_outputs_leave_the_output_unchanged() -> None:
    model = build(tiny_config(zero_pose_outputs=True))
    plain = plain_wan(model)
    x = inputs()
    reference = unconditioned(plain, x)
    assert model.encode_ipi(x["keypoints"], x["clip"]).abs().max() == 0  # the release's zero-initialised IPI
    assert max_diff(conditioned(model, x), reference) <= TOL


@pytest.mark.parametrize("part", ["pose_video", "ref_pose", "ipi_output", "ipi_query"])
def test_non_zero_weights_change_the_output(part: str) -> None:
    model = build(tiny_config(zero_pose_outputs=True))
    reference = conditioned(model, inputs())
    layers = {
        "pose_video": [model.pose_video_encoder.convs[-1]],
        "ref_pose": [model.ref_pose_encoder.convs[-1]],
        "ipi_output": [model.ipi.resampler.proj_out2],
        "ipi_query": [model.ipi.resampler.proj_out2, model.ipi.keypoint_encoder.pre_image_condition_p[-1]],
    }[part]
    randomise(*layers)
    changed = conditioned(model, inputs())
    assert max_diff(changed, reference) > 1e-3
    if part == "ipi_query":  # the keypoints now reach the output too
        other = inputs()
        other["keypoints"] = other["keypoints"].flip(1)
        assert max_diff(conditioned(model, other), changed) > 1e-4


def test_injection_points_match_the_release_order() -> None:
    model = build(get_preset("tiny"))
    randomise(model.ipi.resampler.proj_out2, model.ipi.keypoint_encoder.pre_image_condition_p[-1])
    plain = plain_wan(model)
    x = inputs()
    hidden = torch.cat([x["latents"], x["y"]], dim=1)
    with torch.no_grad():
        pose = model.encode_pose_video(x["pose_video"])
        ipi = model.encode_ipi(x["keypoints"], x["clip"])
        base = reference_forward(plain, hidden, x["timestep"], x["text"], x["image"])
        expected = reference_forward(plain, hidden, x["timestep"], x["text"], x["image"], pose, ipi, (2, 3))
        ours = model(hidden, x["timestep"], x["text"], x["image"], pose_tokens=pose, ipi_tokens=ipi).sample
        tokens = model(
            hidden, x["timestep"], x["text"], x["image"], pose_tokens=PoseVideoEncoder.tokens(pose), ipi_tokens=ipi
        ).sample
        wrong_blocks = reference_forward(plain, hidden, x["timestep"], x["text"], x["image"], pose, ipi, (1, 2))
    assert max_diff(base, unconditioned(plain, x)) <= TOL  # the written-out reference is diffusers' forward
    assert max_diff(ours, expected) <= TOL
    assert max_diff(tokens, expected) <= TOL
    assert max_diff(ours, wrong_blocks) > 1e-4
    assert model.transformer._injection is None  # nothing left behind for the next call


def test_gradient_checkpointing_recomputes_with_the_conditions() -> None:
    """The blocks' re-run in backward must add the IPI again: same gradients as without checkpointing."""
    model = build(get_preset("tiny"))
    x = inputs()
    g = torch.Generator().manual_seed(4)
    pose = torch.randn(B, 24, LATENT_FRAMES, LATENT_H // 2, LATENT_W // 2, generator=g)
    ipi = torch.randn(B, LATENT_FRAMES, 24, generator=g)

    def grads(checkpointing: bool):
        transformer = copy.deepcopy(model.transformer)
        if checkpointing:
            transformer.enable_gradient_checkpointing()
        p, i = pose.clone().requires_grad_(), ipi.clone().requires_grad_()
        out = transformer(
            x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], pose_tokens=p, ipi_tokens=i
        )
        out.sample.square().mean().backward()
        return out.sample.detach(), p.grad, i.grad, transformer.blocks[3].attn1.to_q.weight.grad

    plain, checkpointed = grads(False), grads(True)
    assert plain[2].abs().max() > 0
    for a, b in zip(plain, checkpointed, strict=True):
        assert max_diff(a, b) <= TOL


def test_constant_pose_tokens_equal_a_patch_embedding_bias_shift() -> None:
    """Adding one vector to every patch token is adding it to the patch embedding's bias."""
    model = build(get_preset("tiny"))
    plain = plain_wan(model)
    x = inputs()
    shift = torch.randn(24, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        plain.patch_embedding.bias += shift
        grid = shift.view(1, 24, 1, 1, 1).expand(1, 24, LATENT_FRAMES, LATENT_H // 2, LATENT_W // 2)
        ours = model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], pose_tokens=grid).sample
    assert max_diff(ours, unconditioned(plain, x)) <= TOL


def test_batch_one_conditions_broadcast_and_rows_are_independent() -> None:
    model = build(get_preset("tiny"))
    randomise(model.ipi.resampler.proj_out2)
    x = inputs()
    with torch.no_grad():
        pose = model.encode_pose_video(x["pose_video"][:1])
        ipi = model.encode_ipi(x["keypoints"][:1], x["clip"][:1])
        ref = model.encode_ref_pose(x["ref_pose"][:1])
        args = (x["latents"], x["timestep"], x["text"], x["image"])
        broadcast = model(*args, condition=x["y"][:1], ref_pose_features=ref, pose_tokens=pose, ipi_tokens=ipi).sample
        expanded = model(
            *args,
            condition=x["y"][:1].expand(B, -1, -1, -1, -1),
            ref_pose_features=ref.expand(B, -1, -1, -1, -1),
            pose_tokens=pose.expand(B, -1, -1, -1, -1),
            ipi_tokens=ipi.expand(B, -1, -1),
        ).sample
        both = model.encode_ipi(x["keypoints"], x["clip"])
    assert max_diff(broadcast, expanded) <= TOL
    assert max_diff(both[:1], ipi) <= TOL  # no cross-talk between videos in a batch (the release assumes B = 1)


def test_reference_pose_is_added_to_every_latent_frame_of_y() -> None:
    y = torch.zeros(1, 20, 4, 8, 6)
    features = torch.randn(1, 20, 1, 8, 6)
    out = add_reference_pose(y, features)
    assert torch.equal(out, features.expand(1, 20, 4, 8, 6))
    assert torch.equal(add_reference_pose(y, features[:, :, 0]), out)
    with pytest.raises(ValueError, match="do not fit"):
        add_reference_pose(y, torch.zeros(1, 16, 1, 8, 6))


# ------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(("frames", "latent"), [(5, 2), (9, 3), (13, 4), (81, 21)])
def test_pose_video_encoder_maps_4k_plus_1_frames_to_latent_frames(frames: int, latent: int) -> None:
    encoder = PoseVideoEncoder(PoseVideoEncoderConfig(out_channels=24))
    video = torch.randint(0, 256, (1, 3, frames, 32, 16), dtype=torch.uint8)
    with torch.no_grad():
        assert encoder(video).shape == (1, 24, latent, 2, 1)


def test_pose_video_encoder_input_construction() -> None:
    encoder = PoseVideoEncoder(PoseVideoEncoderConfig(out_channels=8))
    video = torch.randint(0, 256, (1, 3, 5, 32, 32), dtype=torch.uint8)
    seen = []
    encoder.convs[0].register_forward_hook(lambda m, a, o: seen.append(a[0]))
    with torch.no_grad():
        from_uint8 = encoder(video)
        from_float = encoder(video.float() / 255)
    first = video[:, :, :1].float() / 255
    assert torch.equal(seen[0], torch.cat([first, first, first, video.float() / 255], dim=2))  # 3 extra first frames
    assert torch.equal(from_uint8, from_float)
    with pytest.raises(ValueError, match="4k \\+ 1"):
        encoder(torch.zeros(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="multiples of 16"):
        encoder(torch.zeros(1, 3, 5, 40, 32))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        encoder(torch.full((1, 3, 5, 32, 32), 200.0))


def test_tiny_shapes_end_to_end() -> None:
    model = build(get_preset("tiny"))
    x = inputs()
    with torch.no_grad():
        assert model.encode_pose_video(x["pose_video"]).shape == (B, 24, LATENT_FRAMES, LATENT_H // 2, LATENT_W // 2)
        assert model.encode_ref_pose(x["ref_pose"]).shape == (B, 20, 1, LATENT_H, LATENT_W)
        assert model.encode_ipi(x["keypoints"], x["clip"]).shape == (B, LATENT_FRAMES, 24)
        assert conditioned(model, x).shape == (B, 16, LATENT_FRAMES, LATENT_H, LATENT_W)
    with pytest.raises(ValueError, match="exactly 9 frames"):
        model.encode_ipi(x["keypoints"][:, :5], x["clip"][:, :5])
    with pytest.raises(ValueError, match="pose_tokens must be"):
        model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], pose_tokens=torch.zeros(B, 24, 3))
    with pytest.raises(ValueError, match="ipi_tokens must be"):
        model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], ipi_tokens=torch.zeros(B, 2, 24))
    with pytest.raises(ValueError, match="takes \\(B, 36"):
        model(x["latents"], x["timestep"], x["text"], x["image"])


def test_bfloat16_transformer_takes_float32_conditions() -> None:
    model = build(get_preset("tiny"))
    x = inputs()
    with torch.no_grad():
        pose = model.encode_pose_video(x["pose_video"])
        ipi = model.encode_ipi(x["keypoints"], x["clip"])
        model.transformer.to(torch.bfloat16)
        out = model(
            x["latents"].bfloat16(),
            x["timestep"],
            x["text"].bfloat16(),
            x["image"].bfloat16(),
            condition=x["y"],
            pose_tokens=pose,
            ipi_tokens=ipi,
        ).sample
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_keypoint_layout_is_the_releases() -> None:
    points = torch.arange(18 * 2, dtype=torch.float32).view(18, 2)  # point i = (2i, 2i + 1)
    feats = keypoint_features(points)
    assert torch.equal(feats[:18], points[:, 0]) and torch.equal(feats[18:], points[:, 1])  # [x0..x17, y0..y17]
    a2bench_layout = np.concatenate([points.numpy(), np.ones((18, 1))], axis=1)
    a2bench_layout = np.concatenate([a2bench_layout, np.full((112, 3), -1.0)])  # (130, 3): body first
    assert torch.equal(keypoint_features(a2bench_layout).float(), feats)
    with pytest.raises(ValueError, match="transpose it first"):
        keypoint_features(torch.zeros(9, 2, 18))


def test_frame_position_table() -> None:
    pos = np.arange(330)[:, None] / np.power(10000, 2 * (np.arange(1024) // 2) / 1024)[None]
    expected = np.where(np.arange(1024) % 2 == 0, np.sin(pos), np.cos(pos)).astype(np.float32)
    table = sinusoid_table(330, 1024)
    assert table.shape == (1, 330, 1024) and table.dtype == torch.float32
    assert np.abs(table[0].numpy() - expected).max() <= 1e-7


# ------------------------------------------------------------------------------------------ variants and modes


def test_ipi_is_inactive_for_the_simple_variants() -> None:
    model = build(get_preset("tiny-simple"))
    assert model.ipi is None and model.transformer.ipi_blocks == ()
    assert not any(k.startswith("ipi.") for k in model.state_dict())
    x = inputs()
    with pytest.raises(ConfigError, match="no Implicit Pose Indicator"):
        model.encode_ipi(x["keypoints"], x["clip"])
    with pytest.raises(ValueError, match="before no block"):
        model(x["latents"], x["timestep"], x["text"], x["image"], condition=x["y"], ipi_tokens=torch.zeros(B, 3, 24))
    assert conditioned(model, x, ipi=False).shape == (B, 16, LATENT_FRAMES, LATENT_H, LATENT_W)
    with torch.device("meta"):
        big = AnimateXModel(get_preset("animatex-simple"))
    assert big.ipi is None and big.transformer.ipi_blocks == ()


def test_eval_mode_is_deterministic_and_release_dropout_is_not() -> None:
    model = build(get_preset("tiny"))
    randomise(model.ipi.resampler.proj_out2, model.ipi.keypoint_encoder.pre_image_condition_p[-1])
    assert not model.training and not model.ipi.keypoint_encoder.encoder.training
    x = inputs()
    first, second = conditioned(model, x), conditioned(model, x)
    assert torch.equal(first, second)

    cfg = get_preset("tiny")
    release = build(cfg.replace(ipi=dataclasses.replace(cfg.ipi, release_dropout=True)))
    release.load_state_dict(model.state_dict())
    assert release.ipi.keypoint_encoder.encoder.training and not release.transformer.training
    with torch.no_grad():
        a, b = (release.encode_ipi(x["keypoints"], x["clip"]) for _ in range(2))
        torch.manual_seed(3)
        c = release.encode_ipi(x["keypoints"], x["clip"])
        torch.manual_seed(3)
        d = release.encode_ipi(x["keypoints"], x["clip"])
        clean = model.encode_ipi(x["keypoints"], x["clip"])
    assert max_diff(a, b) > 1e-4 and max_diff(a, clean) > 1e-4
    assert torch.equal(c, d)  # reproducible under a seeded global RNG


def test_deepcopy_and_from_config_keep_the_injection() -> None:
    model = build(get_preset("tiny"))
    x = inputs()
    pose = torch.randn(B, 24, LATENT_FRAMES, LATENT_H // 2, LATENT_W // 2)
    args = (x["latents"], x["timestep"], x["text"], x["image"])
    with torch.no_grad():
        expected = model(*args, condition=x["y"], pose_tokens=pose).sample
        twin = copy.deepcopy(model)
        assert torch.equal(twin(*args, condition=x["y"], pose_tokens=pose).sample, expected)
        rebuilt = AnimateXTransformer.from_config(model.transformer.config).eval()
        rebuilt.load_state_dict(model.transformer.state_dict(), strict=True)
        assert rebuilt.config.num_layers == 6 and rebuilt.ipi_blocks == (2, 3)
        assert torch.equal(rebuilt(*args, condition=x["y"], pose_tokens=pose).sample, expected)


# ------------------------------------------------------------------------------------------ 14B sizes and keys


def wan_i2v_parameters(t: TransformerConfig) -> int:
    """Parameters of Wan2.1 I2V from its architecture (spec §1.1), counted by hand."""
    d, ffn, L = t.inner_dim, t.ffn_dim, t.num_layers

    def linear(i, o):
        return i * o + o

    block = (
        4 * linear(d, d) + 2 * d  # self-attention q, k, v, o + RMSNorm q, k over all heads
        + 4 * linear(d, d) + 2 * linear(d, d) + 3 * d  # cross-attention (+ image k, v) + 3 RMSNorms
        + 2 * d  # affine LayerNorm before cross-attention
        + linear(d, ffn) + linear(ffn, d)  # FFN
        + 6 * d  # modulation
    )  # fmt: skip
    patch = t.in_channels * 4 * d + d
    time = linear(t.freq_dim, d) + linear(d, d) + linear(d, 6 * d)
    text = linear(t.text_dim, d) + linear(d, d)
    image = 2 * t.image_dim + linear(t.image_dim, t.image_dim) + linear(t.image_dim, d) + 2 * d
    head = 2 * d + linear(d, t.out_channels * 4)
    return L * block + patch + time + text + image + head


def test_14b_parameter_counts_on_the_meta_device() -> None:
    with torch.device("meta"):
        full = AnimateXModel(get_preset("animatex"))
        simple = AnimateXModel(get_preset("animatex-simple"))
        wan = WanTransformer3DModel(**get_preset("animatex").transformer.kwargs())

    def count(module):
        return sum(p.numel() for p in module.parameters())

    wan_params = wan_i2v_parameters(get_preset("animatex").transformer)
    assert wan_params == 16_394_878_784  # Wan2.1-I2V-14B: 14B text-to-video + image k/v + 36-channel input
    assert count(wan) == count(full.transformer) == wan_params
    pose_video = 3 * 16 * 27 + 16 + 5 * (16 * 16 * 27 + 16) + 16 * 5120 * 4 + 5120
    ref_pose = 3 * 16 * 9 + 16 + 4 * (16 * 16 * 9 + 16) + 16 * 20 * 9 + 20
    assert (count(full.pose_video_encoder), count(full.ref_pose_encoder)) == (pose_video, ref_pose) == (368_752, 12_628)
    assert count(full.ipi.keypoint_encoder) == 21_548_544  # + the 330×1024 position table (a buffer)
    assert count(full.ipi.resampler) == 108_067_844
    assert count(full) == 16_524_876_552
    assert count(simple) == wan_params + pose_video + ref_pose == 16_395_260_164
    assert set(full.transformer.state_dict()) == set(wan.state_dict())  # diffusers' key names, nothing added


def test_release_key_names_map_by_prefix() -> None:
    with torch.device("meta"):
        model = AnimateXModel(get_preset("animatex"))
    sd = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items() if not k.startswith("transformer.")}
    dw = {f"pose_video_encoder.convs.{i}.{p}" for i in range(0, 13, 2) for p in ("weight", "bias")}
    ref = {f"ref_pose_encoder.convs.{i}.{p}" for i in range(0, 11, 2) for p in ("weight", "bias")}
    before = {k for k in shapes if k.startswith("ipi.keypoint_encoder.")}
    after = {k for k in shapes if k.startswith("ipi.resampler.")}
    assert set(shapes) == dw | ref | before | after
    assert (len(before), len(after)) == (45, 99)  # the release's pose_embedding_before / _after tensor counts
    expected = {
        "pose_video_encoder.convs.0.weight": (16, 3, 3, 3, 3),
        "pose_video_encoder.convs.12.weight": (5120, 16, 1, 2, 2),
        "ref_pose_encoder.convs.10.weight": (20, 16, 3, 3),
        "ipi.keypoint_encoder.pos_embed.pos_table": (1, 330, 1024),
        "ipi.keypoint_encoder.increase_embed_dim.0.weight": (512, 36),
        "ipi.keypoint_encoder.encoder.layers.2.self_attn.in_proj_weight": (3072, 1024),
        "ipi.keypoint_encoder.encoder.layers.0.linear1.weight": (1024, 1024),
        "ipi.keypoint_encoder.pre_image_condition_p.2.bias": (1024,),
        "ipi.resampler.latents": (1, 1, 1024),
        "ipi.resampler.proj_conv.weight": (21, 81, 3),
        "ipi.resampler.proj_out2.weight": (5120, 1024),
        "ipi.resampler.layers.7.0.to_kv.weight": (2048, 1024),
        "ipi.resampler.layers.7.1.0.bias": (1024,),
        "ipi.resampler.layers.7.1.1.weight": (4096, 1024),
        "ipi.resampler.layers.7.1.3.weight": (1024, 4096),
    }
    assert {k: shapes[k] for k in expected} == expected
    assert "ipi.resampler.layers.0.0.to_q.bias" not in shapes and "ipi.resampler.layers.0.1.1.bias" not in shapes


# ------------------------------------------------------------------------------------------ OpenCLIP frame encoder


def test_open_clip_frame_encoder_equals_encode_image() -> None:
    open_clip = pytest.importorskip("open_clip")
    from a2bench.animatex.config import OpenCLIPConfig
    from a2bench.animatex.ipi import OpenCLIPFrameEncoder

    vision = {"image_size": 28, "layers": 2, "width": 32, "head_width": 16, "patch_size": 14}
    text = {"context_length": 8, "vocab_size": 50, "width": 16, "heads": 2, "layers": 1}
    torch.manual_seed(0)
    reference = open_clip.model.CLIP(embed_dim=16, vision_cfg=vision, text_cfg=text).eval()
    encoder = OpenCLIPFrameEncoder(OpenCLIPConfig(image_size=28, embed_dim=16), vision_overrides=vision)
    encoder.load_open_clip_state_dict(reference.state_dict())
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 30, 3), dtype=np.uint8)
    pixels = encoder.preprocess(frames)
    assert pixels.shape == (5, 3, 28, 28)
    with torch.no_grad():
        assert max_diff(encoder.encode_frames(frames, batch_size=2), reference.encode_image(pixels)) <= TOL
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training

    from PIL import Image

    manual = np.asarray(Image.fromarray(frames[0]).resize((28, 28), Image.BILINEAR)) / 255.0
    manual = (manual - np.array([0.48145466, 0.4578275, 0.40821073])) / np.array([0.26862954, 0.26130258, 0.27577711])
    assert np.abs(pixels[0].permute(1, 2, 0).numpy() - manual).max() < 1e-5


def test_open_clip_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from a2bench.animatex import ipi

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "open_clip":
            raise ImportError("No module named 'open_clip'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ipi.importlib, "import_module", fake)
    with pytest.raises(ImportError, match="open_clip_torch"):
        ipi.OpenCLIPFrameEncoder()


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_preset("tiny").name = "x"  # type: ignore[misc]
    assert IPIConfig().num_frames == 81 and RefPoseEncoderConfig().out_channels == 20
    assert isinstance(ImplicitPoseIndicator, type) and isinstance(RefPoseEncoder, type)
