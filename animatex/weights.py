"""The files Animate-X++ loads, registered in a2bench's weights registry, and the groups that fetch them.

The layout is the release's own (README "Download Checkpoints"): the Wan2.1 repository under its folder name,
the Animate-X++ and OpenCLIP checkpoints flat beside it, all inside ``$A2BENCH_WEIGHTS``::

    $A2BENCH_WEIGHTS/
        Wan2.1-I2V-14B-720P/                      (Wan-AI/Wan2.1-I2V-14B-720P, original layout)
            diffusion_pytorch_model-0000{1..7}-of-00007.safetensors
            diffusion_pytorch_model.safetensors.index.json
            Wan2.1_VAE.pth
            models_t5_umt5-xxl-enc-bf16.pth
            models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
            google/umt5-xxl/{tokenizer.json, tokenizer_config.json, special_tokens_map.json, spiece.model}
        animate-x++.ckpt                          (Shuaishuai0219/Animate-X-plusplus)
        animate-x++_simple.ckpt
        open_clip_pytorch_model.bin               (Shuaishuai0219/Animate-X; = laion CLIP-ViT-H-14-laion2B-s32B-b79K)

An existing download can be linked in place (``ln -s /data/Wan2.1-I2V-14B-720P $A2BENCH_WEIGHTS/``).
Hashes are the Hugging Face LFS pointers' sha256 where one was found; the other files carry none and are
refused unless ``A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1`` (results are then marked ``unverified_weights``), the
registry's rule for every unpinned file. ``a2bench weights fetch animatex-release`` fetches the group (``--model
animatex`` the full model's files).

The Wan repository's xlm-roberta-large tokenizer is not registered: it belongs to the text tower of Wan's CLIP,
which neither Wan's image conditioning nor Animate-X++ uses.
"""

from __future__ import annotations

from urllib.parse import quote

from a2bench.core.weights import WEIGHTS, WeightFile

WAN_REPO = "Wan-AI/Wan2.1-I2V-14B-720P"
WAN_DIR = "Wan2.1-I2V-14B-720P"  # the folder the release's README downloads the repository into
ANIMATEX_REPO = "Shuaishuai0219/Animate-X-plusplus"
ANIMATEX_V1_REPO = "Shuaishuai0219/Animate-X"
TOKENIZER_SUBDIR = "google/umt5-xxl"

_WAN_SOURCE = f"Hugging Face {WAN_REPO} (commit e4ee54a 'init upload')"
_WAN_UNPINNED = f"{_WAN_SOURCE}; no LFS pointer hash was found for this file"


def _hf_url(repo: str, path: str) -> str:
    return f"https://huggingface.co/{repo}/resolve/main/{quote(path)}"


def _wan(path: str, used_by: str, *, sha256: str | None = None, size: int | None = None, source: str = "") -> str:
    spec = WeightFile(
        name=f"{WAN_DIR}/{path}",
        url=_hf_url(WAN_REPO, path),
        used_by=used_by,
        sha256=sha256,
        size=size,
        source=source or (_WAN_SOURCE if sha256 else _WAN_UNPINNED),
    )
    return WEIGHTS.register(spec.name, spec).name


# sha256 of the DiT shards from the repository's LFS pointer pages (exact byte sizes were not published there).
_SHARD_SHA256 = {
    4: "3b3e8561340ad1d43e4569912810fdc24f83ddbcf4f2863c968114479113324b",
    5: "9700f2ba6194aad23a458adc6e73352ea982a0b1c7606f459cd3e559eacc270d",
    6: "148e81b477494ef9590acd8983f45116d4684919659ea2c0e747050458aa2346",
}
DIT_SHARDS = tuple(
    _wan(
        f"diffusion_pytorch_model-{i:05d}-of-00007.safetensors",
        f"animatex (Wan2.1-I2V-14B-720P DiT, original layout, shard {i} of 7)",
        sha256=_SHARD_SHA256.get(i),
    )
    for i in range(1, 8)
)
DIT_INDEX = _wan(
    "diffusion_pytorch_model.safetensors.index.json",
    "animatex (Wan2.1-I2V-14B-720P DiT shard index: key → shard)",
)
VAE = _wan(
    "Wan2.1_VAE.pth",
    "animatex (Wan2.1 VAE, converted to diffusers AutoencoderKLWan)",
    sha256="38071ab59bd94681c686fa51d75a1968f64e470262043be31f7a094e442fd981",
    size=507609880,
    source=f"{_WAN_SOURCE}; the same file (sha256 and size) ships in every Wan2.1 repository",
)
TEXT_ENCODER = _wan(
    "models_t5_umt5-xxl-enc-bf16.pth",
    "animatex (umT5-XXL encoder, converted to transformers UMT5EncoderModel)",
    source=f"{_WAN_UNPINNED}; a copy in Skywork/Matrix-Game-3.0 lists sha256 "
    "7cace0da2b446bbbbc57d031ab6cf163a3d59b366da94e5afe36745b746fd81d, 11361920418 bytes (not pinned: not Wan's own)",
)
IMAGE_ENCODER = _wan(
    "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth",
    "animatex (Wan's CLIP ViT-H/14 image encoder, converted to transformers CLIPVisionModel)",
    sha256="628c9998b613391f193eb67ff68da9667d75f492911e4eb3decf23460a158c38",
    size=4772359047,
    source=f"{_WAN_SOURCE}; size from an identical LFS pointer (DeepBeepMeep/Wan2.1)",
)
TOKENIZER_FILES = tuple(
    _wan(f"{TOKENIZER_SUBDIR}/{name}", "animatex (umT5 tokenizer)")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model")
)

CHECKPOINT_FULL = "animate-x++.ckpt"
WEIGHTS.register(
    CHECKPOINT_FULL,
    WeightFile(
        name=CHECKPOINT_FULL,
        url=_hf_url(ANIMATEX_REPO, "animate-x++.ckpt"),
        used_by="animatex (Animate-X++ full model: DiT LoRA, pose encoders, Implicit Pose Indicator)",
        source=f"Hugging Face {ANIMATEX_REPO}; size and hash unpublished (README only was read)",
    ),
)
CHECKPOINT_SIMPLE = "animate-x++_simple.ckpt"
WEIGHTS.register(
    CHECKPOINT_SIMPLE,
    WeightFile(
        name=CHECKPOINT_SIMPLE,
        url=_hf_url(ANIMATEX_REPO, "animate-x++_simple.ckpt"),
        used_by="animatex-simple (Animate-X++ simple model: DiT LoRA and pose encoders, no IPI)",
        source=f"Hugging Face {ANIMATEX_REPO}; size and hash unpublished (README only was read)",
    ),
)
OPEN_CLIP = "open_clip_pytorch_model.bin"
WEIGHTS.register(
    OPEN_CLIP,
    WeightFile(
        name=OPEN_CLIP,
        url=_hf_url(ANIMATEX_V1_REPO, "open_clip_pytorch_model.bin"),
        used_by="animatex (OpenCLIP ViT-H-14 frame encoder of the Implicit Pose Indicator)",
        sha256="9a78ef8e8c73fd0df621682e7a8e8eb36c6916cb3c16b291a082ecd52ab79cc4",
        size=3944692325,
        source=f"LFS pointer of {ANIMATEX_V1_REPO} (commit bf2a8b8); the same sha256 and size as laion's "
        "CLIP-ViT-H-14-laion2B-s32B-b79K open_clip_pytorch_model.bin (OpenCLIP tag laion2b_s32b_b79k)",
    ),
)

WAN_BASE = (*DIT_SHARDS, DIT_INDEX, VAE, TEXT_ENCODER, IMAGE_ENCODER, *TOKENIZER_FILES)
FULL = (*WAN_BASE, CHECKPOINT_FULL, OPEN_CLIP)
SIMPLE = (*WAN_BASE, CHECKPOINT_SIMPLE)

# Named sets of files for ``a2bench weights fetch GROUP`` (read by a2bench/cli/weights.py).
GROUPS: dict[str, tuple[str, ...]] = {
    "animatex-release": (*FULL, CHECKPOINT_SIMPLE),  # everything: both variants
    "animatex-full": FULL,
    "animatex-simple": SIMPLE,
    "wan2.1-i2v-14b-720p": WAN_BASE,
}
