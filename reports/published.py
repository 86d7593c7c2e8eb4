"""The A2Bench tables of the Animate-X paper, kept as data (``reports/data/animatex_a2bench.json``).

They are shown "as reported by the paper", next to the runs measured here and never ranked with them:
A2Bench itself is not public, and the paper's resolution and frame count are unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

DATA = "data/animatex_a2bench.json"
PROTOCOL_NAMES = {"self": "self-driven", "cross": "cross-driven (rescaled pose)"}


@dataclass(frozen=True)
class PublishedColumn:
    metric: str  # the a2bench recipe name that computes this column (the `animatex` set)
    header: str  # as printed in the paper
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass(frozen=True)
class PublishedTable:
    table: int
    protocol: str
    title: str
    rows: list[tuple[str, list[float]]]  # (method, values in column order)

    def best(self, index: int, column: PublishedColumn) -> float:
        values = [v[index] for _, v in self.rows]
        return max(values) if column.higher_is_better else min(values)

    def marked_rows(
        self, columns: list[PublishedColumn]
    ) -> list[tuple[str, list[tuple[PublishedColumn, float, bool]]]]:
        """Each row as ``(method, [(column, value, is the column's best), ...])``."""
        best = [self.best(index, column) for index, column in enumerate(columns)]
        return [
            (method, [(c, v, v == b) for c, v, b in zip(columns, values, best, strict=True)])
            for method, values in self.rows
        ]


@dataclass(frozen=True)
class Published:
    title: str
    source: dict[str, Any]
    columns: list[PublishedColumn]
    tables: list[PublishedTable]

    def for_protocol(self, protocol: str) -> list[PublishedTable]:
        return [t for t in self.tables if t.protocol == protocol]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "label": "as reported by the paper",
            "source": self.source,
            "columns": [c.__dict__ for c in self.columns],
            "tables": [
                {
                    "table": t.table,
                    "protocol": t.protocol,
                    "title": t.title,
                    "rows": [{"method": m, "values": dict(zip(self.metric_names, v, strict=True))} for m, v in t.rows],
                }
                for t in self.tables
            ],
        }

    @property
    def metric_names(self) -> list[str]:
        return [c.metric for c in self.columns]


def load_published() -> Published:
    """Read and check the data file shipped with the package."""
    doc = json.loads(files("reports").joinpath(DATA).read_text(encoding="utf-8"))
    columns = [PublishedColumn(c["metric"], c["header"], bool(c["higher_is_better"])) for c in doc["columns"]]
    tables = []
    for table in doc["tables"]:
        rows = []
        for row in table["rows"]:
            values = [float(v) for v in row["values"]]
            if len(values) != len(columns):
                raise ValueError(f"{DATA}: table {table['table']}, {row['method']}: {len(values)} values")
            rows.append((row["method"], values))
        tables.append(PublishedTable(int(table["table"]), table["protocol"], table["title"], rows))
    return Published(doc["title"], doc["source"], columns, tables)
