"""Animate-X++ against the authors' release, computed side by side (opt-in; CPU, float32, under a minute).

``A2BENCH_ANIMATEX_DIR`` names a checkout of the release (Lucaria-Academy/Animate-X-plusplus at ``8c47427``: the
folder holding ``diffsynth/``); without it every test here is skipped::

    git clone https://github.com/Lucaria-Academy/Animate-X-plusplus /tmp/animatex-release
    A2BENCH_ANIMATEX_DIR=/tmp/animatex-release python -m pytest tests/test_animatex_release_parity.py -q -s

:func:`a2bench.animatex.testing.write_release` writes tiny random weights, in the release's file layouts (the DiT as 7
original-layout shards, the release ckpt with its PEFT LoRA pairs and module groups, ...). a2bench loads them with
``AnimateXPipeline.from_release``; the release's code loads the same files: its ``WanModel`` from the shards, the LoRA
merged by ``ModelManager.load_lora_v2``, the module groups loaded from the manager as ``fetch_models`` loads them.
Compared, with the measured maximum differences printed (``-s`` shows them):

1. the pose-video encoder, the reference-pose encoder and the IPI on the same inputs;
2. one conditioned DiT forward through ``model_fn_wan_video`` (pose tokens, ``y`` + reference pose, IPI, CLIP image
   tokens, text, timestep) against a2bench's transformer;
3. a 3-step CFG loop: the release's ``FlowMatchScheduler`` (as ``WanAnimateXVideoPipeline`` configures it) and CFG
   combination against a2bench's sampling loop, from the same noise; per step the noise prediction and latents.

The release fixes some sizes at the 14B model's; the tiny config meets them where it can: Wan's CLIP is 1280 wide
(``MLP(1280, dim)``) and gives 257 tokens (``CrossAttention`` takes the first 257 context tokens as the image's), the
text is 512 tokens. Where the release writes a size as a number, that number is replaced (and nothing else): the
DiT width 5120 in the pose-video stack of ``fetch_models``, and the last two layers of ``Resampler`` (Conv1d 81 → 21
frames, Linear → 5120), swapped for layers of the same kinds at the tiny sizes before the weights are loaded.

``WanAnimateXVideoPipeline.__call__`` runs a whole generation with its own VAE, umT5 and CLIP at their 14B sizes and
casts the pose conditions to bf16, so its glue between the encoders and ``model_fn_wan_video`` is restated in
:func:`release_conditions` and :func:`release_sampling` (in float32); the umT5, CLIP and ``y`` tensors both loops
see are a2bench's.

The release's modules are imported from the checkout by package path, without ``diffsynth/__init__.py`` (which
imports every DiffSynth pipeline); they need einops, ftfy, regex and open_clip_torch (installed with a2bench's
``[model]`` extra). ``modelscope`` is stubbed when missing: only its downloader imports it.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import json
import os
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers and open_clip

pytest.importorskip("diffusers")
pytest.importorskip("open_clip")

from a2bench.animatex.config import AnimateXConfig, get_preset
from a2bench.animatex.loading import wan
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.testing import TINY_OPEN_CLIP_VISION, tiny_component_configs, write_release

RELEASE_DIR = os.environ.get("A2BENCH_ANIMATEX_DIR", "")
pytestmark = [
    pytest.mark.skipif(
        not RELEASE_DIR,
        reason="A2BENCH_ANIMATEX_DIR is not set (a checkout of the Animate-X++ release to compare against)",
    ),
    pytest.mark.slow,
]

RTOL = 1e-5  # of the largest |value| on the release's side
SIZE = (48, 64)  # (W, H)
STEPS = 3
CFG = 3.0  # the full model's (examples/inference_480p.py)
SEED = 0


def compare(what: str, ours: torch.Tensor, theirs: torch.Tensor, rtol: float = RTOL) -> float:
    """Print and check ``max |ours − theirs|`` against ``rtol · max |theirs|``; returns the relative difference."""
    assert ours.shape == theirs.shape, f"{what}: {tuple(ours.shape)} vs the release's {tuple(theirs.shape)}"
    diff = (ours.double() - theirs.double()).abs().max().item()
    scale = theirs.double().abs().max().item()
    print(f"{what}: max abs diff {diff:.2e} (max |release| {scale:.3g}, relative {diff / scale:.2e})")
    assert diff <= rtol * scale, f"{what}: max abs diff {diff:.3g} > {rtol} × {scale:.3g}"
    return diff / scale


# ---------------------------------------------------------------------------------------------- the release


@pytest.fixture(scope="module")
def diffsynth() -> Iterator[types.SimpleNamespace]:
    """The release's modules, imported from ``A2BENCH_ANIMATEX_DIR``; ``sys.modules`` is restored afterwards."""
    root = Path(RELEASE_DIR)
    if not (root / "diffsynth" / "pipelines" / "wan_video.py").is_file():
        pytest.fail(f"A2BENCH_ANIMATEX_DIR={RELEASE_DIR}: no diffsynth/pipelines/wan_video.py (not the release)")

    def release_modules() -> list[str]:
        return [name for name in sys.modules if name.split(".")[0] in ("diffsynth", "modelscope")]

    saved = {name: sys.modules[name] for name in release_modules()}
    # Bare packages over the release's folders: their __init__ files import every DiffSynth pipeline and prompter
    # (and with them sentencepiece, xfuser, ...); only the modules imported below run.
    for package in ("diffsynth", "diffsynth.pipelines", "diffsynth.prompters"):
        module = types.ModuleType(package)
        module.__path__ = [str(root / package.replace(".", "/"))]
        sys.modules[package] = module
    if importlib.util.find_spec("modelscope") is None:
        # Imported by diffsynth/models/downloader.py for downloading checkpoints only; nothing here downloads.
        stub = types.ModuleType("modelscope")
        stub.snapshot_download = None
        sys.modules["modelscope"] = stub
    try:
        prompter = importlib.import_module("diffsynth.prompters.wan_prompter")
        sys.modules["diffsynth.prompters"].WanPrompter = prompter.WanPrompter  # what wan_video.py imports from there
        yield types.SimpleNamespace(
            dit=importlib.import_module("diffsynth.models.wan_video_dit"),
            ipi=importlib.import_module("diffsynth.models.IPI_module"),
            manager=importlib.import_module("diffsynth.models.model_manager"),
            utils=importlib.import_module("diffsynth.models.utils"),
            pipeline=importlib.import_module("diffsynth.pipelines.wan_video"),
        )
    finally:
        for name in release_modules():
            del sys.modules[name]
        sys.modules.update(saved)


def release_conv_stacks(pipeline_class: type, width: int) -> tuple[nn.Module, nn.Module]:
    """``dwpose_embedding`` and ``randomref_embedding_pose`` built by the release's own lines: their assignments
    (and the ``concat_dim`` / ``randomref_dim`` they use) are taken from ``fetch_models`` and executed, with the
    DiT width it writes as 5120 replaced by ``width``."""
    function = ast.parse(textwrap.dedent(inspect.getsource(pipeline_class.fetch_models))).body[0]
    wanted = {"concat_dim", "randomref_dim", "self.dwpose_embedding", "self.randomref_embedding_pose"}
    statements = [s for s in function.body if isinstance(s, ast.Assign) and ast.unparse(s.targets[0]) in wanted]
    widths = [n for s in statements for n in ast.walk(s) if isinstance(n, ast.Constant) and n.value == 5120]
    assert len(statements) == len(wanted) and len(widths) == 1, "fetch_models no longer reads as expected"
    widths[0].value = width
    namespace = {"nn": nn, "self": types.SimpleNamespace()}
    exec(compile(ast.Module(statements, type_ignores=[]), inspect.getsourcefile(pipeline_class), "exec"), namespace)
    return namespace["self"].dwpose_embedding, namespace["self"].randomref_embedding_pose


def load_release(ds: types.SimpleNamespace, files: dict[str, Any], config: AnimateXConfig) -> nn.Module:
    """A ``WanAnimateXVideoPipeline`` holding what ``fetch_models`` would give it, loaded from the same files.

    The DiT is built at the tiny size (the release's ``ModelManager`` recognises only the 14B key sets) and loaded
    from the shards with the release's ``load_state_dict``; ``load_lora_v2`` merges the ckpt's LoRA into it and
    collects the module groups, which are loaded strictly by ``fetch_models``' rule. Everything in eval mode (the
    release leaves its IPI in train mode: docs/animatex.md "Departures" 1).
    """
    t, ipi = config.transformer, config.ipi
    dit = ds.dit.WanModel(
        dim=t.inner_dim, in_dim=t.in_channels, ffn_dim=t.ffn_dim, out_dim=t.out_channels, text_dim=t.text_dim,
        freq_dim=t.freq_dim, eps=t.eps, patch_size=t.patch_size, num_heads=t.num_attention_heads,
        num_layers=t.num_layers, has_image_input=True,
    )  # fmt: skip
    index = files["wan_dir"] / "diffusion_pytorch_model.safetensors.index.json"
    state = {}
    for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        state.update(ds.utils.load_state_dict(str(files["wan_dir"] / shard)))
    dit.load_state_dict(state, strict=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the release's progress messages
        manager = ds.manager.ModelManager(torch_dtype=torch.float32, device="cpu")
        manager.model.append(dit.eval())
        manager.model_path.append(str(index))
        manager.model_name.append("wan_video_dit")
        manager.load_lora_v2(str(files["checkpoint"]), lora_alpha=1.0)  # examples/inference_480p.py's call
        pipe = ds.pipeline.WanAnimateXVideoPipeline(device="cpu", torch_dtype=torch.float32)
        pipe.dit = manager.fetch_model("wan_video_dit")
    pipe.dwpose_embedding, pipe.randomref_embedding_pose = release_conv_stacks(type(pipe), t.inner_dim)
    pipe.pose_embedding_before = ds.ipi.DwposeEncoder(
        d_model=ipi.d_model, nhead=ipi.nhead, num_encoder_layers=ipi.num_layers, dim_feedforward=ipi.dim_feedforward,
        dropout=ipi.dropout, pos_embed_len=ipi.max_frames, input_dim=ipi.keypoint_dim,
    )  # fmt: skip
    resampler = ds.ipi.Resampler(
        dim=ipi.dim, depth=ipi.depth, dim_head=ipi.dim_head, heads=ipi.heads, embedding_dim=ipi.clip_dim,
        output_dim=ipi.output_dim, ff_mult=ipi.ff_mult, our_weight=ipi.query_weight,
    )  # fmt: skip
    resampler.proj_conv = nn.Conv1d(ipi.num_frames, ipi.latent_frames, kernel_size=3, stride=1, padding=1)
    resampler.proj_out2 = nn.Linear(ipi.output_dim, ipi.out_dim)
    pipe.pose_embedding_after = resampler
    for group in ("dwpose_embedding", "randomref_embedding_pose", "pose_embedding_before", "pose_embedding_after"):
        tensors = manager.state_dict_new_module
        getattr(pipe, group).load_state_dict({k.split(f"{group}.")[1]: tensors[k] for k in tensors if group in k})
    return pipe.eval()


def release_conditions(
    pipe: nn.Module, pose_video: torch.Tensor, ref_pose: torch.Tensor, keypoints: torch.Tensor, clip: torch.Tensor
) -> types.SimpleNamespace:
    """The pose conditions as ``WanAnimateXVideoPipeline.__call__`` computes them for ``model_fn_wan_video``, in
    float32 (its ``.to(torch.bfloat16)`` casts left out).

    ``pose_video`` ``(3, F, H, W)`` and ``ref_pose`` ``(H, W, 3)`` hold 0..255; ``keypoints`` ``(1, F, 2, 18)``;
    ``clip`` ``(F, C)`` OpenCLIP features. Returns the pose grid and its tokens, the reference-pose features to add
    to ``y`` and the IPI output ``(f, 1, D)``.
    """
    video = pose_video.float().unsqueeze(0)
    grid = pipe.dwpose_embedding(torch.cat([video[:, :, :1].repeat(1, 1, 3, 1, 1), video], dim=2) / 255.0)
    ref = pipe.randomref_embedding_pose((ref_pose.float().unsqueeze(0) / 255.0).permute(0, 3, 1, 2)).unsqueeze(2)
    query = pipe.pose_embedding_before(keypoints.float().flatten(2))  # b f dim c -> b f (dim c)
    ipi = pipe.pose_embedding_after(clip.float().unsqueeze(1), query)
    return types.SimpleNamespace(grid=grid, tokens=grid.flatten(2).transpose(1, 2), ref=ref, ipi=ipi)


def release_sampling(
    ds: types.SimpleNamespace,
    pipe: nn.Module,
    noise: torch.Tensor,
    conditions: types.SimpleNamespace,
    context: torch.Tensor,
    negative: torch.Tensor,
    clip_feature: torch.Tensor,
    y: torch.Tensor,
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The release's denoising loop: per step ``(timestep, CFG noise prediction, latents after the step)``.

    Positive branch: prompt, ``y`` + reference pose, IPI, pose tokens; negative: the negative prompt, the same ``y``
    and IPI, no pose tokens; ``nega + cfg · (posi − nega)``; the scheduler's ``step``.
    """
    pipe.scheduler.set_timesteps(STEPS, denoising_strength=1.0, shift=5.0)
    common = {"clip_feature": clip_feature, "y": y + conditions.ref, "pose_emb": conditions.ipi}
    latents, out = noise, []
    for step, timestep in enumerate(pipe.scheduler.timesteps):
        timestep = timestep.unsqueeze(0).to(torch.float32)
        posi = ds.pipeline.model_fn_wan_video(
            pipe.dit, latents, timestep=timestep, context=context, add_condition=conditions.tokens, **common
        )
        nega = ds.pipeline.model_fn_wan_video(pipe.dit, latents, timestep=timestep, context=negative, **common)
        noise_pred = nega + CFG * (posi - nega)
        latents = pipe.scheduler.step(noise_pred, pipe.scheduler.timesteps[step], latents)
        out.append((timestep, noise_pred, latents))
    return out


# ---------------------------------------------------------------------------------------------- fixtures


def parity_config() -> AnimateXConfig:
    """The ``tiny`` preset with Wan's CLIP width 1280, which the release's ``WanModel`` fixes (``MLP(1280, dim)``)."""
    tiny = get_preset("tiny")
    return tiny.replace(name="tiny-1280", transformer=dataclasses.replace(tiny.transformer, image_dim=1280))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = parity_config()
    configs = tiny_component_configs(config)
    configs["image_encoder"] = configs["image_encoder"] | {"image_size": 224}  # 257 tokens at patch 14
    return write_release(tmp_path_factory.mktemp("release"), config, seed=7, configs=configs)


@pytest.fixture(scope="module")
def ours(files: dict[str, Any]) -> AnimateXPipeline:
    paths = {k: files[k] for k in ("wan_dir", "checkpoint", "open_clip", "tokenizer")}
    return AnimateXPipeline.from_release(
        "animatex", device="cpu", dtype=torch.float32, preset=parity_config(), configs=files["configs"],
        open_clip_vision=TINY_OPEN_CLIP_VISION, **paths,
    )  # fmt: skip


@pytest.fixture(scope="module")
def theirs(diffsynth: types.SimpleNamespace, files: dict[str, Any]) -> nn.Module:
    return load_release(diffsynth, files, parity_config())


@pytest.fixture(scope="module")
def inputs() -> types.SimpleNamespace:
    """Random encoder inputs: a pose video and reference pose (uint8), keypoints in the release's ``(1, F, 2, 18)``
    layout with some points missing (``-1``), and per-frame OpenCLIP features."""
    config = parity_config()
    frames, (width, height) = config.ipi.num_frames, SIZE
    rng = np.random.default_rng(3)
    keypoints = rng.uniform(0, 1, (1, frames, 2, 18))
    keypoints[rng.uniform(0, 1, (1, frames, 1, 18)).repeat(2, axis=2) < 0.2] = -1
    return types.SimpleNamespace(
        pose_video=torch.from_numpy(rng.integers(0, 256, (3, frames, height, width), dtype=np.uint8)),
        ref_pose=torch.from_numpy(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)),
        keypoints=torch.from_numpy(keypoints.astype(np.float32)),
        clip=torch.from_numpy(rng.standard_normal((frames, config.ipi.clip_dim)).astype(np.float32)),
    )


def our_conditions(pipe: AnimateXPipeline, inputs: types.SimpleNamespace) -> types.SimpleNamespace:
    """a2bench's pose grid, reference-pose features and IPI tokens of :func:`inputs`."""
    model = pipe.model
    return types.SimpleNamespace(
        grid=model.encode_pose_video(inputs.pose_video[None]),
        ref=model.encode_ref_pose(inputs.ref_pose.permute(2, 0, 1)[None]),
        ipi=model.encode_ipi(inputs.keypoints.transpose(-1, -2), inputs.clip[None]),
    )


# ---------------------------------------------------------------------------------------------- comparisons


@torch.no_grad()
def test_pose_encoders_and_ipi_match_the_release(ours, theirs, inputs) -> None:
    mine = our_conditions(ours, inputs)
    release = release_conditions(theirs, inputs.pose_video, inputs.ref_pose, inputs.keypoints, inputs.clip)
    compare("pose-video encoder (dwpose_embedding)", mine.grid, release.grid)
    compare("reference-pose encoder (randomref_embedding_pose)", mine.ref, release.ref)
    compare("IPI (DwposeEncoder + Resampler)", mine.ipi, release.ipi.transpose(0, 1))


@torch.no_grad()
def test_conditioned_dit_forward_matches_the_release(ours, theirs, diffsynth, inputs) -> None:
    # The same weights: the release's LoRA merge and a2bench's, in the release's key names.
    merged = wan.dit_to_original(ours.model.transformer.state_dict())
    release_weights = theirs.dit.state_dict()
    assert set(merged) == set(release_weights)
    worst = max((merged[k] - release_weights[k]).abs().max().item() for k in merged)
    print(f"DiT weights after the LoRA merge: max abs diff {worst:.2e}")
    assert worst <= 1e-6

    t = ours.model.config.transformer
    frames = ours.model.config.ipi.latent_frames
    generator = torch.Generator().manual_seed(11)
    latents = torch.randn(1, t.out_channels, frames, SIZE[1] // 8, SIZE[0] // 8, generator=generator)
    y = torch.randn(1, t.condition_channels, *latents.shape[2:], generator=generator)
    context = torch.randn(1, ours.max_sequence_length, t.text_dim, generator=generator)
    clip_feature = torch.randn(1, 257, t.image_dim, generator=generator)
    timestep = torch.tensor([937.5])

    mine = our_conditions(ours, inputs)
    release = release_conditions(theirs, inputs.pose_video, inputs.ref_pose, inputs.keypoints, inputs.clip)
    expected = diffsynth.pipeline.model_fn_wan_video(
        theirs.dit, latents, timestep=timestep, context=context, clip_feature=clip_feature, y=y + release.ref,
        pose_emb=release.ipi, add_condition=release.tokens,
    )  # fmt: skip
    got = ours.model.transformer(
        latents, timestep, context, clip_feature, return_dict=False, condition=y, ref_pose_features=mine.ref,
        pose_tokens=mine.grid, ipi_tokens=mine.ipi,
    )[0]  # fmt: skip
    compare("conditioned DiT forward (model_fn_wan_video)", got, expected)


@contextlib.contextmanager
def recording(pipe: AnimateXPipeline) -> Iterator[dict[str, list]]:
    """Record, during a call of ``pipe``, the inputs of its pose encoders and IPI, every transformer call (inputs
    and output) and every scheduler step (noise prediction and the latents it returns)."""
    calls: dict[str, list] = {"pose_video": [], "ref_pose": [], "ipi": [], "transformer": [], "step": []}

    def record(name: str) -> Any:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            calls[name].append((args, kwargs, output))

        return hook

    model = pipe.model
    modules = {"pose_video": model.pose_video_encoder, "ref_pose": model.ref_pose_encoder, "ipi": model.ipi,
               "transformer": model.transformer}  # fmt: skip
    handles = [m.register_forward_hook(record(name), with_kwargs=True) for name, m in modules.items()]
    step = pipe.scheduler.step

    def recorded_step(model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, **kwargs: Any) -> Any:
        result = step(model_output, timestep, sample, **kwargs)
        calls["step"].append((model_output, result[0]))
        return result

    pipe.scheduler.step = recorded_step
    try:
        yield calls
    finally:
        del pipe.scheduler.step
        for handle in handles:
            handle.remove()


@torch.no_grad()
def test_cfg_sampling_loop_matches_the_release(ours, theirs, diffsynth) -> None:
    config = ours.model.config
    frames, (width, height) = config.ipi.num_frames, SIZE
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)
    pose = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    driving = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    keypoints = rng.uniform(0, 1, (frames, 18, 2)).astype(np.float32)
    with recording(ours) as calls:
        out = ours(image, pose, "a person is dancing.", keypoints=keypoints, driving_frames=driving,
                   num_frames=frames, size=SIZE, steps=STEPS, cfg=CFG, seed=SEED, output_type="latent")  # fmt: skip

    # The release's loop gets the same encoder inputs a2bench's modules saw, and a2bench's umT5, CLIP and y.
    (video,), _, _ = calls["pose_video"][0]
    (ref_pose,), _, _ = calls["ref_pose"][0]
    (points, clip), _, _ = calls["ipi"][0]
    conditions = release_conditions(
        theirs, video[0], ref_pose[0].permute(1, 2, 0), points[..., :18, :2].transpose(-1, -2), clip[0]
    )
    (noise, _, context, image_tokens), posi_kwargs, _ = calls["transformer"][0]
    (_, _, negative, _), nega_kwargs, _ = calls["transformer"][1]
    assert nega_kwargs["pose_tokens"] is None and posi_kwargs["pose_tokens"] is not None
    release_noise = theirs.generate_noise(noise.shape, seed=SEED, device="cpu", dtype=torch.float32)
    assert torch.equal(noise, release_noise), "the initial noise differs"
    steps = release_sampling(
        diffsynth, theirs, release_noise, conditions, context, negative, image_tokens, posi_kwargs["condition"]
    )

    assert len(calls["transformer"]) == 2 * STEPS
    for i, ((timestep, noise_pred, latents), (our_pred, our_latents)) in enumerate(
        zip(steps, calls["step"], strict=True)
    ):
        our_timestep = calls["transformer"][2 * i][0][1]
        compare(f"step {i} timestep {timestep.item():.2f}", our_timestep.reshape(1), timestep)
        compare(f"step {i} CFG noise prediction", our_pred, noise_pred)
        compare(f"step {i} latents", our_latents, latents)
    compare("final latents", out.frames, steps[-1][2])
