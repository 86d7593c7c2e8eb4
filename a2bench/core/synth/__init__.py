"""``synth``: the built-in synthetic A2Bench with ground truth for both protocols (docs/synth.md)."""

from a2bench.core.data.load import BENCHMARKS
from a2bench.core.synth.generate import GENERATOR_VERSION, SynthOptions, cached_synth, generate

BENCHMARKS.register("synth")(cached_synth)

__all__ = ["GENERATOR_VERSION", "SynthOptions", "cached_synth", "generate"]
