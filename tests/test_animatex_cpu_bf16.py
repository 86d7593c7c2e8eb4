"""bf16 3-D convolutions for training on CPU (``a2bench.animatex.train.cpu_bf16``): the gradients are finite and agree
with fp32's, also on the shapes whose oneDNN bf16 weight gradient is NaN; the layers are restored after the block;
``train-vae`` and ``animatex train`` use them in bf16 on a CPU."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from conftest import train_config

from a2bench.animatex.config import ConfigError
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions


@pytest.fixture(autouse=True)
def _flush_denormals() -> None:
    torch.set_flush_denormal(True)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach()).norm() / b.detach().norm())


@pytest.mark.parametrize(
    ("channels", "frames", "size"),
    [(24, 1, 64), (24, 4, 64), (16, 4, 32)],  # the first two: bf16 weight gradients NaN with torch 2.13.0+cpu
)
def test_gradients_are_finite_and_match_fp32(channels: int, frames: int, size: int) -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(channels, channels, 3, padding=(0, 1, 1))
    reference = copy.deepcopy(conv)
    x = torch.randn(2, channels, frames + 2, size, size)
    target = torch.randn(2, channels, frames, size, size)
    x_bf16, x_fp32 = x.clone().requires_grad_(), x.clone().requires_grad_()
    with bf16_convolutions(conv) as count, torch.autocast("cpu", torch.bfloat16):
        out = conv(x_bf16)
    assert count == 1 and out.dtype == torch.bfloat16
    (out.float() - target).square().mean().backward()
    expected = reference(x_fp32)
    (expected - target).square().mean().backward()
    assert _relative(out, expected) < 0.01
    for got, want in ((x_bf16.grad, x_fp32.grad), (conv.weight.grad, reference.weight.grad),
                      (conv.bias.grad, reference.bias.grad)):  # fmt: skip
        assert got.dtype == torch.float32 and torch.isfinite(got).all()
        assert _relative(got, want) < 0.03


def test_layers_run_as_before_after_the_block() -> None:
    conv = torch.nn.Conv3d(3, 4, 3)
    x = torch.randn(1, 3, 3, 8, 8)
    before = conv(x)
    with bf16_convolutions(torch.nn.Sequential(conv)):
        assert conv(x).dtype == torch.bfloat16
    assert "_conv_forward" not in conv.__dict__ and torch.equal(conv(x), before)
    replicate = torch.nn.Conv3d(3, 4, 3, padding=1, padding_mode="replicate")
    with pytest.raises(ValueError, match="numeric zero padding only"), bf16_convolutions(replicate):
        pass


def test_train_vae_in_bf16_on_cpu(tiny_synth: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    from a2bench.animatex.train.vae import train_vae

    cfg = train_config(tiny_synth, tmp_path, data={"size": [64, 64]}, vae={"mixed_precision": "bf16"})
    path = train_vae(cfg, echo=lambda _: None, plot=False)
    with safe_open(str(path), "pt") as fh:
        assert fh.metadata()["precision"] == "bf16"
    log = (tmp_path / "vae" / "log.csv").read_text().splitlines()
    assert len(log) == 3 and all("nan" not in line for line in log)
    with pytest.raises(ConfigError, match=r"vae\.mixed_precision must be auto, no or bf16"):
        train_config(tiny_synth, tmp_path, vae={"mixed_precision": "fp16"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="trains on the CPU only where no GPU is seen")
def test_animatex_train_in_bf16_on_cpu_routes_the_3d_convolutions(
    tiny_synth: Path, tmp_path: Path, monkeypatch
) -> None:
    from conftest import reset_accelerate

    from a2bench.animatex.train import cpu_bf16, loop

    routed = []
    original = cpu_bf16._conv_bf16
    monkeypatch.setattr(cpu_bf16, "_conv_bf16", lambda layer, *args: routed.append(layer) or original(layer, *args))
    losses = {}
    for precision in ("no", "bf16"):
        reset_accelerate()
        cfg = train_config(tiny_synth, tmp_path / precision, train={"steps": 2, "mixed_precision": precision})
        losses[precision] = [loss for _, loss in loop.train(cfg, echo=lambda _: None, plot=False).losses]
        assert bool(routed) == (precision == "bf16")  # the pose encoders' and the patch embedding's Conv3d
    assert all(torch.isfinite(torch.tensor(losses["bf16"])))
    assert torch.allclose(torch.tensor(losses["bf16"]), torch.tensor(losses["no"]), rtol=0.05)
