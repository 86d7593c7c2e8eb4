"""Training Animate-X++ (``animatex train --config FILE``; docs/animatex.md "Training").

* :mod:`a2bench.animatex.train.config`: the YAML schema as frozen dataclasses (unknown keys are refused);
* :mod:`a2bench.animatex.train.data`: a dataset over any A2Bench-layout benchmark (clips, EPI, TI2V task sampler);
* :mod:`a2bench.animatex.train.trainer`: the one training loop (``accelerate``, resume, checkpoints, the step log, the
  time limit) that runs every stage below;
* :mod:`a2bench.animatex.train.loop`: ``animatex train``'s stage: the training step (LoRA + pose encoders + IPI);
* :mod:`a2bench.animatex.train.vae`, :mod:`a2bench.animatex.train.decoder`: ``train-vae`` and ``train-decoder``'s.
"""

from a2bench.animatex.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
