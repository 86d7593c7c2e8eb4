"""One safetensors file with everything a variant loads, in diffusers/transformers names (``animatex convert``).

Keys are ``<component>.<name>``: ``transformer.`` (``WanTransformer3DModel``, the release's LoRA merged),
``vae.`` (``AutoencoderKLWan``), ``text_encoder.`` (``UMT5EncoderModel``; the tied ``encoder.embed_tokens``
is stored once, as ``shared.weight``), ``image_encoder.``
(``CLIPVisionModel``), ``open_clip.`` (the IPI's OpenCLIP ViT-H-14, visual tower only; full variant), and one
component per Animate-X++ module (``dwpose_embedding.``, ``randomref_embedding_pose.``, and for the full
variant ``pose_embedding_before.``, ``pose_embedding_after.``) holding that module's state dict. The header's
metadata says what was merged and from which files. Later loads read only the components they need, without
conversion and without unpickling anything.

The file is written in one pass with memory for one component at a time: the header (every key's dtype and
shape) is known before any weight is read, from the models built on the meta device, and the tensors are then
streamed into place; the result is renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from a2bench.animatex import weights as files
from a2bench.animatex.loading import animatex_ckpt, lora, openclip, wan
from a2bench.animatex.loading.files import cast, read_tensor_file
from a2bench.animatex.loading.keys import check_state_dict, shape_of

FORMAT = "animatex-bundle/1"
BASE = ("transformer", "vae", "text_encoder", "image_encoder")
COMPONENTS = {
    "full": (*BASE, "open_clip", *animatex_ckpt.GROUPS),
    "simple": (*BASE, animatex_ckpt.POSE_VIDEO, animatex_ckpt.REF_POSE),
}
# The release's dtypes: DiT, umT5 and VAE in bfloat16; Wan's CLIP, OpenCLIP and the new modules in float32.
RELEASE_DTYPES: dict[str, torch.dtype] = {
    "transformer": torch.bfloat16,
    "vae": torch.bfloat16,
    "text_encoder": torch.bfloat16,
    "image_encoder": torch.float32,
    "open_clip": torch.float32,
}
DEFAULT_MODULE_DTYPE = torch.float32
_ST_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass
class Bundle:
    """What :func:`load_bundle` read: ``state[component][key]`` and the header's ``metadata``."""

    path: Path
    metadata: dict[str, str]
    state: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return self.metadata.get("variant", "")


def _dtype_of(component: str, dtype: torch.dtype | Mapping[str, torch.dtype] | None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {**RELEASE_DTYPES, **(dtype or {})}
    return table.get(component, DEFAULT_MODULE_DTYPE)


def _wan_file(wan_dir: Path | None, name: str) -> Path | None:
    """``wan_dir``/file for a registered Wan file name, or None to use the registry."""
    return wan_dir / Path(name).relative_to(files.WAN_DIR) if wan_dir is not None else None


def convert(
    out: str | Path,
    *,
    variant: str = "full",
    dtype: torch.dtype | Mapping[str, torch.dtype] | None = None,
    wan_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    open_clip: str | Path | None = None,
    components: Iterable[str] | None = None,
    configs: Mapping[str, Any] | None = None,
    checkpoint_options: Mapping[str, Any] | None = None,
    lora_scale: float = lora.RELEASE_LORA_SCALE,
    keep_fp32: bool = True,
) -> Path:
    """Write the bundle of ``variant`` to ``out`` and return its path.

    ``dtype``: one dtype for every component, or overrides of :data:`RELEASE_DTYPES` per component (default:
    the release's dtypes; with ``keep_fp32`` the transformer's ``_keep_in_fp32_modules`` stay float32).
    ``wan_dir``: a Wan2.1-I2V-14B-720P folder in the original layout (default: the registered files);
    ``checkpoint`` / ``open_clip``: the release files (default: registered). ``components``: a subset of
    :data:`COMPONENTS`. ``configs``: model configs per component (``transformer``, ``vae``, ``text_encoder``,
    ``image_encoder``; default: the 14B model) and ``open_clip`` (key → shape). ``checkpoint_options`` go to
    :func:`~a2bench.animatex.loading.animatex_ckpt.split_state_dict`.
    """
    if variant not in COMPONENTS:
        raise ValueError(f"variant must be one of {sorted(COMPONENTS)}, not {variant!r}")
    chosen = tuple(components) if components is not None else COMPONENTS[variant]
    unknown = [c for c in chosen if c not in COMPONENTS[variant]]
    if unknown:
        raise ValueError(f"components {unknown} are not part of the {variant} bundle {COMPONENTS[variant]}")
    configs = dict(configs or {})
    wan_dir = Path(wan_dir) if wan_dir is not None else None
    out = Path(out)

    needs_ckpt = "transformer" in chosen or any(c in animatex_ckpt.GROUPS for c in chosen)
    ckpt = None
    if needs_ckpt:
        ckpt = animatex_ckpt.read_checkpoint(
            checkpoint,
            variant=variant,
            transformer_config=configs.get("transformer"),
            **dict(checkpoint_options or {}),
        )

    # The header: every key's dtype and shape, known before any large file is read.
    empty = {
        "transformer": lambda: wan.empty_transformer(configs.get("transformer")),
        "vae": lambda: wan.empty_vae(configs.get("vae")),
        "text_encoder": lambda: wan.empty_text_encoder(configs.get("text_encoder")),
        "image_encoder": lambda: wan.empty_image_encoder(configs.get("image_encoder")),
    }
    plan: dict[str, tuple[torch.dtype, tuple[int, ...]]] = {}
    loaders: dict[str, Callable[[], Mapping[str, torch.Tensor]]] = {}
    for component in chosen:
        target = _dtype_of(component, dtype)
        if component in empty:
            model = empty[component]()
            fp32 = tuple(getattr(model, "_keep_in_fp32_modules", None) or ()) if component == "transformer" else ()
            expected = model.state_dict()
            expected.pop("encoder.embed_tokens.weight", None)  # umT5: tied to shared.weight, stored once
            for key, value in expected.items():
                keep = keep_fp32 and fp32 and target in (torch.float16, torch.bfloat16) and wan._keeps_fp32(key, fp32)
                kind = target if value.is_floating_point() else value.dtype
                plan[f"{component}.{key}"] = (torch.float32 if keep else kind, tuple(value.shape))
            loaders[component] = _component_loader(component, wan_dir, model, ckpt, lora_scale, plan)
        elif component == "open_clip":
            shapes = openclip.visual_shapes(configs.get("open_clip"))
            for key, shape in shapes.items():
                plan[f"open_clip.{key}"] = (target, shape)
            loaders[component] = lambda: openclip.read_open_clip(
                open_clip, visual_only=True, expected=configs.get("open_clip")
            )
        else:
            group = ckpt.groups.get(component) if ckpt is not None else None
            if group is None:
                raise ValueError(f"the checkpoint has no {component} module")
            for key, value in group.items():
                plan[f"{component}.{key}"] = (target if value.is_floating_point() else value.dtype, tuple(value.shape))
            loaders[component] = lambda group=group: group

    metadata = {
        "format": FORMAT,
        "variant": variant,
        "components": ",".join(chosen),
        "dtypes": json.dumps({c: str(_dtype_of(c, dtype)).removeprefix("torch.") for c in chosen}),
        "keep_fp32": str(bool(keep_fp32)).lower(),
        "lora_merged": str("transformer" in chosen).lower(),
        "lora_scale": repr(lora_scale),
        "lora_rank": ",".join(str(r) for r in sorted(ckpt.ranks)) if ckpt is not None else "",
        "sources": json.dumps(
            {
                "wan": str(wan_dir) if wan_dir is not None else f"registry:{files.WAN_DIR}",
                "checkpoint": (ckpt.source if ckpt is not None else ""),
                "open_clip": str(open_clip) if open_clip is not None else f"registry:{files.OPEN_CLIP}",
            }
        ),
    }
    if ckpt is not None and ckpt.notes:
        metadata["notes"] = "\n".join(ckpt.notes)

    def tensors():
        for component in chosen:
            state = loaders[component]()
            prefix = f"{component}."
            wanted = {k[len(prefix) :]: v for k, v in plan.items() if k.startswith(prefix)}
            check_state_dict(state, {k: shape for k, (_, shape) in wanted.items()}, f"bundle component {component}")
            for key, (kind, _) in wanted.items():
                yield prefix + key, cast(state[key], kind) if state[key].is_floating_point() else state[key]
            del state

    write_safetensors(out, plan, tensors(), metadata)
    return out


def _component_loader(
    component: str,
    wan_dir: Path | None,
    model: torch.nn.Module,
    ckpt: animatex_ckpt.AnimateXCheckpoint | None,
    lora_scale: float,
    plan: Mapping[str, tuple[torch.dtype, tuple[int, ...]]],
) -> Callable[[], Mapping[str, torch.Tensor]]:
    """A function that reads one Wan component in its model's names (the transformer with the LoRA merged).

    The transformer is cast while read, to the dtype the header gives each key (one copy in memory).
    """

    def transformer() -> Mapping[str, torch.Tensor]:
        def dtype(key: str) -> torch.dtype | None:
            entry = plan.get(f"transformer.{key}")
            return entry[0] if entry is not None else None

        state = wan.read_dit(_wan_file(wan_dir, files.DIT_INDEX), dtype)
        if ckpt is not None:
            lora.merge_lora(state, ckpt.lora, lora_scale)
        return state

    def other(name: str, convert: Callable[[Mapping[str, Any]], dict[str, Any]], what: str):
        def load() -> Mapping[str, torch.Tensor]:
            path = _wan_file(wan_dir, name) or wan.registered_path(name)
            state = convert(read_tensor_file(path, what=what))
            state.pop("encoder.embed_tokens.weight", None)  # tied; the loaders restore it from shared.weight
            if component == "image_encoder" and any(k.startswith("vision_model.") for k in model.state_dict()):
                state = {f"vision_model.{k}": v for k, v in state.items()}
            return state

        return load

    if component == "transformer":
        return transformer
    if component == "vae":
        return other(files.VAE, wan.convert_vae_state_dict, "VAE checkpoint")
    if component == "text_encoder":
        return other(files.TEXT_ENCODER, wan.convert_t5_state_dict, "umT5 checkpoint")
    return other(files.IMAGE_ENCODER, wan.convert_clip_state_dict, "CLIP checkpoint")


def write_safetensors(
    path: str | Path,
    plan: Mapping[str, tuple[torch.dtype, tuple[int, ...]]],
    tensors: Iterable[tuple[str, torch.Tensor]],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Stream ``tensors`` (in ``plan``'s order, with its dtypes and shapes) into a safetensors file.

    The header comes from ``plan`` alone, so no tensor has to be in memory before it is written. The file is
    written beside ``path`` and renamed into place when complete; a mismatch removes it.
    """
    header: dict[str, Any] = {}
    offset = 0
    for key, (dtype, shape) in plan.items():
        if dtype not in _ST_DTYPES:
            raise ValueError(f"{key}: dtype {dtype} cannot be stored in safetensors")
        size = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
        header[key] = {"dtype": _ST_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    try:
        with open(partial, "wb") as handle:
            handle.write(struct.pack("<Q", len(raw)))
            handle.write(raw)
            order = iter(plan)
            for key, tensor in tensors:
                want = next(order, None)
                dtype, shape = plan.get(key, (None, None))
                if key != want or tensor.dtype != dtype or tuple(tensor.shape) != tuple(shape):
                    raise ValueError(
                        f"tensor {key} {tensor.dtype} {list(tensor.shape)} does not match the header's next entry "
                        f"{want} {dtype} {list(shape) if shape is not None else None}"
                    )
                data = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
                handle.write(memoryview(data.numpy()))
            left = next(order, None)
            if left is not None:
                raise ValueError(f"no tensor was given for {left} (and the keys after it)")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_metadata(path: str | Path) -> dict[str, str]:
    """The bundle header's metadata (no tensor is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return dict(handle.metadata() or {})


def load_bundle(
    path: str | Path,
    components: Iterable[str] | None = None,
    *,
    device: str | torch.device = "cpu",
) -> Bundle:
    """Read a bundle written by :func:`convert`: ``components`` (default: all) as one state dict each."""
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="pt", device=str(device)) as handle:
        metadata = dict(handle.metadata() or {})
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not an Animate-X++ bundle (format {metadata.get('format')!r}, not {FORMAT})")
        present = metadata["components"].split(",")
        wanted = list(components) if components is not None else present
        absent = [c for c in wanted if c not in present]
        if absent:
            raise ValueError(f"{path} has no component {absent}; it holds {present}")
        bundle = Bundle(path=path, metadata=metadata, state={c: {} for c in wanted})
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            component, _, name = key.partition(".")
            if component in bundle.state:
                bundle.state[component][name] = handle.get_tensor(key)
    return bundle


def shapes_of(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: shape_of(v) for k, v in state.items()}
