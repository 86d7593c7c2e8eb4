"""Kinetics-400 3D-ResNet-50 of Hara et al., the feature network behind DisCo's FID-VID (FVD-3DRN50).

Re-implements, for inference only, the model DisCo builds in ``tool/metrics/resnet3d.py`` as
``resnet50(num_classes=400, shortcut_type="B", sample_size=112, sample_duration=16, last_fc=False)``:
bottleneck stages [3, 4, 6, 3], bias-free convolutions, default BatchNorm, projection ("B") shortcuts and
the same module names, so ``resnet-50-kinetics.pth`` loads with ``strict=True`` and gives the same features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch import Tensor, nn
from torch.nn import functional as F

_EXPANSION = 4  # bottleneck output channels = width * 4
_KINETICS_CLASSES = 400


class _Bottleneck(nn.Module):
    """1x1x1 reduce, 3x3x3 (carrying the stride), 1x1x1 expand, added to an identity or projected shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * _EXPANSION
        self.conv1 = nn.Conv3d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_channels)
        # Shortcut type B: a strided 1x1x1 conv + BN wherever the shape changes, the identity elsewhere.
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = (
            nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels),
            )
            if needs_projection
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut, inplace=True)


def _stage(in_channels: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    """A stage of ``blocks`` bottlenecks; only the first one strides (and projects its shortcut)."""
    first = _Bottleneck(in_channels, width, stride)
    rest = [_Bottleneck(width * _EXPANSION, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(first, *rest)


class ResNet3D50(nn.Module):
    """3D-ResNet-50 mapping (N, 3, T, S, S) clips to the (N, 2048) average-pooled feature.

    ``clip_len``/``size`` set the final average-pool kernel exactly as the reference does,
    (ceil(T / 16), ceil(S / 32), ceil(S / 32)), i.e. (1, 4, 4) for the 16x112x112 clips of the recipe.
    The 400-way ``fc`` head is part of the checkpoint and is kept so it loads strictly, but (as with
    DisCo's ``last_fc=False``) it is not applied.
    """

    def __init__(self, clip_len: int = 16, size: int = 112) -> None:
        super().__init__()
        self.clip_len = clip_len
        self.size = size
        self.conv1 = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)  # also halves time
        self.layer1 = _stage(64, 64, blocks=3, stride=1)
        self.layer2 = _stage(256, 128, blocks=4, stride=2)
        self.layer3 = _stage(512, 256, blocks=6, stride=2)
        self.layer4 = _stage(1024, 512, blocks=3, stride=2)
        pool_t, pool_s = math.ceil(clip_len / 16), math.ceil(size / 32)
        self.avgpool = nn.AvgPool3d((pool_t, pool_s, pool_s), stride=1)
        self.fc = nn.Linear(512 * _EXPANSION, _KINETICS_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        expected = (3, self.clip_len, self.size, self.size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected clips of shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


def load_resnet3d50(state_dict: Mapping[str, Tensor]) -> ResNet3D50:
    """Build a :class:`ResNet3D50` from the ``state_dict`` of ``resnet-50-kinetics.pth``, in eval mode.

    Keys may carry DataParallel's ``module.`` prefix (as in the official file, which DisCo strips too).
    Loading is strict; the rebuilt plain dict has no version metadata, so BatchNorm accepts checkpoints
    saved before ``num_batches_tracked`` existed.
    """
    model = ResNet3D50()
    model.load_state_dict({key.removeprefix("module."): value for key, value in state_dict.items()}, strict=True)
    return model.eval()
