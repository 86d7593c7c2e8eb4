"""Training Animate-X++ (``animatex train --config FILE``; docs/animatex.md "Training").

* :mod:`a2bench.animatex.train.config`: the YAML schema as frozen dataclasses (unknown keys are refused);
* :mod:`a2bench.animatex.train.data`: a dataset over any A2Bench-layout benchmark (clips, EPI, TI2V task sampler);
* :mod:`a2bench.animatex.train.loop`: the training step and loop (LoRA + pose encoders + IPI, ``accelerate``).
"""

from a2bench.animatex.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
