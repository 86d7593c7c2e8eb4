"""``AnimateXPipeline.from_release`` end to end on tiny random files in the official layouts (CPU, seconds).

:func:`a2bench.animatex.testing.write_release` writes the Wan2.1-I2V dir (7 DiT shards + index, ``.pth`` VAE, umT5 and
CLIP, the umT5 tokenizer), the release ckpt (LoRA + module groups) and OpenCLIP for the ``tiny`` presets; the
pipeline loaded from them must hold exactly their tensors and generate a video.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers and open_clip

pytest.importorskip("diffusers")
pytest.importorskip("open_clip")

from a2bench.animatex.config import get_preset
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.testing import MODULE_GROUPS, TINY_OPEN_CLIP_VISION, random_poses, write_release

SIZE = (48, 64)  # (W, H)
FRAMES = 9


@pytest.fixture(scope="module", params=["tiny", "tiny-simple"])
def release(request, tmp_path_factory):
    preset = request.param
    root = tmp_path_factory.mktemp(preset)
    return preset, root, write_release(root, get_preset(preset), seed=7)


def load(preset: str, files: dict, **paths) -> AnimateXPipeline:
    return AnimateXPipeline.from_release(
        preset, device="cpu", dtype=torch.float32, preset=preset, configs=files["configs"],
        open_clip_vision=TINY_OPEN_CLIP_VISION if get_preset(preset).has_ipi else None, **paths,
    )  # fmt: skip


def check_weights(pipe: AnimateXPipeline, files: dict) -> None:
    config, models, ckpt = pipe.model.config, files["models"], files["ckpt"]
    for attr, group in MODULE_GROUPS.items():
        if attr.startswith("ipi.") and not config.has_ipi:
            continue
        loaded = pipe.model.get_submodule(attr).state_dict()
        expected = {k.removeprefix(f"{group}."): v for k, v in ckpt.items() if k.startswith(f"{group}.")}
        assert set(loaded) == set(expected), attr
        for key, value in expected.items():
            assert loaded[key].dtype == torch.float32 and torch.equal(loaded[key], value), f"{attr}.{key}"
    # The DiT: the base weights, plus B @ A where the release's LoRA targets them.
    base = models["transformer"].state_dict()
    loaded = pipe.model.transformer.state_dict()
    assert set(loaded) == set(base)
    target = "blocks.3.attn1.to_q.weight"  # original blocks.3.self_attn.q
    down = ckpt["pipe.dit.blocks.3.self_attn.q.lora_A.default.weight"]
    up = ckpt["pipe.dit.blocks.3.self_attn.q.lora_B.default.weight"]
    torch.testing.assert_close(loaded[target], base[target] + up @ down, rtol=1e-6, atol=1e-6)
    assert not torch.equal(loaded[target], base[target])
    assert torch.equal(loaded["blocks.3.norm2.weight"], base["blocks.3.norm2.weight"])  # no LoRA there
    for name in ("vae", "text_encoder", "image_encoder"):
        reference = models[name].state_dict()
        ours = getattr(pipe, name).state_dict()
        assert set(ours) == set(reference), name
        assert all(torch.equal(ours[k], reference[k]) for k in reference), name
    if config.has_ipi:
        written = torch.load(files["open_clip"], weights_only=True)
        visual = pipe.open_clip.visual.state_dict()
        assert visual and all(torch.equal(v, written[f"visual.{k}"]) for k, v in visual.items())
    else:
        assert pipe.open_clip is None
    assert pipe.model.transformer.rope.freqs_cos.device.type == "cpu"  # non-persistent buffers materialised


def test_from_release_loads_the_official_files_and_generates(release) -> None:
    preset, _, files = release
    paths = {k: files[k] for k in ("wan_dir", "checkpoint", "open_clip", "tokenizer")}
    pipe = load(preset, files, **paths)
    check_weights(pipe, files)
    image = np.random.default_rng(1).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    out = pipe(image, random_poses(), "a person is dancing.", num_frames=FRAMES, size=SIZE, steps=2, seed=0)
    assert out.frames.shape == (FRAMES, SIZE[1], SIZE[0], 3) and out.frames.dtype == np.uint8
    assert len(out.indices) == FRAMES


def test_from_release_resolves_the_registered_files(release, monkeypatch) -> None:
    preset, root, files = release
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(root))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")  # random files match no published hash
    check_weights(load(preset, files), files)
