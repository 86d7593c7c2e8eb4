"""bf16 3-D convolutions for training on a CPU (``vae.mixed_precision`` and ``train.mixed_precision: bf16``).

On CPUs with AMX, oneDNN's bf16 ``Conv3d`` runs several times faster than fp32 (``benchmarks/vae_cpu_bf16.py``).
But with torch 2.13.0+cpu its bf16 weight-gradient kernel fails for some shapes, among them the VAE decoder's
full-resolution convolutions at 64 × 64 (24 channels): it returns NaN, or, while another process uses the cores,
wrong finite values, so plain ``torch.autocast("cpu")`` training breaks at its second step. Within
:func:`bf16_convolutions` a module's ``Conv3d`` layers run through :class:`Conv3dBF16`: the forward pass and the
input gradient in bf16 (channels-last 3-D, as under autocast), the weight and bias gradients in fp32 from the
same bf16 tensors. That costs about 3 % of the bf16 step and is right by construction. Weights stay fp32 (the
optimizer's).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F


class Conv3dBF16(torch.autograd.Function):
    """``F.conv3d`` in bf16 (channels-last 3-D) whose weight and bias gradients are computed in fp32; ``stride``,
    ``padding`` and ``dilation`` are 3-tuples, as ``nn.Conv3d`` holds them."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: Any,
                padding: Any, dilation: Any, groups: int) -> torch.Tensor:  # fmt: skip
        fmt = torch.channels_last_3d
        x = x.to(torch.bfloat16).contiguous(memory_format=fmt)
        w = weight.to(torch.bfloat16).contiguous(memory_format=fmt)
        b = None if bias is None else bias.to(torch.bfloat16)
        ctx.save_for_backward(x, w)
        ctx.conv = (stride, padding, dilation, groups)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        with torch.autocast("cpu", enabled=False):
            return F.conv3d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        w_dtype, b_dtype = ctx.dtypes
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = grad.to(torch.bfloat16).contiguous(memory_format=torch.channels_last_3d)
        conv = (list(stride), list(padding), list(dilation), False, [0, 0, 0], groups)
        gx = gw = gb = None
        if need_x:
            gx = torch.ops.aten.convolution_backward(grad, x, w, None, *conv, [True, False, False])[0]
        if need_w:
            gw = torch.ops.aten.convolution_backward(grad.float(), x.float(), w.float(), None, *conv,
                                                     [False, True, False])[1].to(w_dtype)  # fmt: skip
        if need_b:
            gb = grad.sum((0, 2, 3, 4), dtype=torch.float32).to(b_dtype)
        return gx, gw, gb, None, None, None, None


@contextmanager
def bf16_convolutions(module: torch.nn.Module, enabled: bool = True) -> Iterator[int]:
    """Within the block, every ``Conv3d`` of ``module`` runs through :class:`Conv3dBF16` (yields how many; with
    ``enabled`` false, none: the block runs as it would without this); the layers keep their fp32 parameters and
    their ``forward`` (a causal convolution's padding and cache), and run as before after it."""
    layers = [layer for layer in module.modules() if isinstance(layer, torch.nn.Conv3d)] if enabled else []
    for layer in layers:
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise ValueError(f"{type(layer).__name__}: padding {layer.padding!r} ({layer.padding_mode}) is not "
                             "supported: numeric zero padding only")  # fmt: skip
    try:
        for layer in layers:
            layer._conv_forward = partial(_conv_bf16, layer)
        yield len(layers)
    finally:
        for layer in layers:
            layer.__dict__.pop("_conv_forward", None)


def _conv_bf16(layer: torch.nn.Conv3d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    return Conv3dBF16.apply(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)
