"""Small ONNX stand-ins for DWPose's two model files, for offline tests (like ``metrics/testing.py``).

The real files (350 MB) cannot be downloaded here, but equality with the Animate-X++ release only needs
both sides to run the *same* file. These have the official inputs and outputs — ``images``
``(1, 3, 640, 640)`` → ``output`` ``(1, 8400, 85)`` (raw box offsets, sigmoid objectness and class
scores) for ``yolox_l.onnx``, ``input`` ``(1, 3, 384, 288)`` → ``simcc_x`` ``(1, 133, 576)``, ``simcc_y``
``(1, 133, 768)`` for ``dw-ll_ucoco_384.onnx`` — with a few random layers, or constant outputs that a
test chooses. They are exported with torch's TorchScript exporter (``dynamo=False``): torch 2.13's
default exporter needs the onnxscript package, the TorchScript one only ``onnx`` (test extra).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from a2bench.core.pose.extract import DETECTOR, POSE_MODEL, STRIDES

DETECTOR_INPUT = (1, 3, 640, 640)
ANCHORS = sum((640 // stride) ** 2 for stride in STRIDES)  # 8400
POSE_INPUT = (1, 3, 384, 288)
KEYPOINTS = 133


class RandomYOLOX(nn.Module):
    """One strided convolution per YOLOX level; the 114 padding gives scores below 0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(3, 85, stride, stride=stride) for stride in STRIDES)
        # Per output channel (box centre, log size, objectness, 80 classes): spread of the response and its
        # bias. Objectness -2.7 gives 0-6 person boxes per frame on a2bench.metrics.testing.smooth_videos.
        spread = torch.tensor([0.3, 0.3, 0.3, 0.3] + [1.0] * 81)
        bias = torch.tensor([0.0, 0.0, 2.5, 2.5, -2.7, 0.0] + [-6.0] * 79)
        with torch.no_grad():
            for head in self.heads:
                head.weight.normal_().mul_(spread[:, None, None, None] / head.weight[0].numel() ** 0.5)
                head.bias.copy_(bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - 114.0) / 64.0
        levels = torch.cat([head(x).flatten(2) for head in self.heads], dim=2).transpose(1, 2)
        return torch.cat([levels[..., :4], levels[..., 4:].sigmoid()], dim=-1)


class RandomRTMPose(nn.Module):
    """A strided convolution and two linear SimCC heads; per-keypoint offsets make some scores negative."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, KEYPOINTS, 16, stride=16)  # → (1, 133, 24, 18)
        self.x_head = nn.Linear(24 * 18, 2 * POSE_INPUT[3])
        self.y_head = nn.Linear(24 * 18, 2 * POSE_INPUT[2])
        self.offset = nn.Parameter(torch.linspace(-2.0, 1.0, KEYPOINTS)[:, None])

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(image).flatten(2)
        return self.x_head(features) * 0.1 + self.offset, self.y_head(features) * 0.1 + self.offset


class Constant(nn.Module):
    """Returns fixed tensors whatever the input (a detector or pose "model" whose output a test sets)."""

    def __init__(self, *outputs: np.ndarray) -> None:
        super().__init__()
        self.outputs = [torch.from_numpy(np.asarray(o, np.float32)) for o in outputs]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zero = x[:, :1, :1, :1].sum() * 0  # keeps the input in the graph
        return tuple(output + zero for output in self.outputs)


def export(module: nn.Module, input_shape: tuple[int, ...], input_name: str, output_names: list[str]) -> bytes:
    """The ONNX bytes of ``module`` for a static float32 input of ``input_shape``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated
        torch.onnx.export(
            module.eval(),
            (torch.zeros(input_shape),),
            buffer,
            dynamo=False,
            input_names=[input_name],
            output_names=output_names,
        )
    return buffer.getvalue()


def detector_onnx(module: nn.Module) -> bytes:
    """``module`` exported with ``yolox_l.onnx``'s input and output."""
    return export(module, DETECTOR_INPUT, "images", ["output"])


def pose_onnx(module: nn.Module) -> bytes:
    """``module`` exported with ``dw-ll_ucoco_384.onnx``'s input and outputs."""
    return export(module, POSE_INPUT, "input", ["simcc_x", "simcc_y"])


def write_random_models(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Random-weight stand-ins under the official names in ``folder``; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for spec, build, to_onnx in ((DETECTOR, RandomYOLOX, detector_onnx), (POSE_MODEL, RandomRTMPose, pose_onnx)):
        torch.manual_seed(seed)
        paths[spec.name] = folder / spec.name
        paths[spec.name].write_bytes(to_onnx(build()))
    return paths
