"""The one training loop: ``animatex train`` (the DiT), ``train-vae`` and ``train-decoder`` are :class:`Stage` s of it.

A :class:`Trainer` owns what every training shares: the processes (``accelerate`` for a distributed stage, one
process otherwise), the optimizer (AdamW) and its learning-rate schedule (:func:`lr_factor`), the optimizer steps
with gradient accumulation and clipping, resuming, checkpoints, the step log (``log.csv`` rewritten and a line
echoed every ``log_every`` steps, the values reduced over the processes), the time limit (``max_seconds``: every
process stops after the same step) and the loss plot. A stage supplies its model and parameters, its batches,
its loss and log columns, and what it writes at the end.

Checkpoints (distributed stages, ``output_dir/checkpoints/step-N/``): ``trainable.safetensors`` (the stage's
trainable parameters), ``optimizer.pt``, ``scheduler.pt``, ``rng-<rank>.pt`` (torch, NumPy and Python generators
per process) and ``state.json`` (step = the data position, and the config). Resuming restores all of them and
continues with the next step: the loss curve is the uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def lr_factor(step: int, warmup_steps: int, steps: int = 0, schedule: str = "constant") -> float:
    """The learning rate of ``step`` (from 0) as a fraction of the configured one: linear warm-up over
    ``warmup_steps``, then ``constant`` or ``linear`` decay to 0 at ``steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "linear":
        return max(0.0, (steps - step) / max(1, steps - warmup_steps))
    return 1.0


@dataclass(frozen=True)
class RunSettings:
    """What the trainer needs of a stage's config section. ``checkpoint_every``: steps between checkpoints (0: only
    at the end; ``None``: the stage writes none); ``mixed_precision``: ``accelerate``'s, for distributed stages."""

    output_dir: Path
    steps: int
    lr: float
    warmup_steps: int = 0
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    grad_accum: int = 1
    log_every: int = 1
    max_seconds: float = 0.0
    checkpoint_every: int | None = None
    mixed_precision: str = "no"


@dataclass
class TrainResult:
    """What a training did: ``losses`` ``[(step, loss)]`` (steps from 1), where it wrote, its checkpoints and the
    stage's ``output`` (what it wrote at the end: the VAE file, the pipeline folder)."""

    losses: list[tuple[int, float]]
    output_dir: Path
    checkpoints: list[Path]
    output: Any = None


class Stage(ABC):
    """One kind of training as the :class:`Trainer` runs it (the DiT: :mod:`~a2bench.animatex.train.loop`, the VAE:
    :mod:`~a2bench.animatex.train.vae`, the VAE decoder: :mod:`~a2bench.animatex.train.decoder`)."""

    section = "train"  # its config section, which names the time limit in the log
    label = ""  # what the echoed step lines start with
    ylabel = "loss"  # the loss plot's axis
    distributed = False  # under accelerate: several processes, its mixed precision, checkpoints and resume
    device = torch.device("cpu")  # where a single-process stage trains
    settings: RunSettings
    config: dict[str, Any] | None = None  # written to output_dir/config.json and into checkpoints, when given

    @abstractmethod
    def setup(self, trainer: Trainer) -> tuple[nn.Module, list[nn.Parameter]]:
        """Build the model on ``trainer.device``: the module to hand to ``accelerate`` and the parameters to train."""

    @abstractmethod
    def batches(self, trainer: Trainer, start: int) -> Iterator[Any]:
        """The micro-batches from step ``start`` on (``grad_accum`` per step), built when drawn."""

    @abstractmethod
    def loss(self, module: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """A micro-batch's loss and its statistics (a 1-D tensor, summed over micro-steps and processes)."""

    @abstractmethod
    def row(self, step: int, loss: float, stats: torch.Tensor, lr: float, seconds: str) -> tuple[dict[str, Any], str]:
        """Step ``step``'s ``log.csv`` row and what its echoed line says after ``step N/M``."""

    @abstractmethod
    def finish(self, trainer: Trainer, rows: list[dict[str, Any]]) -> Any:
        """Write what the training made (main process only); returns it."""

    def context(self) -> AbstractContextManager:
        """Entered around the whole loop."""
        return contextlib.nullcontext()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trainable parameters a checkpoint holds (stages with checkpoints)."""
        raise NotImplementedError(f"{type(self).__name__} writes no checkpoints")

    def load_trainable(self, weights: dict[str, torch.Tensor]) -> None:
        """The inverse of :meth:`trainable_state`."""
        raise NotImplementedError(f"{type(self).__name__} writes no checkpoints")


class OneProcess:
    """What the trainer uses of ``accelerate.Accelerator``, for a single-process stage on ``device``: such a stage
    does its own mixed precision and leaves accelerate's process-wide state (fixed once per process) alone."""

    is_main_process, process_index, num_processes, sync_gradients = True, 0, 1, True

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def prepare(self, *objects: Any) -> tuple[Any, ...]:
        return objects

    def accumulate(self, module: nn.Module) -> AbstractContextManager:
        return contextlib.nullcontext()

    def autocast(self) -> AbstractContextManager:
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_grad_norm_(self, parameters: list[nn.Parameter], max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    def reduce(self, tensor: torch.Tensor, reduction: str) -> torch.Tensor:
        return tensor

    def wait_for_everyone(self) -> None:
        pass

    def end_training(self) -> None:
        pass


class Trainer:
    """Runs a :class:`Stage` (see the module docstring); ``echo`` gets the main process's log lines."""

    def __init__(self, stage: Stage, echo: Callable[[str], None] = print) -> None:
        self.stage, self.settings = stage, stage.settings
        self.accelerator = self._accelerator()
        self.is_main = self.accelerator.is_main_process
        self.log = echo if self.is_main else (lambda _: None)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def _accelerator(self) -> Any:
        if not self.stage.distributed:
            return OneProcess(self.stage.device)
        from accelerate import Accelerator, DistributedDataParallelKwargs

        return Accelerator(
            mixed_precision=self.settings.mixed_precision,
            gradient_accumulation_steps=self.settings.grad_accum,
            step_scheduler_with_optimizer=False,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )

    def run(self, resume: str | Path | None = None, plot: bool = True) -> TrainResult:
        """Train (or resume: a checkpoint folder, or ``"latest"``) and finish; see the module docstring."""
        s, accelerator, stage = self.settings, self.accelerator, self.stage
        torch.set_flush_denormal(True)  # CPU: denormal floats in small layers are many times slower
        module, params = stage.setup(self)
        optimizer = torch.optim.AdamW(params, lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, s.warmup_steps, s.steps, s.lr_schedule)
        )
        module, optimizer = accelerator.prepare(module, optimizer)
        start = 0 if resume is None else self._resume(resume, optimizer, scheduler)
        rows = self._begin(start)
        batches = stage.batches(self, start)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: the 3-D convolutions pick their fastest kernels
        losses: list[tuple[int, float]] = []
        checkpoints: list[Path] = []
        with stage.context():
            began_run = time.perf_counter()
            for step in range(start + 1, s.steps + 1):
                began = time.perf_counter()
                loss, stats, lr = self._step(module, params, optimizer, scheduler, batches)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"{stage.label}step {step}: the loss is {loss}")
                losses.append((step, loss))
                row, summary = stage.row(step, loss, stats, lr, f"{time.perf_counter() - began:.3f}")
                rows.append(row)
                out_of_time = self._out_of_time(began_run)
                last = step == s.steps or out_of_time
                logged = step % s.log_every == 0 or last
                if logged:
                    self.log(f"{stage.label}step {step}/{s.steps} {summary}")
                if out_of_time and step < s.steps:
                    self.log(f"{stage.section}.max_seconds ({s.max_seconds:g} s) reached: stopping after step {step}")
                every = s.checkpoint_every
                saved = every is not None and ((every and step % every == 0) or last)
                if saved:
                    checkpoints.append(self._save(step, optimizer, scheduler))
                if self.is_main and (logged or saved):
                    write_csv(s.output_dir / "log.csv", list(rows[0]), rows)
                if last:
                    break
        accelerator.wait_for_everyone()
        if self.is_main and plot and rows:
            plot_losses(rows, s.output_dir / "loss.png", ylabel=stage.ylabel)
        output = stage.finish(self, rows) if self.is_main else None
        accelerator.end_training()
        return TrainResult(losses, s.output_dir, checkpoints, output)

    def _step(
        self, module: nn.Module, params: list[nn.Parameter], optimizer: Any, scheduler: Any, batches: Iterator[Any]
    ) -> tuple[float, torch.Tensor, float]:
        """One optimizer step over ``grad_accum`` micro-batches: the loss (mean over micro-batches and processes),
        the statistics (summed) and the learning rate the step used."""
        s, accelerator = self.settings, self.accelerator
        loss_sum, stats = torch.zeros((), device=self.device), None
        for _ in range(s.grad_accum):
            batch = next(batches)
            with accelerator.accumulate(module), accelerator.autocast():
                loss, batch_stats = self.stage.loss(module, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients and s.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, s.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.detach().float()
            stats = batch_stats if stats is None else stats + batch_stats
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        return float(accelerator.reduce(loss_sum / s.grad_accum, "mean")), accelerator.reduce(stats, "sum"), lr

    def _out_of_time(self, began: float) -> bool:
        """Whether ``max_seconds`` (0: none) have passed since ``began``: on any process, so that every process stops
        after the same step (the slowest one's clock decides)."""
        if self.settings.max_seconds <= 0:
            return False
        late = torch.tensor(float(self.settings.max_seconds <= time.perf_counter() - began), device=self.device)
        return bool(self.accelerator.reduce(late, "sum") > 0)

    def _begin(self, start: int) -> list[dict[str, Any]]:
        """Create the output folder (main process) and return the log rows up to step ``start`` (a resumed run's)."""
        out_dir = self.settings.output_dir
        if not self.is_main:
            return []
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.stage.config is not None:
            (out_dir / "config.json").write_text(json.dumps(self.stage.config, indent=2))
        log_path = out_dir / "log.csv"
        if not (start and log_path.exists()):
            return []
        with log_path.open() as fh:
            return [r for r in csv.DictReader(fh) if int(r["step"]) <= start]

    def _resume(self, resume: str | Path, optimizer: Any, scheduler: Any) -> int:
        """Restore a checkpoint (a folder, or ``"latest"``); returns its step."""
        from safetensors.torch import load_file

        out_dir = self.settings.output_dir
        path = latest_checkpoint(out_dir) if str(resume) == "latest" else Path(resume)
        if path is None or not (path / "state.json").exists():
            raise FileNotFoundError(f"no checkpoint to resume at {resume} (output_dir {out_dir})")
        state = json.loads((path / "state.json").read_text())
        weights = load_file(str(path / "trainable.safetensors"))
        missing = sorted(set(self.stage.trainable_state()) - set(weights))
        if missing:
            raise ValueError(f"{path}: checkpoint lacks trainable parameters {missing[:3]}… (another config?)")
        self.stage.load_trainable(weights)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
        rng_file = path / f"rng-{self.accelerator.process_index}.pt"
        if rng_file.exists():
            _set_rng_state(torch.load(rng_file, weights_only=False))
        self.log(f"resumed from {path} at step {state['step']}")
        return int(state["step"])

    def _save(self, step: int, optimizer: Any, scheduler: Any) -> Path:
        """Write the checkpoint of ``step`` (every process its generators; ``state.json`` last: a folder with it is
        complete)."""
        from safetensors.torch import save_file

        accelerator = self.accelerator
        path = self.settings.output_dir / "checkpoints" / f"step-{step}"
        accelerator.wait_for_everyone()
        if self.is_main:
            path.mkdir(parents=True, exist_ok=True)
            save_file(self.stage.trainable_state(), str(path / "trainable.safetensors"))
            torch.save(optimizer.state_dict(), path / "optimizer.pt")
            torch.save(scheduler.state_dict(), path / "scheduler.pt")
        accelerator.wait_for_everyone()
        torch.save(_rng_state(), path / f"rng-{accelerator.process_index}.pt")
        accelerator.wait_for_everyone()
        if self.is_main:
            state = {"step": step, "processes": accelerator.num_processes, "config": self.stage.config}
            (path / "state.json").write_text(json.dumps(state, indent=2))
        accelerator.wait_for_everyone()
        return path


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint (one with ``state.json``) in ``output_dir/checkpoints``."""
    found = sorted((output_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    found = [p for p in found if (p / "state.json").exists()]
    return found[-1] if found else None


def total_seconds(rows: list[dict[str, Any]]) -> float:
    """The steps' summed wall time (the rows' ``seconds``)."""
    return sum(float(r["seconds"]) for r in rows)


def write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` to ``path`` atomically (a temporary sibling, then a rename)."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def plot_losses(rows: list[dict[str, Any]], path: Path, ylabel: str = "flow-matching MSE") -> Path:
    """The loss curve (and a 10-step running mean) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]
    values = [float(r["loss"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, values, lw=0.8, alpha=0.6, label="loss")
    if len(values) >= 10:
        smooth = np.convolve(values, np.ones(10) / 10, mode="valid")
        ax.plot(steps[9:], smooth, lw=1.5, label="mean of 10")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
