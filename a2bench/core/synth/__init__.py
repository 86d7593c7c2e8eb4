"""``synth``: the built-in synthetic A2Bench with ground truth for both protocols (docs/synth.md).

``cached_synth`` is the builder registered as ``synth`` in :data:`a2bench.core.data.BENCHMARKS`.
"""

from a2bench.core.synth.generate import GENERATOR_VERSION, SynthOptions, cached_synth, generate

__all__ = ["GENERATOR_VERSION", "SynthOptions", "cached_synth", "generate"]
