"""The conditioned Wan transformer of Animate-X++ and the model that groups it with its condition encoders.

:class:`AnimateXTransformer` is diffusers' ``WanTransformer3DModel`` (Wan2.1-I2V-14B-720P) with the two
places where Animate-X++ adds its pose conditions:

1. **pose-video tokens** (:class:`~a2bench.animatex.pose_encoders.PoseVideoEncoder`'s output) are added to the
   output of ``patch_embedding``, i.e. to the patch tokens before RoPE and the first block, unscaled;
2. **IPI tokens** (:class:`~a2bench.animatex.ipi.ImplicitPoseIndicator`'s output, one vector per latent frame)
   are added to every token of their latent frame just before each block in ``ipi_blocks`` (the release's
   rule ``1 < i <= num_layers // 2``: blocks 2…20 of 40, 19 additions), unscaled.

The third condition, the reference pose, is not a transformer input of its own: its 20-channel features
are added to the reference condition ``y`` (``condition=``, 4 mask + 16 reference-latent channels), which is
concatenated after the 16 noisy-latent channels into the 36-channel ``patch_embedding`` input, as in Wan I2V.

Mechanism: forward hooks, not a re-written forward. ``forward`` validates and stores the two tensors for the
duration of one call, then runs diffusers' own ``WanTransformer3DModel.forward`` unchanged; a forward hook on
``patch_embedding`` and forward pre-hooks on the blocks (registered once, at construction) add them. This
keeps every diffusers feature of that forward (attention backends, LoRA scale, gradient checkpointing, caching
and offloading hooks, ``from_pretrained``/``from_single_file``) and no copy of its code to keep in sync:
the hooks depend only on ``patch_embedding`` returning the ``(B, D, f, h, w)`` grid and on each block taking
``hidden_states`` ``(B, f·h·w, D)`` first, which is what Wan is. The parameters and their names are exactly
``WanTransformer3DModel``'s, so Wan weights (converted with diffusers' ``convert_wan_transformer_to_diffusers``)
load strictly and with no pose inputs the output is diffusers' bit for bit.

:class:`AnimateXModel` holds ``transformer`` (diffusers key names), ``pose_video_encoder``,
``ref_pose_encoder`` and ``ipi`` (``None`` for the simple variant); see those modules for their key names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import WanTransformer3DModel
from torch import nn

from a2bench.animatex.config import AnimateXConfig, ConfigError, default_ipi_blocks, get_preset
from a2bench.animatex.ipi import ImplicitPoseIndicator
from a2bench.animatex.pose_encoders import PoseVideoEncoder, RefPoseEncoder, add_reference_pose


@dataclass(frozen=True)
class _Injection:
    """What one forward call adds: the pose grid ``(B|1, D, f, h, w)`` and IPI ``(B|1, f, D)`` (or ``None``)."""

    pose: torch.Tensor | None
    ipi: torch.Tensor | None
    frames: int
    tokens: int
    blocks: frozenset[int]


class AnimateXTransformer(WanTransformer3DModel):
    """``WanTransformer3DModel`` plus Animate-X++'s pose-video and IPI additions (same parameters, same config).

    ``forward(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image=None,
    return_dict=True, attention_kwargs=None, *, condition=None, ref_pose_features=None, pose_tokens=None,
    ipi_tokens=None)``:

    * ``hidden_states``: ``(B, 36, f, H, W)`` latents, or ``(B, 16, f, H, W)`` noisy latents when
      ``condition`` is given;
    * ``condition``: the reference condition ``y`` ``(B|1, 20, f, H, W)``; ``ref_pose_features``
      ``(B|1, 20, 1, H, W)`` are added to it first (:func:`~a2bench.animatex.pose_encoders.add_reference_pose`);
    * ``pose_tokens``: the pose-video grid ``(B|1, D, f, H/2, W/2)`` or tokens ``(B|1, f·H/2·W/2, D)``; for
      batched classifier-free guidance give the unconditional rows zeros (the release adds none there);
    * ``ipi_tokens``: ``(B|1, f, D)``, one vector per latent frame.

    A batch of 1 in a condition broadcasts over ``B``. The other arguments are diffusers'. ``ipi_blocks`` (the
    blocks the IPI is added before) defaults to the release's rule; set it to ``()`` to disable the IPI.
    The tensors are cast to the hidden states' dtype before they are added, as the release adds bf16 to bf16.
    """

    @functools.wraps(WanTransformer3DModel.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # functools.wraps keeps Wan's signature visible, so diffusers' from_config/from_pretrained see its fields.
        super().__init__(*args, **kwargs)
        self._injection: _Injection | None = None
        self._ipi_blocks = default_ipi_blocks(self.config.num_layers)
        # Bound methods (not closures over self), so copy.deepcopy re-binds them to the copy.
        self.patch_embedding.register_forward_hook(self._add_pose_tokens)
        for index, block in enumerate(self.blocks):
            block.register_forward_pre_hook(functools.partial(self._add_ipi_tokens, index), with_kwargs=True)

    @property
    def ipi_blocks(self) -> tuple[int, ...]:
        """Indices of the blocks the IPI tokens are added before (release: 2…num_layers // 2)."""
        return self._ipi_blocks

    @ipi_blocks.setter
    def ipi_blocks(self, blocks: tuple[int, ...] | list[int]) -> None:
        blocks = tuple(sorted({int(i) for i in blocks}))
        bad = [i for i in blocks if not 0 <= i < len(self.blocks)]
        if bad:
            raise ValueError(f"ipi_blocks {bad} outside 0..{len(self.blocks) - 1}")
        self._ipi_blocks = blocks

    def compile_repeated_blocks(self, *args: Any, **kwargs: Any) -> None:
        """Regional compilation: ``torch.compile(block.forward, *args, **kwargs)`` for every DiT block.

        Unlike diffusers' version (``block.compile()``, which compiles the whole module call, hooks included), only
        each block's ``forward`` is compiled, so the pose/IPI pre-hooks run eagerly outside the compiled region.
        Inside it, dynamo traces the pre-hook as a frame of its own and guards on its block index: as soon as the
        first traced block adds the IPI, every further IPI block recompiles (seen with torch 2.13 on ``tiny``, IPI
        before blocks 0 and 1: 3 graphs; the 14B model's 19 IPI blocks would pass dynamo's recompile limit of 8,
        after which the blocks silently run eagerly). Compiled this way all blocks share one graph (their parameters
        are graph inputs), and diffusers' offloading hooks, which wrap ``forward`` when applied afterwards, also
        stay outside the graph. A second call is refused.
        """
        if any(getattr(block, "_animatex_compiled", False) for block in self.blocks):
            raise RuntimeError("the transformer blocks are already compiled")
        for block in self.blocks:
            block.forward = torch.compile(block.forward, *args, **kwargs)
            block._animatex_compiled = True

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        *,
        condition: torch.Tensor | None = None,
        ref_pose_features: torch.Tensor | None = None,
        pose_tokens: torch.Tensor | None = None,
        ipi_tokens: torch.Tensor | None = None,
    ) -> Any:
        if condition is not None:
            if ref_pose_features is not None:
                condition = add_reference_pose(condition, ref_pose_features)
            condition = condition.to(hidden_states.dtype)
            if condition.shape[0] != hidden_states.shape[0]:
                condition = condition.expand(hidden_states.shape[0], *condition.shape[1:])
            hidden_states = torch.cat([hidden_states, condition], dim=1)
        elif ref_pose_features is not None:
            raise ValueError("ref_pose_features are added to the reference condition: pass condition= as well")
        if hidden_states.ndim != 5 or hidden_states.shape[1] != self.config.in_channels:
            raise ValueError(
                f"the transformer takes (B, {self.config.in_channels}, F, H, W) (noisy latents + condition); "
                f"got {tuple(hidden_states.shape)}"
            )
        wan_args = (hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image, return_dict)
        injection = self._injection_for(hidden_states, pose_tokens, ipi_tokens)
        if injection is None:
            return super().forward(*wan_args, attention_kwargs)
        if self._injection is not None:
            raise RuntimeError("AnimateXTransformer.forward is not re-entrant")
        checkpointing = self.gradient_checkpointing and torch.is_grad_enabled()
        checkpoint = self._gradient_checkpointing_func
        self._injection = injection
        if checkpointing:
            self._gradient_checkpointing_func = functools.partial(self._checkpoint_block, checkpoint, injection)
        try:
            return super().forward(*wan_args, attention_kwargs)
        finally:
            self._injection = None
            if checkpointing:
                self._gradient_checkpointing_func = checkpoint

    def _checkpoint_block(self, checkpoint: Any, injection: _Injection, block: nn.Module, *args: Any) -> Any:
        """Gradient checkpointing of one block whose re-run in the backward pass sees this call's additions again
        (the pre-hooks run inside the checkpointed call, after ``forward`` has returned)."""

        def run(*inputs: Any) -> Any:
            previous, self._injection = self._injection, injection
            try:
                return block(*inputs)
            finally:
                self._injection = previous

        return checkpoint(run, *args)

    def _injection_for(
        self, hidden_states: torch.Tensor, pose_tokens: torch.Tensor | None, ipi_tokens: torch.Tensor | None
    ) -> _Injection | None:
        if pose_tokens is None and ipi_tokens is None:
            return None
        batch, _, frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        f, h, w = frames // p_t, height // p_h, width // p_w
        dim = self.config.num_attention_heads * self.config.attention_head_dim
        device = hidden_states.device
        if pose_tokens is not None:
            if pose_tokens.ndim == 3 and pose_tokens.shape[1:] == (f * h * w, dim):
                pose_tokens = pose_tokens.transpose(1, 2).unflatten(2, (f, h, w))
            if (
                pose_tokens.ndim != 5
                or pose_tokens.shape[1:] != (dim, f, h, w)
                or pose_tokens.shape[0] not in (1, batch)
            ):
                raise ValueError(
                    f"pose_tokens must be (B, {dim}, {f}, {h}, {w}) or (B, {f * h * w}, {dim}) for these latents; "
                    f"got {tuple(pose_tokens.shape)}"
                )
            pose_tokens = pose_tokens.to(device)
        if ipi_tokens is not None:
            if not self._ipi_blocks:
                raise ValueError("ipi_tokens given but this transformer adds the IPI before no block (ipi_blocks)")
            if ipi_tokens.ndim != 3 or ipi_tokens.shape[1:] != (f, dim) or ipi_tokens.shape[0] not in (1, batch):
                raise ValueError(f"ipi_tokens must be (B, {f}, {dim}) for these latents; got {tuple(ipi_tokens.shape)}")
            ipi_tokens = ipi_tokens.to(device)
        return _Injection(pose_tokens, ipi_tokens, f, h * w, frozenset(self._ipi_blocks))

    def _add_pose_tokens(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        injection = self._injection
        if injection is None or injection.pose is None:
            return None
        return output + injection.pose.to(output.dtype)

    def _add_ipi_tokens(self, index: int, module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
        injection = self._injection
        if injection is None or injection.ipi is None or index not in injection.blocks:
            return None
        hidden_states = args[0] if args else kwargs["hidden_states"]
        if hidden_states.shape[1] != injection.frames * injection.tokens:
            raise RuntimeError(
                f"block {index} sees {hidden_states.shape[1]} tokens, not all {injection.frames * injection.tokens}: "
                "the IPI addition does not support sequence-sharded (context-parallel) runs"
            )
        ipi = injection.ipi.to(hidden_states.dtype)
        hidden_states = (hidden_states.unflatten(1, (injection.frames, injection.tokens)) + ipi[:, :, None]).flatten(
            1, 2
        )
        if args:
            return (hidden_states, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": hidden_states}


# The model's parts, by attribute name: AnimateXPipeline registers each as a component of its own.
PARTS = ("transformer", "pose_video_encoder", "ref_pose_encoder", "ipi")


class AnimateXModel(nn.Module):
    """An Animate-X++ model: ``transformer``, ``pose_video_encoder``, ``ref_pose_encoder`` and ``ipi``.

    ``ipi`` is ``None`` for a config without an IPI (``animatex-simple``), and the transformer's
    ``ipi_blocks`` is then empty. Built in eval mode (the IPI's dropout off unless ``release_dropout``).
    Build the 14B model without allocating it with ``with torch.device("meta"): AnimateXModel(cfg)``.
    ``parts`` (all four of :data:`PARTS`, ``ipi`` possibly ``None``) groups existing modules instead, as
    :class:`~a2bench.animatex.pipeline.AnimateXPipeline` does with its registered components.

    State-dict prefixes: ``transformer.`` (diffusers' Wan names), ``pose_video_encoder.convs.``
    (release ``dwpose_embedding.``), ``ref_pose_encoder.convs.`` (release ``randomref_embedding_pose.``),
    ``ipi.keypoint_encoder.`` (release ``pose_embedding_before.``), ``ipi.resampler.`` (release
    ``pose_embedding_after.``).
    """

    def __init__(self, config: AnimateXConfig, **parts: nn.Module | None) -> None:
        super().__init__()
        self.config = config
        if parts:
            if sorted(parts) != sorted(PARTS):
                raise ValueError(f"AnimateXModel parts must be {', '.join(PARTS)}; got {', '.join(parts)}")
            for name in PARTS:
                setattr(self, name, parts[name])
            return
        self.transformer = AnimateXTransformer(**config.transformer.kwargs())
        self.transformer.ipi_blocks = config.ipi_block_indices
        self.pose_video_encoder = PoseVideoEncoder(config.pose_video)
        self.ref_pose_encoder = RefPoseEncoder(config.ref_pose)
        self.ipi = ImplicitPoseIndicator(config.ipi) if config.ipi is not None else None
        self.eval()

    def parts(self) -> dict[str, nn.Module | None]:
        """The four parts by :data:`PARTS` name (``ipi`` may be ``None``)."""
        return {name: getattr(self, name) for name in PARTS}

    @classmethod
    def from_preset(cls, name: str) -> AnimateXModel:
        """A randomly initialised model of the named preset (:func:`~a2bench.animatex.config.get_preset`)."""
        return cls(get_preset(name))

    def encode_pose_video(self, pose_video: torch.Tensor) -> torch.Tensor:
        """Pose video ``(B, 3, F, H, W)`` → pose grid ``(B, D, f, H/16, W/16)`` (see ``PoseVideoEncoder``)."""
        return self.pose_video_encoder(pose_video)

    def encode_ref_pose(self, ref_pose: torch.Tensor) -> torch.Tensor:
        """Reference pose image ``(B, 3, H, W)`` → ``(B, 20, 1, H/8, W/8)`` (see ``RefPoseEncoder``)."""
        return self.ref_pose_encoder(ref_pose)

    def encode_ipi(self, keypoints: torch.Tensor, clip_features: torch.Tensor) -> torch.Tensor:
        """Keypoints and per-frame OpenCLIP features → IPI tokens ``(B, f, D)``; an error without an IPI."""
        if self.ipi is None:
            raise ConfigError(f"model {self.config.name!r} has no Implicit Pose Indicator")
        return self.ipi(keypoints, clip_features)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The transformer's forward (see :class:`AnimateXTransformer`)."""
        return self.transformer(*args, **kwargs)
