"""FID over video frames with pytorch-fid's Inception (the "FID" column of DisCo-line tables).

DisCo's authors computed FID with ``python -m pytorch_fid pred_dir gt_dir`` over all frames. This
recipe uses pytorch-fid's own ``InceptionV3`` (FID weights, pool3, bilinear resize to 299 without
antialias, [0, 1] → [-1, 1]) on every frame of every video, ``np.cov`` statistics, and the exact
Fréchet distance of :mod:`metrics.frechet` in place of ``scipy.linalg.sqrtm``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from pytorch_fid import inception

from a2bench.weights import WeightFile, load_state_dict, register_weight
from metrics.base import METRICS, DistributionMetric, Recipe

INCEPTION = register_weight(
    WeightFile(
        name="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        used_by="fid (pytorch-fid Inception-v3, FID weights)",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        size=95628359,
        source="pytorch-fid release fid_weights; sha256 starts with the file name's tag",
    )
)
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


@METRICS.register("fid")
class FID(DistributionMetric):
    """Fréchet Inception Distance between all predicted and all ground-truth frames (pytorch-fid)."""

    name = "fid"
    title = "FID"
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
