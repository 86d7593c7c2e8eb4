"""The ground floor: what every other layer stands on and which imports nothing above it.

Benchmarks (``data``), poses (``pose``), the synthetic benchmark (``synth``), video IO, frames, provenance,
statistics, the registry, the weights registry, the adapter base class and the torchvision compatibility hook.
"""
