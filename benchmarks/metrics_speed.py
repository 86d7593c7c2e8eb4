"""Wall-clock speed of a2bench's metrics against the reference implementations they reproduce.

Measures, in one run, on the same synthetic videos (smooth moving colour fields; prediction = a shifted,
noisy copy) and the same random-weight networks (a2bench.metrics.testing.write_random_weights, saved under the
official file names in a temporary ``$TORCH_HOME`` so the reference packages load the very files a2bench
loads):

(a) each reference called as its README or DisCo's evaluation code calls it: scikit-image per frame for
    PSNR and SSIM, DisCo's numpy L1, ``lpips.LPIPS(net='vgg')`` one frame at a time, pytorch-fid's
    InceptionV3 + ``calculate_frechet_distance`` (scipy ``sqrtm``), DisCo's FID-VID and FVD procedures
    re-run (one video per forward, a plain single-threaded PIL float bicubic resize per frame, ``np.cov``,
    pytorch-fid's Fréchet distance), and cd-fvd's ``compute_fvd`` for ``fvd_i3d400``;
(b) a2bench on the same data: the Animate-X default set through ONE ``evaluate(...)`` call (each video
    decoded once and shared by every metric, ``cache_dir=False``), and every metric on its own
    (``METRICS.get(name)(device='cpu')``, ``update`` per video, ``compute``), plus ``fvd_i3d400``;
(c) the Fréchet distance alone at d=2048: pytorch-fid (``np.mean`` + ``np.cov`` + scipy ``sqrtm``) against
    a2bench (``FeatureStats`` + ``frechet_distance``) for fewer samples than dimensions (100 vs 120) and
    more (3000 vs 2500), on correlated non-negative features given as float32 and as float64.

It prints a Markdown table (time, speed-up, and the relative difference of the values; for distribution
metrics also relative to the scale ``|dmu|² + tr S1 + tr S2`` of the terms the distance is a difference
of, because scipy's ``sqrtm`` is ill-conditioned with fewer samples than dimensions) and writes it to
``--out`` when given.

Timed: everything from in-memory uint8 frames to the final number (preprocessing, resizing, network
forwards, statistics, Fréchet distance; for a2bench also creating the metric objects, which re-checks the
weight files' hashes). Not timed: writing the random weights, generating the videos, building each network
and its first forward (done once per network on both sides before any timing), reading files (none:
both sides get the same in-memory arrays).

Usage: ``python benchmarks/metrics_speed.py [--videos 8] [--frames 16] [--size 128x128] [--out FILE.md]``
(the defaults, 8 videos × 16 frames × 128×128, take about 4 minutes on an idle 2-core CPU, a third of it in
scipy's ``sqrtm``; other processes competing for the cores make every number slower and noisier, so the report
states the load average).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
DEFAULT_SET = ("psnr", "ssim", "l1", "lpips_disco", "fid", "fid_vid", "fvd_disco")  # metrics.ANIMATEX_TABLES
DISTRIBUTION = {"fid", "fid_vid", "fvd_disco", "fvd_i3d400"}
WEIGHT_FILES = (
    "vgg16-397923af.pth",
    "pt_inception-2015-12-05-6726825d.pth",
    "i3d_pretrained_400.pt",
    "resnet-50-kinetics.pth",
)
DISCO_RGB_MEAN = np.array([114.7748, 107.7354, 99.4750])  # DisCo's pixel_mean (a float64 tensor there)
PSNR_CAP = 100.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def frame_pairs(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(p, g) for pv, gv in zip(preds, gts, strict=True) for p, g in zip(pv, gv, strict=True)]


# --------------------------------------------------------------------------------------------------
# Reference implementations, called as their READMEs / DisCo call them


@dataclass
class Outcome:
    """A metric value and, for distribution metrics, the scale |dmu|² + tr S1 + tr S2 of its terms."""

    value: float
    scale: float | None = None
    note: str = ""


def gaussian_scale(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2))


def pytorch_fid_distance(feats1: np.ndarray, feats2: np.ndarray) -> Outcome:
    """DisCo's ``fid_from_feats`` / pytorch-fid: np.mean, np.cov, ``calculate_frechet_distance`` (scipy sqrtm)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, sigma1 = np.mean(feats1, axis=0), np.cov(feats1, rowvar=False)
    mu2, sigma2 = np.mean(feats2, axis=0), np.cov(feats2, rowvar=False)
    scale = gaussian_scale(mu1, sigma1, mu2, sigma2)
    try:
        return Outcome(float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2)), scale)
    except ValueError as exc:  # "Imaginary component ..." when sqrtm fails on a singular product
        return Outcome(float("nan"), scale, f"reference raised: {exc}")


def ref_psnr(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
    from skimage.metrics import peak_signal_noise_ratio

    scores = [
        PSNR_CAP if np.array_equal(p, g) else peak_signal_noise_ratio(g, p, data_range=255)
        for p, g in frame_pairs(preds, gts)
    ]
    return Outcome(float(np.mean(scores)))


def ref_ssim(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
    import cv2
    from skimage.metrics import structural_similarity

    scores = []
    for p, g in frame_pairs(preds, gts):
        gray1, gray2 = cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), cv2.cvtColor(g, cv2.COLOR_RGB2GRAY)
        score, _ = structural_similarity(gray1, gray2, full=True)
        scores.append(score)
    return Outcome(float(np.mean(scores)))


def ref_l1(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
    scores = []
    for p, g in frame_pairs(preds, gts):  # DisCo's l1_eval, then np.mean over the list of arrays
        err = np.absolute(p.astype("float") - g.astype("float"))
        err /= float(p.shape[0] * p.shape[1])
        scores.append(err)
    return Outcome(float(np.mean(scores)))


class LpipsDisco:
    """DisCo's compute_lpips: ``lpips.LPIPS(net='vgg')``, ToTensor [0, 1] frames, one pair per forward."""

    def __init__(self) -> None:
        import lpips
        from torchvision import transforms

        self.model = lpips.LPIPS(net="vgg", verbose=False)
        self.to_tensor = transforms.ToTensor()

    def __call__(self, preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
        scores = []
        for p, g in frame_pairs(preds, gts):  # DisCo calls it without torch.no_grad; so does this
            image1, image2 = self.to_tensor(p).unsqueeze(0), self.to_tensor(g).unsqueeze(0)
            scores.append(self.model(image1, image2).item())
        return Outcome(float(np.mean(scores)))


class PytorchFid:
    """pytorch-fid's InceptionV3([3]) over all frames (batches of 50, ToTensor as get_activations does)."""

    def __init__(self) -> None:
        from pytorch_fid.inception import InceptionV3
        from torchvision import transforms

        self.model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
        self.to_tensor = transforms.ToTensor()

    def activations(self, frames: Sequence[np.ndarray], batch_size: int = 50) -> np.ndarray:
        import torch

        out = np.empty((len(frames), 2048))
        for start in range(0, len(frames), batch_size):
            batch = torch.stack([self.to_tensor(frame) for frame in frames[start : start + batch_size]])
            with torch.no_grad():
                pred = self.model(batch)[0]
            out[start : start + len(batch)] = pred.squeeze(3).squeeze(2).cpu().numpy()
        return out

    def __call__(self, preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
        pred_frames = [frame for video in preds for frame in video]
        gt_frames = [frame for video in gts for frame in video]
        return pytorch_fid_distance(self.activations(pred_frames), self.activations(gt_frames))


def pil_bicubic_loop(video: np.ndarray, size: int) -> np.ndarray:
    """DisCo's make_resizer('PIL', False, 'bicubic'): each channel as a float32 PIL image, frame by frame."""
    from PIL import Image

    frames = []
    for frame in video:
        channels = [
            np.asarray(
                Image.fromarray(frame[:, :, c].astype(np.float32)).resize((size, size), Image.Resampling.BICUBIC)
            )
            for c in range(3)
        ]
        frames.append(np.stack(channels, axis=2).astype(np.float32))
    return np.stack(frames, axis=0)


class DiscoVideoFD:
    """DisCo's FVD-3DRN50 (FID-VID) or FVD-3DInception procedure: DatasetFVDVideoResize +
    compute_3d_video_prediction (batch_size=1: one video per forward) + fid_from_feats."""

    def __init__(self, kind: str, weights: Path) -> None:
        import torch

        self.kind = kind
        if kind == "fid_vid":
            from a2bench.metrics.nets.resnet3d import load_resnet3d50

            checkpoint = torch.load(weights / "resnet-50-kinetics.pth", map_location="cpu", weights_only=True)
            self.model = load_resnet3d50(checkpoint.get("state_dict", checkpoint)).eval()
            self.size = 112
        else:
            from a2bench.metrics.fvd import _disco_i3d

            state = torch.load(weights / "i3d_pretrained_400.pt", map_location="cpu", weights_only=True)
            self.model = _disco_i3d(state).eval()
            self.size = 224

    def item(self, video: np.ndarray) -> Any:
        """DatasetFVDVideoResize.__getitem__ on an already decoded video."""
        import torch

        resized = torch.as_tensor(pil_bicubic_loop(video, self.size)).float()
        if self.kind == "fid_vid":
            short = -len(resized) % 16
            if short:
                resized = torch.cat([resized, resized[[-1]].repeat(short, 1, 1, 1)], dim=0)
            resized = resized - torch.as_tensor(DISCO_RGB_MEAN)
            return resized.view(-1, 16, self.size, self.size, 3).contiguous().permute(0, 4, 1, 2, 3).float()
        return (resized / 127.5 - 1).unsqueeze(0).permute(0, 4, 1, 2, 3).float()

    def features(self, videos: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        feats = []
        for video in videos:
            with torch.no_grad():
                feats.append(self.model(self.item(video)).detach().cpu().numpy().mean(0, keepdims=True))
        return np.concatenate(feats)

    def __call__(self, preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> Outcome:
        return pytorch_fid_distance(self.features(preds), self.features(gts))


class CdFvd:
    """cd-fvd's array API: ``cdfvd('i3d', ckpt_path, device='cpu', n_fake='full').compute_fvd(real, fake)``."""

    def __init__(self, weights: Path) -> None:
        from cdfvd import fvd

        self.ref = fvd.cdfvd("i3d", ckpt_path=str(weights / "i3d_pretrained_400.pt"), device="cpu", n_fake="full")

    def warm(self, clip: np.ndarray) -> None:
        self.ref.add_real_stats(clip[None])
        self.ref.empty_real_stats()

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> Outcome:
        self.ref.empty_real_stats()
        self.ref.empty_fake_stats()
        value = float(self.ref.compute_fvd(real, fake))
        mu_fake, sigma_fake = self.ref.fake_stats.get_mean_cov()
        mu_real, sigma_real = self.ref.real_stats.get_mean_cov()
        return Outcome(value, gaussian_scale(mu_fake, sigma_fake, mu_real, sigma_real))


# --------------------------------------------------------------------------------------------------
# a2bench


def a2bench_metric(name: str, preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> float:
    from a2bench.metrics import METRICS

    metric = METRICS.get(name)(device="cpu")
    for i, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        metric.update(pred, gt, f"v{i}")
    return metric.compute().value


def a2bench_warm(name: str, pred: np.ndarray, gt: np.ndarray) -> None:
    """Builds the network (cached per file and device inside a2bench) and runs its first forward."""
    from a2bench.metrics import METRICS

    METRICS.get(name)(device="cpu").update(pred, gt, "warm-up")


# --------------------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    metric: str
    how: str
    ref_s: float
    ours_s: float
    ref: Outcome
    ours: dict[str, float] = field(default_factory=dict)  # label → a2bench value

    def speedup(self) -> str:
        return f"{self.ref_s / self.ours_s:.2f}×" if self.ours_s > 0 else "—"

    def difference(self) -> str:
        if not self.ours:
            return "—"
        if not np.isfinite(self.ref.value):
            return f"reference failed ({self.ref.note})"
        errors = [abs(v - self.ref.value) for v in self.ours.values()]
        rel = max(errors) / abs(self.ref.value) if self.ref.value else float("inf")
        text = f"{rel:.1e}"
        if self.ref.scale:
            text += f" (vs scale: {max(errors) / self.ref.scale:.1e})"
        return text


def machine_info() -> str:
    import torch

    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    from a2bench.core.provenance import package_versions

    versions = [f"{package} {found}" for package, found in package_versions().items()]
    return (
        f"Machine: {os.cpu_count()} CPUs ({cpu}), torch threads {torch.get_num_threads()}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def render(args: argparse.Namespace, rows: list[Row], totals: list[Row], frechet: list[Row], info: str) -> str:
    width, height = args.size
    lines = [
        "# a2bench metrics: speed against the reference implementations",
        "",
        f"{args.videos} videos × {args.frames} frames × {width}×{height} (prediction = shifted, noisy copy of the "
        "ground truth); random-weight networks under the official file names, loaded by both sides; CPU only.",
        "",
        info,
        "",
        "| metric | reference (how) | reference s | a2bench s | speed-up | max relative difference of the values |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in [*rows, *totals, *frechet]:
        lines.append(
            f"| {row.metric} | {row.how} | {row.ref_s:.2f} | {row.ours_s:.2f} | {row.speedup()} | {row.difference()} |"
        )
    lines += [
        "",
        "Values (reference; a2bench per metric; a2bench evaluate; scale = |dmu|² + tr S1 + tr S2 of the reference):",
        "",
        "| metric | reference | a2bench | a2bench evaluate | scale |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in [*rows, *frechet]:
        scale = f"{row.ref.scale:.6g}" if row.ref.scale else ""
        single = row.ours.get("metric", row.ours.get("a2bench", float("nan")))
        together = f"{row.ours['evaluate']:.10g}" if "evaluate" in row.ours else ""
        lines.append(f"| {row.metric} | {row.ref.value:.10g} | {single:.10g} | {together} | {scale} |")
    lines += [
        "",
        "Notes:",
        "",
        "* a2bench s for each metric row: that metric alone (`METRICS.get(name)(device='cpu')`, `update` per video, "
        "`compute`). The total row's a2bench s is ONE `evaluate(preds, gts, metrics=<default set>, device='cpu', "
        "cache_dir=False)` call, against the sum of the seven reference rows above it; the sum of a2bench's "
        f"per-metric times is {sum(r.ours_s for r in rows if r.metric in DEFAULT_SET):.2f} s. The cached row is the "
        "same call a second time with a feature cache (`cache_dir=DIR`) filled by a first, untimed call: what scoring "
        "another model against the same benchmark costs, since only the predictions' features are computed.",
        "* Timed: everything from in-memory uint8 frames to the number (preprocessing, resizing, forwards, statistics, "
        "Fréchet distance; for a2bench also creating the metric objects, which re-checks the weight files). Not timed: "
        "writing the random weights, making the videos, building each network and its first forward (done once per "
        "network on both sides before timing), file reading and decoding (neither side reads files here; DisCo reads "
        "PNG/MP4 with cv2/PIL/ffmpeg and pytorch-fid PNGs through a DataLoader).",
        "* The DisCo FID-VID / FVD rows are DisCo's procedure re-run, not a package: DatasetFVDVideoResize's per-frame "
        "PIL float bicubic resize in a plain single-threaded loop (DisCo runs it in DataLoader workers, 16 by "
        "default), one video per forward (compute_3d_video_prediction asserts batch_size 1), np.cov and "
        "pytorch-fid's `calculate_frechet_distance` (scipy `sqrtm`); networks: a2bench's 3D-ResNet-50 and the "
        "I3D a2bench builds for DisCo (a2bench.metrics.fvd._disco_i3d).",
        "* Rows that take hundredths of a second (psnr, ssim, l1 at this size) are dominated by Python overhead and "
        "timer noise; their speed-ups say little.",
        "* Relative difference: max over a2bench's values of |a2bench − reference| / |reference|; for distribution "
        "metrics also / (|dmu|² + tr S1 + tr S2). With fewer samples than feature dimensions (every video "
        "metric here) S1·S2 is singular and scipy's `sqrtm` loses digits, so the plain relative difference mostly "
        "measures the reference's error; a2bench's route is exact there (tests/test_metrics_parity.py).",
        "* Fréchet rows: features are correlated (low-rank mixing + noise, ReLU) like pooled network activations; the "
        "reference is np.mean + np.cov + pytorch-fid's `calculate_frechet_distance`, a2bench is `FeatureStats.update` "
        "+ `frechet_distance`.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Fréchet distance alone


def correlated_features(n: int, dim: int, seed: int, gain: float, dtype: type) -> np.ndarray:
    """Non-negative features with a decaying spectrum on a shared basis, like pooled ReLU activations."""
    basis = np.random.default_rng(2048)
    rank = 256
    mixing = basis.standard_normal((rank, dim)) / np.sqrt(rank)
    offset = basis.gamma(2.0, 0.2, dim)
    spectrum = 1 / np.sqrt(1 + np.arange(rank))
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, rank)) * spectrum * gain
    x = latent @ mixing * 2 + offset * gain + 0.2 * rng.standard_normal((n, dim))
    return np.maximum(x, 0).astype(dtype)


def frechet_rows() -> list[Row]:
    from a2bench.metrics import FeatureStats, frechet_distance

    rows = []
    for n1, n2 in ((100, 120), (3000, 2500)):
        for dtype in (np.float32, np.float64):
            x = correlated_features(n1, 2048, seed=n1, gain=1.0, dtype=dtype)
            y = correlated_features(n2, 2048, seed=n2 + 1, gain=1.15, dtype=dtype)
            log(f"Fréchet n={n1} vs {n2} {dtype.__name__}: reference (scipy sqrtm) ...")
            ref_s, ref = timed(lambda x=x, y=y: pytorch_fid_distance(x, y))

            def ours(x: np.ndarray = x, y: np.ndarray = y) -> float:
                a, b = FeatureStats(ddof=1), FeatureStats(ddof=1)
                a.update(x)
                b.update(y)
                return frechet_distance(a, b)

            log("  a2bench ...")
            ours_s, value = timed(ours)
            rows.append(
                Row(
                    f"Fréchet d=2048, n={n1} vs {n2}, {dtype.__name__} features",
                    "pytorch-fid `calculate_frechet_distance` on np.mean / np.cov (scipy `sqrtm`)",
                    ref_s,
                    ours_s,
                    ref,
                    {"a2bench": value},
                )
            )
    return rows


# --------------------------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 128x128, got {text!r}") from None
    if min(width, height) < 16:
        raise argparse.ArgumentTypeError("frames must be at least 16×16 (the I3D and SSIM windows)")
    return width, height


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--videos", type=int, default=8, help="videos per side (default 8, at least 2)")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (default 16, at least 16)")
    parser.add_argument("--size", type=parse_size, default=(128, 128), help="WIDTHxHEIGHT (default 128x128)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    if args.videos < 2 or args.frames < 16:
        parser.error("need at least 2 videos (a covariance) and 16 frames (the 16-frame FVD clips)")

    with tempfile.TemporaryDirectory(prefix="a2bench-speed-") as tmp:
        root = Path(tmp)
        # Both a2bench and the reference packages find the weights in the torch hub cache under $TORCH_HOME.
        os.environ["TORCH_HOME"] = str(root / "torch-home")
        os.environ["A2BENCH_WEIGHTS"] = str(root / "a2bench-weights")
        os.environ["A2BENCH_HOME"] = str(root / "a2bench-home")
        os.environ["A2BENCH_ALLOW_UNVERIFIED_WEIGHTS"] = "1"
        os.environ["HF_HUB_OFFLINE"] = "1"
        report = run(args, root / "torch-home" / "hub" / "checkpoints")
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        log(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace, weights: Path) -> str:
    import torch

    torch.set_flush_denormal(True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # scipy's sqrtm(disp=...)
    warnings.filterwarnings("ignore", category=UserWarning)
    # importing a2bench installs its torchvision compatibility hook before lpips / pytorch-fid / cd-fvd load
    from a2bench.metrics import ANIMATEX_TABLES, evaluate
    from a2bench.metrics.testing import perturb, smooth_videos, write_random_weights

    assert tuple(ANIMATEX_TABLES) == DEFAULT_SET, "the benchmark's reference rows follow the default set"

    log("writing random-weight networks (not timed) ...")
    write_random_weights(weights, WEIGHT_FILES)
    width, height = args.size
    gts = smooth_videos(args.videos, args.frames, height, width, seed=1)
    preds = perturb(gts, seed=2)

    log("importing the references and building their networks, first call / forward (not timed) ...")
    ref_psnr(preds[:1], gts[:1])  # imports skimage / cv2 outside the timed region
    ref_ssim(preds[:1], gts[:1])
    ref_l1(preds[:1], gts[:1])
    lpips_ref, fid_ref = LpipsDisco(), PytorchFid()
    fid_vid_ref, fvd_disco_ref = DiscoVideoFD("fid_vid", weights), DiscoVideoFD("fvd_disco", weights)
    cdfvd_ref = CdFvd(weights)
    lpips_ref(preds[:1], gts[:1])
    fid_ref.activations(list(gts[0]))
    fid_vid_ref.features(gts[:1])
    fvd_disco_ref.features(gts[:1])
    cdfvd_ref.warm(gts[0][:16])
    log("building a2bench's networks and running their first forward (not timed) ...")
    for name in (*DEFAULT_SET, "fvd_i3d400"):
        a2bench_warm(name, preds[0], gts[0])

    load_before = load_average()
    references: dict[str, tuple[str, Callable[[], Outcome]]] = {
        "psnr": (
            "skimage `peak_signal_noise_ratio` per frame, 100 if identical (DisCo cap)",
            lambda: ref_psnr(preds, gts),
        ),
        "ssim": (
            "DisCo: `cv2.cvtColor` gray + skimage `structural_similarity(full=True)` per frame",
            lambda: ref_ssim(preds, gts),
        ),
        "l1": ("DisCo `l1_eval` (numpy, per frame) + np.mean", lambda: ref_l1(preds, gts)),
        "lpips_disco": (
            "DisCo: `lpips.LPIPS(net='vgg')`, one frame pair per forward, ToTensor [0, 1], no normalize, no no_grad",
            lambda: lpips_ref(preds, gts),
        ),
        "fid": (
            "pytorch-fid `InceptionV3([3])` over all frames, batch 50 + `calculate_frechet_distance`",
            lambda: fid_ref(preds, gts),
        ),
        "fid_vid": (
            "DisCo procedure (re-run): 3D-ResNet-50, one video per forward, PIL float bicubic loop, np.cov + sqrtm",
            lambda: fid_vid_ref(preds, gts),
        ),
        "fvd_disco": (
            "DisCo procedure (re-run): DisCo I3D, one video per forward, PIL float bicubic loop, np.cov + sqrtm",
            lambda: fvd_disco_ref(preds, gts),
        ),
    }
    rows = []
    for name, (how, reference) in references.items():
        log(f"{name}: reference ...")
        ref_s, ref = timed(reference)
        log(f"{name}: a2bench ...")
        ours_s, value = timed(lambda name=name: a2bench_metric(name, preds, gts))
        rows.append(Row(name, how, ref_s, ours_s, ref, {"metric": value}))

    log("fvd_i3d400: cd-fvd ...")
    real, fake = np.stack([g[:16] for g in gts]), np.stack([p[:16] for p in preds])
    ref_s, ref = timed(lambda: cdfvd_ref(real, fake))
    log("fvd_i3d400: a2bench ...")
    ours_s, value = timed(lambda: a2bench_metric("fvd_i3d400", preds, gts))
    extra = Row(
        "fvd_i3d400 (extra)",
        "cd-fvd `cdfvd('i3d', n_fake='full').compute_fvd(real, fake)`, batches of 16 clips",
        ref_s,
        ours_s,
        ref,
        {"metric": value},
    )

    log("default set: one a2bench evaluate(...) call ...")
    ids = [f"v{i}" for i in range(len(gts))]

    def evaluate_default(cache_dir: Path | bool) -> Any:
        return evaluate(
            dict(zip(ids, preds, strict=True)),
            dict(zip(ids, gts, strict=True)),
            metrics=list(DEFAULT_SET),
            device="cpu",
            cache_dir=cache_dir,
        )

    eval_s, evaluation = timed(lambda: evaluate_default(False))
    for row in rows:
        row.ours["evaluate"] = evaluation.metrics[row.metric].value
    reference_total = sum(row.ref_s for row in rows)
    total = Row(
        "**default set (7 metrics)**",
        "sum of the seven reference rows vs ONE a2bench `evaluate(...)` call",
        reference_total,
        eval_s,
        Outcome(float("nan")),
    )
    log("default set again, ground-truth features cached ...")
    with tempfile.TemporaryDirectory() as cache:
        evaluate_default(Path(cache))  # fills the cache (not timed)
        cached_s, _ = timed(lambda: evaluate_default(Path(cache)))
    cached = Row(
        "**default set, ground truth cached**",
        "the same, scoring a second model: ground-truth features from a2bench's feature cache",
        reference_total,
        cached_s,
        Outcome(float("nan")),
    )
    frechet = frechet_rows()
    info = f"{machine_info()}. Load average before timing: {load_before}; after: {load_average()}"
    if max(os.getloadavg()[:2]) > 1.5 * (os.cpu_count() or 1):
        info += " (other processes were competing for the CPUs: timings are inflated and noisy)"
    return render(args, [*rows, extra], [total, cached], frechet, info + ".")


if __name__ == "__main__":
    sys.exit(main())
