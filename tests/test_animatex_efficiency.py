"""The pipeline's efficiency options on CPU with the tiny random pipeline: VAE tiling, model and group offloading,
regional compilation, their conflict rules and the ``animatex infer`` flags (docs/animatex.md "Efficiency options").

On CPU the offloading "execution device" is the CPU itself, so these check the plumbing (every component is
brought on before it runs and put back after, diffusers' hooks are installed, the video is unchanged), not the
memory saved: that needs a GPU (benchmarks/animatex_speed.py --offload).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers and open_clip

pytest.importorskip("diffusers")
pytest.importorskip("open_clip")

from a2bench.animatex.config import ConfigError
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.testing import random_poses

torch.set_flush_denormal(True)  # random tiny weights otherwise hit slow denormal arithmetic on CPU

SIZE = (48, 64)  # (W, H)
FRAMES = 9
# 2 x 3 overlapping tiles at 64 x 48
TILES = {"tile_sample_min_height": 48, "tile_sample_min_width": 32,
         "tile_sample_stride_height": 32, "tile_sample_stride_width": 16}  # fmt: skip


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (80, 60, 3), dtype=np.uint8)


def run(pipe: AnimateXPipeline, image: np.ndarray, **kw):
    kw = {"num_frames": FRAMES, "size": SIZE, "steps": 2, "seed": 0, **kw}
    return pipe(image, random_poses(), "a person is dancing.", **kw)


def generate(pipe: AnimateXPipeline, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The final latents (before the decode) and the frames of one run."""
    steps: list[torch.Tensor] = []
    frames = run(pipe, image, callback=lambda step, latents: steps.append(latents.clone())).frames
    return steps[-1], frames


@pytest.fixture(scope="module")
def reference(image: np.ndarray) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """The plain pipelines' latents and frames, per variant."""
    return {variant: generate(AnimateXPipeline.tiny(0, variant), image) for variant in ("tiny", "tiny-simple")}


# ------------------------------------------------------------------------------------------ VAE tiling


def test_vae_tiling_is_used_and_keeps_the_shape(image: np.ndarray, reference) -> None:
    pipe = AnimateXPipeline.tiny(0, "tiny-simple")
    calls = {"tiled_encode": 0, "tiled_decode": 0}
    for name in calls:
        original = getattr(pipe.vae, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        setattr(pipe.vae, name, spy)
    assert not pipe.vae_tiling
    pipe.enable_vae_tiling(**TILES)
    assert pipe.vae_tiling and pipe.vae.tile_sample_min_height == 48
    frames = run(pipe, image).frames
    assert calls == {"tiled_encode": 1, "tiled_decode": 1}  # y's reference latent, the video
    assert frames.shape == (FRAMES, SIZE[1], SIZE[0], 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames, reference["tiny-simple"][1])
    pipe.disable_vae_tiling()
    assert not pipe.vae_tiling
    np.testing.assert_array_equal(run(pipe, image).frames, reference["tiny-simple"][1])
    assert calls == {"tiled_encode": 1, "tiled_decode": 1}


def test_tiled_decode_is_close_to_the_untiled_one() -> None:
    pipe = AnimateXPipeline.tiny(0, "tiny-simple")
    g = torch.Generator().manual_seed(0)
    z, other = torch.randn(2, 1, 16, 3, 16, 16, generator=g)  # 128 x 128 pixels
    plain, unrelated = pipe.decode(z).astype(int), pipe.decode(other).astype(int)
    pipe.enable_vae_tiling(tile_sample_min_height=96, tile_sample_min_width=96, tile_sample_stride_height=64,
                           tile_sample_stride_width=64)  # fmt: skip
    tiled = pipe.decode(z).astype(int)
    assert tiled.shape == plain.shape == (9, 128, 128, 3)
    error = np.abs(tiled - plain).mean()
    # seams differ (random weights: large receptive field), but far less than another latent's video does
    assert 0 < error < 0.35 * np.abs(unrelated - plain).mean()


def test_bad_tile_options_are_refused() -> None:
    pipe = AnimateXPipeline.tiny(0, "tiny-simple")
    with pytest.raises(ConfigError, match="unknown VAE tile options"):
        pipe.enable_vae_tiling(tile_size=64)
    with pytest.raises(ConfigError, match="multiple"):
        pipe.enable_vae_tiling(tile_sample_min_height=30)
    with pytest.raises(ConfigError, match="stride"):
        pipe.enable_vae_tiling(tile_sample_min_height=32, tile_sample_stride_height=48)
    assert not pipe.vae_tiling


# ------------------------------------------------------------------------------------------ offloading


class Onloads:
    """Records, in order, every use of the pipeline's components and every time diffusers' offloading hook of one
    brings it onto the execution device (``hook``: accelerate's ``CpuOffload`` or diffusers' group-offloading hook).
    On a GPU a component used without its hook would compute on the wrong device; on the CPU both are the CPU, so
    the recorded order is what can be checked here."""

    def __init__(self, pipe: AnimateXPipeline, hook: type, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        self.names = {id(m): n for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
        original = hook.pre_forward

        def pre_forward(hook_self, module, *args, **kwargs):
            if id(module) in self.names:
                self.events.append((self.names[id(module)], "onload"))
            return original(hook_self, module, *args, **kwargs)

        monkeypatch.setattr(hook, "pre_forward", pre_forward)
        for name, module in pipe.components.items():
            if name == "vae":  # used through encode and decode, not forward
                for method in ("encode", "decode"):
                    self._wrap_call(module, method, name)
            elif isinstance(module, torch.nn.Module):
                module.register_forward_pre_hook(lambda *_, _name=name: self.events.append((_name, "use")))

    def _wrap_call(self, module, method: str, name: str) -> None:
        original = getattr(module, method)

        def call(*args, **kwargs):
            self.events.append((name, "use"))
            return original(*args, **kwargs)

        setattr(module, method, call)

    def check_each_use_onloads(self, units: set[str]) -> list[str]:
        """Every use of a unit in ``units`` is followed by its own hook's onload; returns the units in the order
        they first came on."""
        used = {name for name, kind in self.events if kind == "use"}
        assert used >= units, used
        for (name, kind), after in zip(self.events, [*self.events[1:], None], strict=True):
            if kind == "use" and name in units:
                assert after == (name, "onload"), f"{name} used without its offloading hook: {self.events}"
        return list(dict.fromkeys(name for name, kind in self.events if kind == "onload"))


def _on_the_cpu(pipe: AnimateXPipeline) -> bool:
    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    return all(t.device.type == "cpu" for m in modules for t in (*m.parameters(), *m.buffers()))


@pytest.mark.parametrize("variant", ["tiny", "tiny-simple"])
def test_model_offload_gives_the_same_video(variant: str, image: np.ndarray, reference, monkeypatch) -> None:
    from accelerate.hooks import CpuOffload

    pipe = AnimateXPipeline.tiny(0, variant)
    onloads = Onloads(pipe, CpuOffload, monkeypatch)
    pipe.enable_efficiency("cpu", "model")
    assert pipe.device == torch.device("cpu") and pipe._execution_device.type == "cpu"
    latents, frames = generate(pipe, image)
    torch.testing.assert_close(latents, reference[variant][0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(frames, reference[variant][1])
    units = {"transformer", "pose_video_encoder", "ref_pose_encoder", "vae", "text_encoder", "image_encoder"}
    order = onloads.check_each_use_onloads(units | ({"ipi", "open_clip"} if variant == "tiny" else set()))
    # model_cpu_offload_seq is the order of use, but for the VAE: it encodes the reference, and decodes last
    sequence = pipe.model_cpu_offload_seq.split("->")
    assert [n for n in order if n != "vae"] == [n for n in sequence if n in order and n != "vae"]
    assert sequence[-1] == "vae"
    # the transformer stays on for the whole loop (2 steps x 2 CFG forwards): nothing else comes on meanwhile
    loop = [i for i, (name, _) in enumerate(onloads.events) if name == "transformer"]
    assert len(loop) == 8 and {n for n, _ in onloads.events[loop[0] : loop[-1]]} == {"transformer"}
    assert _on_the_cpu(pipe) and all(hasattr(pipe.components[n], "_hf_hook") for n in units)  # hooks re-armed


@pytest.mark.parametrize("variant", ["tiny", "tiny-simple"])
@pytest.mark.parametrize("level", ["block", "leaf"])
def test_group_offload_gives_the_same_video(
    variant: str, level: str, image: np.ndarray, reference, monkeypatch
) -> None:
    from diffusers.hooks.group_offloading import GroupOffloadingHook, _is_group_offload_enabled

    pipe = AnimateXPipeline.tiny(0, variant)
    onloads = Onloads(pipe, GroupOffloadingHook, monkeypatch)  # before the hooks: they keep the bound pre_forward
    pipe.enable_group_offload("cpu", level=level, use_stream=True)
    modules = {n: m for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
    assert {n for n, m in modules.items() if _is_group_offload_enabled(m)} == set(modules) - {"vae"}
    latents, frames = generate(pipe, image)
    torch.testing.assert_close(latents, reference[variant][0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(frames, reference[variant][1])
    # the components without block lists come on whole, through their own hook (the VAE stays on the device)
    whole = {"text_encoder", "image_encoder"} | ({"ipi", "open_clip"} if variant == "tiny" else set())
    onloads.check_each_use_onloads(whole)
    assert _on_the_cpu(pipe)


def test_offloading_errors_are_clear(monkeypatch) -> None:
    pipe = AnimateXPipeline.tiny(0, "tiny-simple")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        pipe.enable_efficiency("cuda", "model")
    with pytest.raises(ConfigError, match="no CUDA device"):
        pipe.enable_group_offload("cuda")
    with pytest.raises(ConfigError, match="level"):
        pipe.enable_group_offload("cpu", level="layer")
    with pytest.raises(ConfigError, match="num_blocks_per_group"):
        pipe.enable_group_offload("cpu", num_blocks_per_group=0)
    with pytest.raises(ConfigError, match="offload must be one of none, model, group, leaf"):
        pipe.enable_efficiency("cpu", "disk")
    assert not hasattr(pipe.transformer, "_hf_hook")
    pipe.enable_efficiency("cpu", "model")
    with pytest.raises(ConfigError, match="model offloading is already enabled"):
        pipe.enable_group_offload("cpu")


# ------------------------------------------------------------------------------------------ compile


def _dynamo_counts() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return counters["frames"]["total"], counters["stats"]["unique_graphs"]


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compiled_blocks_match_eager_with_one_graph(backend: str, image: np.ndarray, reference) -> None:
    import torch._dynamo

    pipe = AnimateXPipeline.tiny(0, "tiny")
    assert pipe.model.transformer.ipi_blocks  # the IPI pre-hooks are in play
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    pipe.compile(backend=backend)
    assert pipe.compiled
    latents = run(pipe, image, output_type="latent").frames
    torch.testing.assert_close(latents, reference["tiny"][0], rtol=0, atol=1e-5)
    # 6 blocks x 2 steps x 2 CFG branches: one frame compiled, one graph (the hooks run outside it)
    assert _dynamo_counts() == (1, 1)
    run(pipe, image, output_type="latent")
    assert _dynamo_counts() == (1, 1)  # no recompile on a second video of the same size


def test_compile_then_group_offload_and_the_order_rules(image: np.ndarray, reference) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    pipe = AnimateXPipeline.tiny(0, "tiny").compile(backend="eager")
    with pytest.raises(ConfigError, match="already compiled"):
        pipe.compile(backend="eager")
    with pytest.raises(ConfigError, match="leaf"):
        pipe.enable_group_offload("cpu", level="leaf")
    pipe.enable_group_offload("cpu", level="block")
    latents = run(pipe, image, output_type="latent").frames
    torch.testing.assert_close(latents, reference["tiny"][0], rtol=0, atol=1e-5)

    other = AnimateXPipeline.tiny(0, "tiny-simple").enable_group_offload("cpu")
    with pytest.raises(ConfigError, match="call compile\\(\\) first"):
        other.compile(backend="eager")
    graphs = AnimateXPipeline.tiny(0, "tiny-simple").compile(backend="eager", mode="reduce-overhead")
    with pytest.raises(ConfigError, match="CUDA graphs"):
        graphs.enable_group_offload("cpu")
    AnimateXPipeline.tiny(0, "tiny-simple").compile(backend="eager").enable_efficiency("cpu", "model")  # allowed


# ------------------------------------------------------------------------------------------ command line


def test_infer_efficiency_flags(tiny_synth, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from a2bench.animatex.cli import main
    from a2bench.core.videoio import probe_video

    seen: dict[str, object] = {}
    original_compile = AnimateXPipeline.compile

    def compile_eagerly(self, **kwargs):  # inductor would need minutes and a C++ compiler on CPU
        seen["compile"] = kwargs
        return original_compile(self, backend="eager")

    monkeypatch.setattr(AnimateXPipeline, "compile", compile_eagerly)
    sample = tiny_synth / "s000"
    base = ["infer", "--image", str(sample / "reference.png"), "--driving", str(sample / "pose.json"),
            "--variant", "tiny", "--frames", "9", "--size", "48x64", "--steps", "2", "--device", "cpu"]  # fmt: skip
    for offload in ("model", "group", "leaf"):
        out = tmp_path / f"{offload}.mp4"
        flags = ["--offload", offload, "--vae-tiling"] + (["--compile"] if offload == "group" else [])
        result = CliRunner().invoke(main, [*base, "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        info = probe_video(out)
        assert (info.num_frames, info.width, info.height) == (9, 48, 64)
    assert seen == {"compile": {}}
    result = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x.mp4"), "--offload", "leaf", "--compile"])
    assert result.exit_code != 0 and "leaf" in result.output and "Traceback" not in result.output
