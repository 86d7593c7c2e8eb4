"""The ``a2bench`` command line."""

from __future__ import annotations

import os

import click

from a2bench.cli.bench import bench
from a2bench.cli.evaluate import evaluate_command
from a2bench.cli.gate import gate_command
from a2bench.cli.metrics import metrics_command
from a2bench.cli.pose import pose
from a2bench.cli.report import report_command
from a2bench.cli.run import models_command, run_command, runs_command, score_command
from a2bench.cli.submit import submit_command, validate_command
from a2bench.cli.weights import weights
from a2bench.core.provenance import VERSION as __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="a2bench")
def main() -> None:
    """a2bench: benchmark and evaluate universal character image animation (Animate-X++, A2Bench).

    Benchmarks live in A2Bench layout v1 (docs/format.md); `synth` is the built-in one, generated
    on first use under $A2BENCH_HOME (default ~/.cache/a2bench).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on hub retries; weights are local


main.add_command(bench)
main.add_command(evaluate_command)
main.add_command(metrics_command)
main.add_command(pose)
main.add_command(weights)
main.add_command(run_command)
main.add_command(models_command)
main.add_command(runs_command)
main.add_command(score_command)
main.add_command(gate_command)
main.add_command(submit_command)
main.add_command(validate_command)
main.add_command(report_command)
