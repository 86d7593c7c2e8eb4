"""The training configuration: YAML → frozen dataclasses; unknown keys are refused with a "did you mean".

Plain Python (no torch), so the command line can check a config without loading the model code. The schema
(every key optional; defaults below) is documented in docs/animatex.md ("Training").
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2bench.animatex.config import ConfigError, get_preset
from a2bench.core.pose.epi import EPIConfig

TRAINABLE_GROUPS = ("lora", "pose_video_encoder", "ref_pose_encoder", "ipi")
# Besides the groups above and AnimateXModel sub-module names: the pipeline's encoders (small pipelines trained
# from scratch; the release keeps them frozen).
ENCODER_GROUPS = ("text_encoder", "image_encoder", "open_clip")
LR_SCHEDULES = ("constant", "linear")
CHANNEL_WEIGHTS = ("uniform", "decoder")
SMALL_PRESETS = {"tiny": "tiny", "tiny-simple": "tiny", "animatex-tiny": "animatex-tiny"}  # preset → components
# diffusers' Wan names of the release's LoRA targets q, k, v, o (self and cross attention), ffn.0 and ffn.2.
DEFAULT_LORA_TARGETS = (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
    "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
    "ffn.net.0.proj", "ffn.net.2",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSection:
    """Which model to start from.

    ``preset``: an :mod:`a2bench.animatex.config` preset. ``weights``: ``random`` (the small presets ``tiny``,
    ``tiny-simple``, ``animatex-tiny``: every component with random weights, :meth:`AnimateXPipeline.from_components`),
    ``release`` (the official files from the weights registry) or the folder of a small pipeline written by
    :meth:`AnimateXPipeline.save_pretrained` (continue training it, e.g. ``animatex/assets/animatex-tiny``; its
    model must be ``preset``'s). ``dtype``: the frozen components' dtype
    (``release``: the release's per component). ``ipi_dropout`` overrides the IPI keypoint encoder's dropout
    (``None``: the preset's, 0.1). ``vae``: a VAE trained by ``animatex train-vae`` (its ``vae.safetensors``) in
    place of the random one (small presets). ``widen``: start from a DiT this many times as wide as the
    ``weights`` pipeline's, computing what it computes (:func:`a2bench.animatex.train.grow.widen_model`); 1 keeps it.
    """

    preset: str = "tiny"
    weights: str = "random"
    seed: int = 0
    dtype: str = "fp32"
    ipi_dropout: float | None = None
    vae: str | None = None
    widen: int = 1

    @property
    def small(self) -> bool:
        """Whether this is a small pipeline (random or saved), whose encoders can train and which can export."""
        return self.weights != "release"


@dataclass(frozen=True)
class DataSection:
    """The training data: any A2Bench-layout benchmark (a folder or a registered name).

    ``exclude``: sample ids left out (hold out evaluation samples here). ``num_frames`` / ``size`` ``[W, H]``:
    default the preset's sampling values. ``stride``: take every stride-th video frame (1 when the video is too
    short). ``epi``: :meth:`a2bench.core.pose.epi.EPIConfig.from_dict` settings (``probability`` is λ).
    ``ti2v_ratio``: the fraction of items that are the TI2V task (default 0.2, one in five). ``ipi_frames``:
    what the IPI's OpenCLIP sees, the clip's ``video`` frames (as the release's driving video) or the rendered
    ``pose`` frames.
    """

    benchmark: str = ""
    exclude: tuple[str, ...] = ()
    num_frames: int | None = None
    size: tuple[int, int] | None = None
    stride: int = 1
    epi: dict[str, Any] = field(default_factory=dict)  # EPIConfig defaults: lambda = 1.0, the paper's best on A2Bench
    ti2v_ratio: float = 0.2
    ipi_frames: str = "video"
    seed: int = 0


@dataclass(frozen=True)
class LoraSection:
    """The DiT LoRA (peft): rank, alpha, dropout and the target module names (suffixes, diffusers' Wan names)."""

    rank: int = 4
    alpha: float = 4.0
    dropout: float = 0.0
    targets: tuple[str, ...] = DEFAULT_LORA_TARGETS


@dataclass(frozen=True)
class DropoutSection:
    """Condition dropout per item, as UniAnimate-DiT: ``pose`` zeroes the pose-video tokens and the reference-pose
    features; ``image`` zeroes ``y`` (reference latent + mask) and the CLIP image tokens. ``text`` (not in
    UniAnimate-DiT, default 0) replaces the prompt by the preset's negative prompt, so that a model trained from
    scratch learns the negative branch of classifier-free guidance."""

    pose: float = 0.05
    image: float = 0.1
    text: float = 0.0


@dataclass(frozen=True)
class TrainSection:
    """The optimisation and the run.

    ``trainable``: ``lora`` and/or sub-module names of :class:`~a2bench.animatex.transformer.AnimateXModel`
    (``pose_video_encoder``, ``ref_pose_encoder``, ``ipi``, or any dotted name such as ``transformer.proj_out``);
    everything else is frozen. ``batch_size`` is per process and micro-step; the global batch is
    ``batch_size × processes × grad_accum``. ``shift``: the flow-matching shift of the training sigmas
    (default the preset's, 5). ``checkpoint_every``: steps between checkpoints (0: only at the end).
    ``num_workers``: data-loading processes (0: items are built in the training process). ``export``: also
    write the whole pipeline (``AnimateXPipeline.save_pretrained``) to ``output_dir/pipeline`` at the end (small
    presets). ``max_seconds`` (0: none): stop after the step that passes this wall time, with a checkpoint (and
    the export), as if ``steps`` had been that step; the log and the export's metadata say where it stopped.
    ``latent_cache``: keep the frozen VAE's encodings of clips and references on the device for the run (small
    benchmarks; see ``LatentCache``). ``lr_schedule``: after the linear warm-up, ``constant`` or ``linear`` (down
    to 0 at ``steps``; a resumed run continues the same curve). ``channel_weights``: how the loss weighs the
    latent channels: ``uniform`` (the plain MSE, as the release's recipe) or ``decoder`` (each channel by how much
    the frozen VAE's decoded frames change per unit change of it, measured at the start on training clips, mean
    1; see :func:`~a2bench.animatex.train.loop.decoder_channel_weights`), so the loss approximates the decoded frames'
    squared error where latent channels matter unequally.
    """

    output_dir: str = "runs/animatex-train"
    steps: int = 100
    batch_size: int = 1
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    lr_schedule: str = "constant"
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    shift: float | None = None
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 1
    trainable: tuple[str, ...] = TRAINABLE_GROUPS
    num_workers: int = 0
    export: bool = False
    max_seconds: float = 0.0
    latent_cache: bool = False
    channel_weights: str = "uniform"


@dataclass(frozen=True)
class VaeSection:
    """``animatex train-vae``: the small pipelines' VAE, trained from scratch on clips of the training data.

    Loss: L1 + MSE of the reconstruction of ``num_frames``-frame clips at ``data.size``, plus ``kl_weight`` × the
    posterior's KL divergence to N(0, 1) per latent element. Writes ``output_dir/vae.safetensors`` with its config
    (including the latent channels' mean and std over ``stats_clips`` clips, which the pipeline normalises latents
    with). ``max_seconds`` (0: none) stops after the step that passes this wall time. ``init``: start from the
    weights of an earlier ``vae.safetensors`` of the same components (continue a run, e.g. at another size).
    ``z_dim``: latent channels (``None``: the components'); an ``init`` VAE with fewer is grown to them
    (:mod:`a2bench.animatex.train.grow`), and ``animatex train`` grows a trained DiT to such a VAE. ``mixed_precision``:
    ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``no`` (fp32), or ``bf16`` (also on CPU, through
    :mod:`a2bench.animatex.train.cpu_bf16`: about 1.5 times as fast on CPUs with AMX).
    """

    output_dir: str = "runs/animatex-vae"
    steps: int = 1000
    batch_size: int = 4
    num_frames: int = 9
    lr: float = 3.0e-4
    kl_weight: float = 1.0e-4
    warmup_steps: int = 50
    seed: int = 0
    log_every: int = 50
    stats_clips: int = 64
    max_seconds: float = 0.0
    init: str | None = None
    z_dim: int | None = None
    mixed_precision: str = "auto"


@dataclass(frozen=True)
class DecoderSection:
    """``animatex train-decoder``: fine-tune a trained small pipeline's (``model.weights``) VAE decoder on its DiT's
    one-step predictions of training clips (:mod:`a2bench.animatex.train.decoder`).

    Loss: L1 + MSE of the decoded prediction against the clip, plus ``ssim_weight`` × (1 − SSIM) of their grey
    frames (skimage's defaults, as the benchmark's SSIM). The batches are built as ``animatex train`` builds them
    (``data`` and ``dropout`` sections: set the dropouts and the EPI to 0 for the conditions of inference).
    ``max_seconds`` (0: none) stops after the step that passes this wall time. Writes ``output_dir/pipeline``. Runs
    on the CPU: ``mixed_precision`` ``bf16`` runs the VAE's convolutions in bf16, ``auto`` or ``no`` in float32.
    """

    output_dir: str = "runs/animatex-decoder"
    steps: int = 1000
    batch_size: int = 4
    lr: float = 3.0e-5
    warmup_steps: int = 20
    ssim_weight: float = 0.0
    seed: int = 0
    log_every: int = 20
    max_seconds: float = 0.0
    mixed_precision: str = "auto"


@dataclass(frozen=True)
class TrainConfig:
    """The whole ``animatex train`` configuration (sections ``model``, ``data``, ``lora``, ``dropout``, ``train``;
    ``vae`` for ``animatex train-vae``, ``decoder`` for ``animatex train-decoder``)."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    lora: LoraSection = field(default_factory=LoraSection)
    dropout: DropoutSection = field(default_factory=DropoutSection)
    train: TrainSection = field(default_factory=TrainSection)
    vae: VaeSection = field(default_factory=VaeSection)
    decoder: DecoderSection = field(default_factory=DecoderSection)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("training config is inconsistent:\n  " + "\n  ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        """Build from plain data; an unknown key is a :class:`ConfigError` naming the closest known key."""
        return _build(cls, data or {}, "")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return _plain(out)

    def replace(self, **sections: dict[str, Any]) -> TrainConfig:
        """A copy with some keys of some sections changed: ``cfg.replace(train={"steps": 3})``."""
        data = self.to_dict()
        for name, changes in sections.items():
            if name not in data:
                raise ConfigError(f"unknown section {name!r}")
            data[name] = {**data[name], **changes}
        return TrainConfig.from_dict(data)


def parse_yaml(text: str) -> Any:
    """YAML with YAML 1.2's booleans: only ``true``/``false`` are booleans, so ``mixed_precision: no`` (and
    ``--set train.mixed_precision=no``) stay the string ``"no"``."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))  # fmt: skip
    return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: plain data only


def load_config(path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> TrainConfig:
    """Read a YAML training config (``overrides``: ``{section: {key: value}}`` applied on top)."""
    import yaml

    text = Path(path).read_text()
    try:
        data = parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    config = TrainConfig.from_dict(data)
    return config.replace(**overrides) if overrides else config


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(kind: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(kind)
    names = [f.name for f in dataclasses.fields(kind)]
    values = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"unknown training config key {path!r}{hint}")
        values[key] = _convert(hints[key], value, path)
    return kind(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{path}: may not be empty")
        return _convert(next(a for a in args if a is not type(None)), value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        item = args[0]
        return tuple(_convert(item, v, path) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        try:
            number = float(value) if hint is float else int(value)
        except ValueError:
            raise ConfigError(f"{path}: expected a number, got {value!r}") from None
        if hint is int and float(value) != number:
            raise ConfigError(f"{path}: expected a whole number, got {value!r}")
        return number
    if hint is str:
        return str(value)
    return value


def _problems(cfg: TrainConfig) -> list[str]:
    out = []
    try:
        preset = get_preset(cfg.model.preset)
    except ConfigError as exc:
        return [str(exc)]
    m, d, t = cfg.model, cfg.data, cfg.train
    if m.small and m.weights != "random" and not (Path(m.weights) / "config.json").is_file():
        out.append(f"model.weights must be 'random', 'release' or a folder written by save_pretrained; "
                   f"{m.weights!r} has no config.json")  # fmt: skip
    if m.small and m.preset not in SMALL_PRESETS:
        out.append(f"model.weights {m.weights!r} is for the small presets ({', '.join(SMALL_PRESETS)}); "
                   f"{m.preset!r} needs weights: release")  # fmt: skip
    if m.vae is not None and not m.small:
        out.append("model.vae (a trained small VAE) is for the small presets")
    if m.widen < 1 or (m.widen > 1 and m.weights in ("random", "release")):
        out.append(f"model.widen {m.widen}: widens a trained small pipeline (model.weights a folder) by a whole "
                   f"factor >= 1")  # fmt: skip
    if m.dtype not in ("fp32", "bf16", "fp16", "release"):
        out.append(f"model.dtype must be fp32, bf16, fp16 or release, got {m.dtype!r}")
    frames = d.num_frames or preset.sampling.num_frames
    if frames % 4 != 1:
        out.append(f"data.num_frames {frames} is not 4k + 1")
    if preset.ipi is not None and frames != preset.ipi.num_frames:
        out.append(f"data.num_frames {frames} != the IPI's {preset.ipi.num_frames} frames")
    if d.size is not None and (len(d.size) != 2 or d.size[0] % 16 or d.size[1] % 16):
        out.append(f"data.size {list(d.size)} must be [width, height], multiples of 16")
    if not 0 <= d.ti2v_ratio <= 1:
        out.append(f"data.ti2v_ratio {d.ti2v_ratio} must be in [0, 1]")
    if d.ipi_frames not in ("video", "pose"):
        out.append(f"data.ipi_frames must be 'video' or 'pose', got {d.ipi_frames!r}")
    if d.stride < 1:
        out.append("data.stride must be >= 1")
    try:
        EPIConfig.from_dict(d.epi)
    except (ValueError, TypeError) as exc:
        out.append(f"data.epi: {exc}")
    for name, p in (("dropout.pose", cfg.dropout.pose), ("dropout.image", cfg.dropout.image),
                    ("dropout.text", cfg.dropout.text)):  # fmt: skip
        if not 0 <= p <= 1:
            out.append(f"{name} {p} must be in [0, 1]")
    if cfg.lora.rank < 1 or not cfg.lora.targets:
        out.append("lora.rank must be >= 1 and lora.targets not empty")
    if t.mixed_precision not in ("no", "bf16", "fp16"):
        out.append(f"train.mixed_precision must be no, bf16 or fp16, got {t.mixed_precision!r}")
    for key in ("steps", "batch_size", "grad_accum", "log_every"):
        if getattr(t, key) < 1:
            out.append(f"train.{key} must be >= 1")
    if t.export and not m.small:
        out.append("train.export writes small pipelines only (model.weights: random or a saved folder)")
    if t.export and "lora" in t.trainable:
        out.append("train.export saves plain weights: train the small transformer fully ('transformer'), not a LoRA")
    v = cfg.vae
    if v.num_frames % 4 != 1 or min(v.steps, v.batch_size, v.log_every, v.stats_clips) < 1:
        out.append("vae: num_frames must be 4k + 1 and steps, batch_size, log_every, stats_clips >= 1")
    for section in ("vae", "decoder"):
        precision = getattr(cfg, section).mixed_precision
        if precision not in ("auto", "no", "bf16"):
            out.append(f"{section}.mixed_precision must be auto, no or bf16, got {precision!r}")
    dec = cfg.decoder
    if min(dec.steps, dec.batch_size, dec.log_every) < 1 or dec.ssim_weight < 0:
        out.append("decoder: steps, batch_size and log_every must be >= 1 and ssim_weight >= 0")
    if t.lr_schedule not in LR_SCHEDULES:
        out.append(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {t.lr_schedule!r}")
    if t.channel_weights not in CHANNEL_WEIGHTS:
        out.append(f"train.channel_weights must be one of {', '.join(CHANNEL_WEIGHTS)}, got {t.channel_weights!r}")
    if t.checkpoint_every < 0 or t.warmup_steps < 0 or t.num_workers < 0:
        out.append("train.checkpoint_every, train.warmup_steps and train.num_workers must be >= 0")
    if not t.trainable:
        out.append("train.trainable is empty: nothing would train")
    for name in t.trainable:
        if name in (*TRAINABLE_GROUPS, *ENCODER_GROUPS, "transformer") or name.startswith("transformer."):
            if name in ENCODER_GROUPS and not m.small:
                out.append(f"train.trainable: {name!r} trains only in the small presets, not the release")
            if name == "ipi" and preset.ipi is None:
                out.append(f"train.trainable names 'ipi' but {m.preset!r} has no IPI")
            continue
        close = difflib.get_close_matches(name, (*TRAINABLE_GROUPS, *ENCODER_GROUPS, "transformer"), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        out.append(f"train.trainable: unknown group {name!r}{hint} (lora, a sub-module name, or transformer.<name>)")
    return out
