"""Benchmarks in A2Bench layout v1: loading, validation and Hugging Face export (docs/format.md)."""

from a2bench.core.data.benchmark import Benchmark, Sample, Task
from a2bench.core.data.errors import BenchmarkError
from a2bench.core.data.hf import export_hf
from a2bench.core.data.load import BENCHMARKS, load_benchmark, load_folder
from a2bench.core.data.manifest import Manifest, SampleEntry

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkError",
    "Manifest",
    "Sample",
    "SampleEntry",
    "Task",
    "export_hf",
    "load_benchmark",
    "load_folder",
]
