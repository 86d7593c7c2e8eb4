"""Animate-X++ checkpoint loading: official layouts → diffusers/transformers, the release ckpt, the registry.

Random weights are written in the official layouts (original Wan key names, 7 DiT shards with an index, ``.pth``
pickles, a release-style ckpt) for small configs, loaded back and compared with the models they came from. The
14B key sets are generated on the meta device (no memory) to show that every key maps at full size.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import a2bench.animatex.weights as registry
from a2bench.animatex.loading import animatex_ckpt, bundle, lora, openclip, wan
from a2bench.animatex.loading.keys import CheckpointKeyError
from a2bench.animatex.testing import LORA_TARGETS, TINY_IPI, lora_state, randomized, release_ckpt, save_sharded_original
from a2bench.cli import main
from a2bench.core.weights import WEIGHTS, WeightsError, fetch, resolve

TINY_DIT = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 36,
    "out_channels": 16,
    "text_dim": 32,
    "freq_dim": 16,
    "ffn_dim": 48,
    "num_layers": 6,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": 16,
    "added_kv_proj_dim": 24,
    "rope_max_seq_len": 1024,
}
# Wan2.1's VAE structure (four stages, two residual blocks: what diffusers' converter assumes) at width 8.
TINY_VAE = {"base_dim": 8, "z_dim": 4, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2}
TINY_T5 = {**wan.T5_XXL, "vocab_size": 100, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4}
TINY_CLIP = {**wan.CLIP_VIT_H, "hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 3}
TINY_CLIP.update(num_attention_heads=2, image_size=28, projection_dim=16)
CONFIGS = {"transformer": TINY_DIT, "vae": TINY_VAE, "text_encoder": TINY_T5, "image_encoder": TINY_CLIP}


def tensors_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        assert a[key].shape == b[key].shape and torch.equal(a[key], b[key]), key


def dit_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "hidden_states": torch.randn(1, 36, 3, 8, 6, generator=generator),
        "timestep": torch.tensor([937.0]),
        "encoder_hidden_states": torch.randn(1, 512, 32, generator=generator),
        "encoder_hidden_states_image": torch.randn(1, 257, 16, generator=generator),
        "return_dict": False,
    }


def same_output(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal weights (checked exactly beside) give the same output up to float rounding: weights read in place from
    a safetensors file are not 64-byte aligned, and on some CPUs the matrix products then take another SIMD path
    than for the reference's freshly allocated ones (an AMD EPYC here: 9.5e-7 at most, on outputs up to 4.1)."""
    torch.testing.assert_close(got, want, rtol=2e-6, atol=1e-6)


@pytest.fixture(scope="module")
def models():
    """The reference models (diffusers/transformers, random weights) the official files are written from."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    return {
        "transformer": randomized(WanTransformer3DModel(**TINY_DIT), 1),
        "vae": randomized(AutoencoderKLWan(**TINY_VAE), 2),
        "text_encoder": randomized(UMT5EncoderModel(UMT5Config(**TINY_T5)), 3),
        "image_encoder": randomized(CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)), 4),
    }


@pytest.fixture(scope="module")
def official(models, tmp_path_factory):
    """A tiny Wan2.1-I2V folder in the original layout, the release ckpts and an OpenCLIP-style file."""
    root = tmp_path_factory.mktemp("official")
    wan_dir = root / registry.WAN_DIR
    dit_original = wan.dit_to_original(models["transformer"].state_dict())
    save_sharded_original(dit_original, wan_dir)
    vae = {wan.vae_key_to_original(k): v for k, v in models["vae"].state_dict().items()}
    torch.save({"model_state": vae}, wan_dir / "Wan2.1_VAE.pth")  # DiffSynth tolerates this wrapper
    torch.save(wan.t5_to_original(models["text_encoder"].state_dict()), wan_dir / "models_t5_umt5-xxl-enc-bf16.pth")
    clip = wan.clip_to_original(models["image_encoder"].state_dict())
    clip.update({"textual.token_embedding.weight": torch.randn(5, 4), "log_scale": torch.tensor(4.6)})
    clip["visual.head"] = torch.randn(32, 16)
    torch.save(clip, wan_dir / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth")
    shapes = {k: tuple(v.shape) for k, v in dit_original.items()}
    full, simple = release_ckpt(shapes, 10), release_ckpt(shapes, 20, groups=animatex_ckpt.REQUIRED["simple"])
    torch.save(full, root / "animate-x++.ckpt")
    torch.save(simple, root / "animate-x++_simple.ckpt")
    clip_keys = {k: (2, 3) for k in openclip.vit_h_14_shapes()}
    torch.save({k: torch.randn(s) for k, s in clip_keys.items()}, root / "open_clip_pytorch_model.bin")
    return {"root": root, "wan": wan_dir, "dit_original": dit_original, "full": full, "simple": simple}


# ---------------------------------------------------------------------------------------------- DiT


def test_dit_from_seven_original_shards_equals_the_reference(models, official) -> None:
    loaded = wan.load_transformer(official["wan"], config=TINY_DIT, dtype=torch.float32)
    tensors_equal(loaded.state_dict(), models["transformer"].state_dict())
    with torch.no_grad():
        same_output(loaded(**dit_inputs())[0], models["transformer"](**dit_inputs())[0])
    index = official["wan"] / "diffusion_pytorch_model.safetensors.index.json"
    assert len(set(json.loads(index.read_text())["weight_map"].values())) == 7
    assert set(wan.read_dit(index)) == set(models["transformer"].state_dict())


def test_dit_in_bfloat16_keeps_diffusers_fp32_modules(models, official) -> None:
    loaded = wan.load_transformer(official["wan"], config=TINY_DIT, dtype=torch.bfloat16)
    dtypes = {k: v.dtype for k, v in loaded.state_dict().items()}
    assert dtypes["blocks.0.scale_shift_table"] == torch.float32 and dtypes["blocks.0.norm2.weight"] == torch.float32
    assert dtypes["condition_embedder.time_embedder.linear_1.weight"] == torch.float32
    assert dtypes["blocks.0.attn1.to_q.weight"] == torch.bfloat16
    reference = models["transformer"].state_dict()
    assert torch.equal(loaded.state_dict()["blocks.1.norm2.weight"], reference["blocks.1.norm2.weight"])  # not rounded
    plain = wan.load_transformer(official["wan"], config=TINY_DIT, dtype=torch.bfloat16, keep_fp32=False)
    assert {v.dtype for v in plain.state_dict().values()} == {torch.bfloat16}


def test_dit_diffusers_layout_and_prefixed_single_file_load_as_is(models, tmp_path) -> None:
    reference = models["transformer"].state_dict()
    save_file({k: v.contiguous() for k, v in reference.items()}, tmp_path / "diffusers.safetensors")
    tensors_equal(wan.read_dit(tmp_path / "diffusers.safetensors"), reference)
    prefixed = {f"model.diffusion_model.{k}": v for k, v in wan.dit_to_original(reference).items()}
    save_file({k: v.contiguous() for k, v in prefixed.items()}, tmp_path / "comfy.safetensors")
    tensors_equal(wan.read_dit(tmp_path / "comfy.safetensors"), reference)


def test_dit_14b_every_key_maps_both_ways_without_allocating() -> None:
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    target = wan.empty_transformer(wan.TRANSFORMER_14B).state_dict()
    assert {v.device.type for v in target.values()} == {"meta"}
    assert len(target) == 1303 == len(wan.DIT_GLOBAL) + 40 * len(wan.DIT_BLOCK)
    assert sum(v.numel() for v in target.values()) == 16_394_878_784
    original = wan.dit_to_original(target)
    assert len(original) == 1303 and "blocks.39.cross_attn.norm_k_img.weight" in original
    assert original["blocks.0.norm3.weight"].shape == (5120,) and original["head.modulation"].shape == (1, 2, 5120)
    converted = wan.convert_dit_state_dict(original)
    wan.check_state_dict(converted, target, "14B")  # every key, no extra, equal shapes
    assert all(converted[k] is target[k] for k in target)
    # diffusers' own converter (sequential string replacements) agrees name for name
    theirs = convert_wan_transformer_to_diffusers({k: k for k in original})
    assert {new: old for new, old in theirs.items()} == {wan.dit_key_to_diffusers(k): k for k in original}


def test_dit_unknown_missing_and_misshapen_keys_are_listed(official, tmp_path) -> None:
    state = dict(official["dit_original"])
    state["blocks.0.self_attn.qq.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointKeyError, match=r"unexpected 1 key: blocks\.0\.self_attn\.qq\.weight") as caught:
        wan.convert_dit_state_dict(state)
    assert caught.value.unexpected == ["blocks.0.self_attn.qq.weight"]
    assert isinstance(caught.value, WeightsError)
    state = {k: v for k, v in official["dit_original"].items() if not k.startswith("blocks.5.")}
    state["head.head.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointKeyError) as caught:
        wan.load_transformer(state=state, config=TINY_DIT, dtype=torch.float32)
    message = str(caught.value)
    assert "missing 32 keys: blocks.5.attn1.norm_k.weight" in message and "(+20 more)" in message
    assert "wrong shape 1 key: proj_out.weight [3, 3] vs [64, 24]" in message
    assert len(caught.value.missing) == 32


def test_sharded_index_must_match_its_shards(official, tmp_path) -> None:
    folder = tmp_path / "dit"
    index = save_sharded_original(official["dit_original"], folder, shards=2)
    data = json.loads(index.read_text())
    original = index.read_text()
    moved = next(iter(data["weight_map"]))
    data["weight_map"][moved] = "diffusion_pytorch_model-00002-of-00002.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(CheckpointKeyError, match=re.escape(moved)):
        wan.read_dit(folder)
    index.write_text(original)
    (folder / "diffusion_pytorch_model-00002-of-00002.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"shard diffusion_pytorch_model-00002-of-00002\.safetensors"):
        wan.read_dit(index)


# ---------------------------------------------------------------------------------------------- VAE, umT5, CLIP


def test_vae_pth_equals_the_reference(models, official) -> None:
    loaded = wan.load_vae(official["wan"] / "Wan2.1_VAE.pth", config=TINY_VAE)
    tensors_equal(loaded.state_dict(), models["vae"].state_dict())
    video = torch.rand(1, 3, 5, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ours = loaded.encode(video).latent_dist.mode()
        assert torch.equal(ours, models["vae"].encode(video).latent_dist.mode())
        assert torch.equal(loaded.decode(ours).sample, models["vae"].decode(ours).sample)


def test_vae_full_size_keys_round_trip_through_diffusers_converter() -> None:
    target = wan.empty_vae().state_dict()
    original = {wan.vae_key_to_original(k): v for k, v in target.items()}
    assert len(original) == len(target) == 194
    assert "decoder.upsamples.4.shortcut.weight" in original and "decoder.upsamples.11.resample.1.weight" in original
    converted = wan.convert_vae_state_dict(original)
    wan.check_state_dict(converted, target, "VAE")
    original["decoder.upsamples.15.residual.0.gamma"] = torch.zeros(1)  # passed through by diffusers, caught here
    with pytest.raises(CheckpointKeyError, match=r"decoder\.upsamples\.15"):
        wan.load_vae(state=original)


def test_umt5_pth_equals_the_reference(models, official) -> None:
    path = official["wan"] / "models_t5_umt5-xxl-enc-bf16.pth"
    loaded = wan.load_text_encoder(path, config=TINY_T5, dtype=torch.float32)
    reference = models["text_encoder"]
    tensors_equal(loaded.state_dict(), reference.state_dict())
    assert loaded.encoder.embed_tokens.weight is loaded.shared.weight
    ids = torch.randint(0, 100, (2, 20), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, 13:] = 0
    with torch.no_grad():
        ours = loaded(input_ids=ids, attention_mask=mask).last_hidden_state
        assert torch.equal(ours, reference(input_ids=ids, attention_mask=mask).last_hidden_state)
    assert wan.load_text_encoder(path, config=TINY_T5).shared.weight.dtype == torch.bfloat16


def test_umt5_xxl_keys_without_allocating() -> None:
    target = wan.empty_text_encoder().state_dict()
    original = wan.t5_to_original(target)
    assert len(original) == 242 == 2 + 24 * len(wan.T5_BLOCK) and len(target) == 243
    assert original["blocks.23.pos_embedding.embedding.weight"].shape == (32, 64)
    wan.check_state_dict(wan.convert_t5_state_dict(original), target, "umT5")
    with pytest.raises(CheckpointKeyError, match=r"blocks\.0\.attn\.rel"):
        wan.convert_t5_state_dict({**original, "blocks.0.attn.rel.weight": torch.zeros(1)})


def test_clip_pth_equals_the_reference_penultimate_layer(models, official) -> None:
    path = official["wan"] / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
    loaded = wan.load_image_encoder(path, config=TINY_CLIP)
    reference = models["image_encoder"]
    tensors_equal(loaded.state_dict(), reference.state_dict())
    pixels = torch.randn(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = loaded(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]
        assert torch.equal(ours, reference(pixel_values=pixels, output_hidden_states=True).hidden_states[-2])


def test_clip_vit_h_keys_without_allocating() -> None:
    target = wan.empty_image_encoder().state_dict()
    original = wan.clip_to_original(target)
    assert len(original) == 391 and original["visual.transformer.31.attn.to_qkv.weight"].shape == (3840, 1280)
    assert original["visual.cls_embedding"].shape == (1, 1, 1280)
    assert original["visual.pos_embedding"].shape == (1, 257, 1280)
    with_dropped = {**original, "visual.head": torch.empty(1280, 1024, device="meta"), "log_scale": torch.zeros(())}
    with_dropped["textual.encoder.layers.0.attn.q.weight"] = torch.zeros(1)
    wan.check_state_dict(wan.convert_clip_state_dict(with_dropped), target, "CLIP")
    with pytest.raises(CheckpointKeyError, match=r"visual\.proj"):
        wan.convert_clip_state_dict({**original, "visual.proj": torch.zeros(1)})
    hf = {f"vision_model.{k}": v for k, v in target.items()} | {"visual_projection.weight": torch.zeros(1)}
    wan.check_state_dict(wan.convert_clip_state_dict(hf), target, "CLIP (transformers layout)")


# ---------------------------------------------------------------------------------------------- Animate-X++ ckpt


def test_release_ckpt_splits_into_lora_and_modules(official) -> None:
    ckpt = animatex_ckpt.read_checkpoint(official["root"] / "animate-x++.ckpt", transformer_config=TINY_DIT, **TINY_IPI)
    assert ckpt.variant == "full" and ckpt.ranks == {2} and len(ckpt.lora) == 6 * len(LORA_TARGETS)
    assert ckpt.lora_targets() == set(LORA_TARGETS)
    assert animatex_ckpt.summary(ckpt).startswith("full model: 60 LoRA pairs, rank [2], targets ['cross_attn.k',")
    pair = ckpt.lora["blocks.3.attn1.to_out.0.weight"]
    assert pair.original == "blocks.3.self_attn.o.weight"
    assert torch.equal(pair.down, official["full"]["pipe.dit.blocks.3.self_attn.o.lora_A.default.weight"])
    assert {"blocks.0.ffn.net.0.proj.weight", "blocks.5.attn2.to_v.weight"} <= set(ckpt.lora)
    keys = animatex_ckpt.addition_keys(**TINY_IPI)
    assert {g: set(v) for g, v in ckpt.groups.items()} == keys
    assert torch.equal(ckpt.groups["dwpose_embedding"]["12.bias"], official["full"]["dwpose_embedding.12.bias"])
    adapter = lora.lora_adapter_state_dict(ckpt.lora)
    assert adapter["blocks.3.attn1.to_out.0.lora_B.weight"] is pair.up and len(adapter) == 2 * len(ckpt.lora)
    simple = animatex_ckpt.read_checkpoint(official["root"] / "animate-x++_simple.ckpt", variant=None, **_tiny())
    assert simple.variant == "simple" and set(simple.groups) == {"dwpose_embedding", "randomref_embedding_pose"}


def _tiny() -> dict:
    return {"transformer_config": TINY_DIT, **TINY_IPI}


def test_lora_merge_is_w_plus_b_at_a(models, official) -> None:
    ckpt = animatex_ckpt.read_checkpoint(official["root"] / "animate-x++.ckpt", **_tiny())
    base = models["transformer"].state_dict()
    merged = wan.load_transformer(official["wan"], config=TINY_DIT, dtype=torch.float32, lora=ckpt).state_dict()
    for key, value in base.items():
        if key in ckpt.lora:
            pair = ckpt.lora[key]
            torch.testing.assert_close(merged[key], value + pair.up @ pair.down, rtol=1e-6, atol=1e-6)
            assert not torch.equal(merged[key], value)
        else:
            assert torch.equal(merged[key], value), key
    model = randomized(type(models["transformer"])(**TINY_DIT), 1)
    lora.merge_lora(model, ckpt.lora, scale=0.5)
    key = "blocks.2.ffn.net.2.weight"
    torch.testing.assert_close(model.state_dict()[key], base[key] + 0.5 * ckpt.lora[key].up @ ckpt.lora[key].down)


def test_release_ckpt_errors_list_the_keys(official) -> None:
    good = dict(official["full"])
    with pytest.raises(CheckpointKeyError, match=r"unexpected 1 key: pipe\.dit\.blocks\.0\.modulation") as caught:
        animatex_ckpt.split_state_dict({**good, "pipe.dit.blocks.0.modulation": torch.zeros(1)}, **_tiny())
    assert "strict=False" in str(caught.value)
    lenient = animatex_ckpt.split_state_dict(
        {**good, "pipe.dit.blocks.0.modulation": torch.zeros(1)}, strict=False, **_tiny()
    )
    assert lenient.ignored == ["pipe.dit.blocks.0.modulation"]
    lonely = {k: v for k, v in good.items() if k != "pipe.dit.blocks.1.ffn.2.lora_B.default.weight"}
    with pytest.raises(CheckpointKeyError, match=r"partner of pipe\.dit\.blocks\.1\.ffn\.2\.lora_A"):
        animatex_ckpt.split_state_dict(lonely, **_tiny())
    stray = {**good, "pipe.dit.blocks.9.self_attn.q.lora_A.default.weight": torch.zeros(2, 24)}
    stray["pipe.dit.blocks.9.self_attn.q.lora_B.default.weight"] = torch.zeros(24, 2)
    with pytest.raises(CheckpointKeyError, match=r"unexpected 2 keys: pipe\.dit\.blocks\.9\.self_attn\.q"):
        animatex_ckpt.split_state_dict(stray, **_tiny())
    wrong = {**good, "pipe.dit.blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(2, 25)}
    with pytest.raises(CheckpointKeyError, match=r"wrong shape 1 key: blocks\.0\.self_attn\.q\.weight: A \[2, 25\]"):
        animatex_ckpt.split_state_dict(wrong, **_tiny())
    incomplete = {k: v for k, v in good.items() if k != "pose_embedding_after.latents"}
    with pytest.raises(CheckpointKeyError, match=r"pose_embedding_after: missing 1 key: latents"):
        animatex_ckpt.split_state_dict(incomplete, **_tiny())
    no_ipi = {k: v for k, v in good.items() if "pose_embedding_" not in k}
    with pytest.raises(CheckpointKeyError, match=r"full model\): modules: missing 2 keys: pose_embedding_after\.\*"):
        animatex_ckpt.split_state_dict(no_ipi, variant="full", **_tiny())
    extra = {**good, "pipe.randomref_embedding_pose.14.weight": torch.zeros(1)}
    with pytest.raises(CheckpointKeyError, match=r"randomref_embedding_pose: unexpected 1 key: 14\.weight"):
        animatex_ckpt.split_state_dict(extra, **_tiny())
    no_lora = {k: v for k, v in good.items() if "lora" not in k}
    with pytest.raises(CheckpointKeyError, match="no DiT LoRA"):
        animatex_ckpt.split_state_dict(no_lora, **_tiny())


def test_release_ckpt_tolerates_what_the_release_tolerates(official) -> None:
    state = {f"module.pipe.{k}" if "lora" not in k else k: v for k, v in official["full"].items()}
    state = {k.replace("lora_A.default.", "lora_A.").replace("lora_B.default.", "lora_B."): v for k, v in state.items()}
    del state["module.pipe.pose_embedding_before.pos_embed.pos_table"]
    state["learn_in_embedding.0.weight"] = torch.zeros(1)
    ckpt = animatex_ckpt.split_state_dict(state, **_tiny())
    assert len(ckpt.lora) == 6 * len(LORA_TARGETS) and "pos_embed.pos_table" not in ckpt.groups["pose_embedding_before"]
    assert any("pos_table is absent" in note for note in ckpt.notes)
    assert any("learn_in_embedding: 1 tensors that no Animate-X++ module uses" in n for n in ckpt.notes)
    simple_with_ipi = animatex_ckpt.split_state_dict(official["full"], variant="simple", **_tiny())
    assert any("simple model has no such module" in note for note in simple_with_ipi.notes)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3))  # the model side's module, by name and shape
    expected = {"randomref_embedding_pose": module.state_dict()}
    with pytest.raises(CheckpointKeyError, match=r"unexpected 10 keys: 10\.bias.*wrong shape 2 keys: 0\.bias \[3, 2\]"):
        animatex_ckpt.split_state_dict(official["full"], expected=expected, **_tiny())


def test_release_ckpt_14b_keys_without_allocating() -> None:
    shapes = animatex_ckpt.dit_original_shapes(wan.TRANSFORMER_14B)
    state = lora_state(shapes, rank=64, seed=0, meta=True)
    assert len(state) == 2 * 40 * 10
    release_shapes = {  # the release's modules at 14B (spec §3a-3c)
        "dwpose_embedding.0.weight": (16, 3, 3, 3, 3),
        "dwpose_embedding.12.weight": (5120, 16, 1, 2, 2),
        "randomref_embedding_pose.10.weight": (20, 16, 3, 3),
        "pose_embedding_before.pos_embed.pos_table": (1, 330, 1024),
        "pose_embedding_after.proj_conv.weight": (21, 81, 3),
        "pose_embedding_after.proj_out2.weight": (5120, 1024),
    }
    for group, keys in animatex_ckpt.addition_keys().items():
        for key in keys:
            name = f"{group}.{key}"
            state[name] = torch.empty(release_shapes.get(name, (1,)), device="meta")
    ckpt = animatex_ckpt.split_state_dict(state, dit_shapes=shapes)
    assert len(ckpt.lora) == 400 and ckpt.ranks == {64}
    assert {g: len(v) for g, v in ckpt.groups.items()} == {
        "dwpose_embedding": 14,
        "randomref_embedding_pose": 12,
        "pose_embedding_before": 45,
        "pose_embedding_after": 99,
    }
    per_rank = sum(p.down.shape[1] + p.up.shape[0] for p in ckpt.lora.values())
    assert per_rank == 4_792_320  # spec §3d: 40 · [8 · (5120 + 5120) + 2 · (5120 + 13824)]
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    theirs = convert_wan_transformer_to_diffusers({k.removeprefix("pipe.dit."): k for k in state if "lora" in k})
    ours = {f"{key.removesuffix('.weight')}.lora_{w}.default.weight" for key in ckpt.lora for w in "AB"}
    assert set(theirs) == ours


# ---------------------------------------------------------------------------------------------- OpenCLIP


def test_open_clip_table_matches_open_clip_and_checks_the_file(official) -> None:
    pytest.importorskip("open_clip")
    assert openclip.open_clip_shapes() == openclip.vit_h_14_shapes()
    assert len(openclip.vit_h_14_shapes()) == 686
    path = official["root"] / "open_clip_pytorch_model.bin"
    small = {k: (2, 3) for k in openclip.vit_h_14_shapes()}
    state = openclip.read_open_clip(path, expected=small, visual_only=True)
    assert len(state) == 392 and all(k.startswith("visual.") for k in state)
    with pytest.raises(CheckpointKeyError, match=r"wrong shape 686 keys"):
        openclip.read_open_clip(path)
    with pytest.raises(CheckpointKeyError, match=r"missing 1 key: extra"):
        openclip.read_open_clip(path, expected={**small, "extra": (1,)})


# ---------------------------------------------------------------------------------------------- bundle


def test_bundle_round_trip_equals_the_loaders(models, official, tmp_path) -> None:
    small_clip = {k: (2, 3) for k in openclip.vit_h_14_shapes()}
    out = bundle.convert(
        tmp_path / "animatex-tiny.safetensors",
        variant="full",
        dtype=torch.float32,
        wan_dir=official["wan"],
        checkpoint=official["root"] / "animate-x++.ckpt",
        open_clip=official["root"] / "open_clip_pytorch_model.bin",
        configs={**CONFIGS, "open_clip": small_clip},
        checkpoint_options=TINY_IPI,
    )
    assert load_file(out)  # safetensors' own reader accepts the streamed file
    loaded = bundle.load_bundle(out)
    assert loaded.variant == "full" and loaded.metadata["lora_merged"] == "true"
    assert set(loaded.state) == set(bundle.COMPONENTS["full"])
    ckpt = animatex_ckpt.read_checkpoint(official["root"] / "animate-x++.ckpt", **_tiny())
    merged = wan.load_transformer(official["wan"], config=TINY_DIT, dtype=torch.float32, lora=ckpt)
    tensors_equal(loaded.state["transformer"], merged.state_dict())
    for component in ("vae", "image_encoder"):
        tensors_equal(loaded.state[component], models[component].state_dict())
    for group, tensors in ckpt.groups.items():
        tensors_equal(loaded.state[group], tensors)
    assert len(loaded.state["open_clip"]) == 392
    model = wan.load_transformer(state=loaded.state["transformer"], config=TINY_DIT, dtype=torch.float32)
    with torch.no_grad():
        same_output(model(**dit_inputs())[0], merged(**dit_inputs())[0])
    assert "encoder.embed_tokens.weight" not in loaded.state["text_encoder"]  # tied: stored once
    encoder = wan.load_text_encoder(state=loaded.state["text_encoder"], config=TINY_T5, dtype=torch.float32)
    tensors_equal(encoder.state_dict(), models["text_encoder"].state_dict())
    only = bundle.load_bundle(out, ["dwpose_embedding"])
    assert set(only.state) == {"dwpose_embedding"}


def test_bundle_release_dtypes_and_subsets(official, tmp_path) -> None:
    out = bundle.convert(
        tmp_path / "simple.safetensors",
        variant="simple",
        wan_dir=official["wan"],
        checkpoint=official["root"] / "animate-x++_simple.ckpt",
        components=("transformer", "text_encoder", "dwpose_embedding"),
        configs=CONFIGS,
    )
    loaded = bundle.load_bundle(out)
    assert json.loads(loaded.metadata["dtypes"])["transformer"] == "bfloat16"
    transformer = loaded.state["transformer"]
    assert transformer["blocks.0.attn1.to_q.weight"].dtype == torch.bfloat16
    assert transformer["blocks.0.scale_shift_table"].dtype == torch.float32
    assert loaded.state["dwpose_embedding"]["0.weight"].dtype == torch.float32
    with pytest.raises(ValueError, match="not part of the simple bundle"):
        bundle.convert(tmp_path / "x.safetensors", variant="simple", components=("open_clip",))


def test_streamed_writer_refuses_a_mismatch_and_leaves_nothing(tmp_path) -> None:
    plan = {"a": (torch.float32, (2,)), "b": (torch.bfloat16, (1, 3))}
    good = [("a", torch.ones(2)), ("b", torch.zeros(1, 3, dtype=torch.bfloat16))]
    bundle.write_safetensors(tmp_path / "ok.safetensors", plan, iter(good), {"k": "v"})
    tensors_equal(load_file(tmp_path / "ok.safetensors"), dict(good))
    with pytest.raises(ValueError, match="does not match the header"):
        bundle.write_safetensors(tmp_path / "bad.safetensors", plan, iter(good[::-1]))
    with pytest.raises(ValueError, match="no tensor was given for b"):
        bundle.write_safetensors(tmp_path / "short.safetensors", plan, iter(good[:1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.safetensors"]


# ---------------------------------------------------------------------------------------------- registry


def test_registry_holds_every_file_with_sources_and_groups() -> None:
    names = set(registry.GROUPS["animatex-release"])
    assert len(names) == 7 + 1 + 3 + 4 + 3
    for name in names:
        spec = WEIGHTS.get(name)
        assert spec.url.startswith("https://huggingface.co/") and spec.used_by.startswith("animatex")
    assert WEIGHTS.get("Wan2.1-I2V-14B-720P/Wan2.1_VAE.pth").pinned
    assert WEIGHTS.get("open_clip_pytorch_model.bin").size == 3944692325
    assert not WEIGHTS.get("animate-x++.ckpt").pinned  # unpublished: refused unless explicitly allowed
    assert WEIGHTS.get("animate-x++.ckpt").url.endswith("/Animate-X-plusplus/resolve/main/animate-x%2B%2B.ckpt")
    assert registry.CHECKPOINT_SIMPLE not in registry.GROUPS["animatex-full"]
    assert registry.OPEN_CLIP not in registry.GROUPS["animatex-simple"]


def test_missing_files_name_the_fetch_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError, match=r"a2bench weights fetch Wan2\.1-I2V-14B-720P/Wan2\.1_VAE\.pth"):
        wan.load_vae()
    with pytest.raises(WeightsError, match=r"fetch Wan2\.1-I2V-14B-720P/diffusion_pytorch_model-00001-of-00007"):
        wan.read_dit()
    with pytest.raises(WeightsError, match=r"a2bench weights fetch animate-x\+\+_simple\.ckpt"):
        animatex_ckpt.read_checkpoint(variant="simple")
    with pytest.raises(WeightsError, match=r"a2bench weights fetch open_clip_pytorch_model\.bin"):
        openclip.read_open_clip()
    with pytest.raises(WeightsError, match=r"fetch Wan2\.1-I2V-14B-720P/google/umt5-xxl/tokenizer\.json"):
        wan.tokenizer_dir()
    assert wan.tokenizer_dir(tmp_path) == tmp_path


def test_registered_files_load_from_the_weights_folder(models, official, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(official["root"]))
    monkeypatch.delenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", raising=False)
    with pytest.raises(WeightsError, match="cannot be verified"):
        wan.load_text_encoder(config=TINY_T5)
    with pytest.raises(WeightsError, match="expected 507609880"):  # a random VAE is not the published file
        wan.load_vae(config=TINY_VAE)
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    encoder = wan.load_text_encoder(config=TINY_T5, dtype=torch.float32)
    tensors_equal(encoder.state_dict(), models["text_encoder"].state_dict())
    tensors_equal(wan.read_dit(), models["transformer"].state_dict())
    assert animatex_ckpt.read_checkpoint(variant="full", **_tiny()).variant == "full"


def test_weights_cli_fetches_a_group(monkeypatch, tmp_path) -> None:
    cli = sys.modules["a2bench.cli.weights"]  # the package attribute of that name is the click group

    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    present = tmp_path / "weights" / registry.VAE
    present.parent.mkdir(parents=True)
    present.write_bytes(b"here")
    fetched = []

    def fake_fetch(name, progress=None):
        fetched.append(name)
        raise WeightsError(f"offline: {name}")

    monkeypatch.setattr(cli, "fetch", fake_fetch)
    result = CliRunner().invoke(main, ["weights", "fetch", "animatex-simple"])
    assert result.exit_code == 1 and "offline: animate-x++_simple.ckpt" in result.output
    assert fetched == [n for n in registry.GROUPS["animatex-simple"] if n != registry.VAE]
    listing = CliRunner().invoke(main, ["weights", "list", "--all"])
    assert "group animatex-release: 18 files" in listing.output
    assert "Wan2.1-I2V-14B-720P/Wan2.1_VAE.pth" in listing.output
    unknown = CliRunner().invoke(main, ["weights", "fetch", "animatexx"])
    assert unknown.exit_code == 1 and "Groups: animatex-full, animatex-release" in unknown.output


def test_fetch_a_file_inside_the_wan_folder(tmp_path, monkeypatch) -> None:
    from a2bench.core.weights import WeightFile

    source = tmp_path / "source.json"
    source.write_text("{}")
    spec = WeightFile("Wan2.1-I2V-14B-720P/google/umt5-xxl/tokenizer_config.json", source.as_uri(), "tests")
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    with WEIGHTS.temporary(spec.name, spec):
        assert fetch(spec.name).path == tmp_path / "weights" / spec.name
        assert resolve(spec.name).path.read_text() == "{}"


def test_fetch_hashes_the_download_once(tmp_path, monkeypatch) -> None:
    """The sha256 comes from the download stream and is cached for the placed file: nothing re-reads it."""
    import hashlib

    import a2bench.core.weights as weights
    from a2bench.core.weights import WeightFile

    source = tmp_path / "net.pth"
    source.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    spec = WeightFile("net.pth", source.as_uri(), "tests", sha256=digest)
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    reads = []
    monkeypatch.setattr(weights, "hash_file", lambda *a, **k: reads.append(a) or "")
    with WEIGHTS.temporary(spec.name, spec):
        resolved = fetch(spec.name)
        assert resolved.verified and resolved.sha256 == digest and reads == []
        assert resolve(spec.name).sha256 == digest and reads == []
