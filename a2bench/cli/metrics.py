"""``a2bench metrics``: every metric recipe, what it reproduces, what it loads, and which sets include it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from a2bench.core.weights import WEIGHTS
from a2bench.metrics import METRICS, SETS, DistributionMetric


def recipe_table() -> dict[str, Any]:
    """The metric sets and, per recipe name, its record (the JSON that ``--json`` prints)."""
    sets = {**SETS, "all": tuple(METRICS.names())}
    table = {}
    for name in METRICS.names():
        metric = METRICS.get(name)
        weights = []
        for spec in metric.weight_files:
            weights.append(spec.name)
            if spec.alternative:
                weights.append(f"{WEIGHTS.get(spec.alternative).name} (when {spec.name} is missing)")
        table[name] = {
            "recipe": metric.recipe.id,
            "title": metric.title,
            "higher_is_better": metric.higher_is_better,
            "kind": "distribution" if issubclass(metric, DistributionMetric) else "paired",
            "weights": weights,
            "sets": [set_name for set_name, members in sets.items() if name in members],
            "definition": asdict(metric.recipe),
        }
    return {"format": "a2bench-metrics", "version": 1, "sets": {k: list(v) for k, v in sets.items()}, "metrics": table}


@click.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as JSON.")
def metrics_command(as_json: bool) -> None:
    """List every metric recipe: name, column title, recipe id, reference, weight files and sets (docs/metrics.md)."""
    table = recipe_table()
    if as_json:
        click.echo(json.dumps(table, indent=2, ensure_ascii=False))
        return
    for set_name, members in table["sets"].items():
        click.echo(f"set {set_name}: {', '.join(members)}")
    for name, record in table["metrics"].items():
        arrow = "↑" if record["higher_is_better"] else "↓"
        click.echo(f"\n{name}  [{record['title']} {arrow}, {record['kind']}]  {record['recipe']}")
        click.echo(f"    reference: {record['definition']['reference']}")
        click.echo(f"    weights:   {', '.join(record['weights']) or 'none'}")
        click.echo(f"    sets:      {', '.join(record['sets'])}")
