"""The results database: runs, per-sample generations and metric values in one SQLite file.

SQLite from the standard library in WAL mode, so several processes (the ranks of a multi-GPU run)
can write at once and readers never block writers. Every write is one short transaction, retried
while another process holds the lock. Default location: ``$A2BENCH_HOME/results.db``.

Tables:

- ``runs``: one row per run with its provenance (adapter identity, benchmark, protocol, seed, ...);
- ``generations``: one row per generated video, keyed by what determines it — adapter identity
  (name, version, arguments, weight hashes), the sample's content hash, protocol and sample seed — so
  a run resumes by skipping keys already done and a different model can never reuse the video;
- ``run_samples``: which generation each run uses for each sample (a run may reuse a generation
  made by an earlier run with the same key), with the video's sha256 at the time, so a run never
  presents a video regenerated after it was scored as its own;
- ``sample_metrics`` and ``metrics``: per-sample and aggregate values of each run; a distribution
  metric's row also holds ``n_pred`` / ``n_target``, the feature vectors behind it (NULL for paired
  metrics and for rows written before schema 3), and every row the metric's ``title`` (schema 4).

A run reads back as one :class:`~a2bench.core.record.RunRecord` (:meth:`ResultsDB.load_record`), the shape the
export, the gate, submissions and reports share. What only the registries know is stored with the run when it
happens: ``runs.oracle`` (the adapter uses the ground truth) and ``metrics.title``.

Older databases are migrated in place when opened: schema 2 → 3 adds ``n_pred`` / ``n_target``; schema 3 → 4 adds
``runs.oracle`` and ``metrics.title`` and fills them for the runs recorded before from what the registries say at
migration time. A model or metric the registries do not know then (an adapter from a package no longer installed)
stays NULL, "unknown": reports treat an unknown oracle flag as "not an oracle" and show an unknown title as the
metric's name, as they did before schema 4.

A generation row is committed only after its video was renamed into place, so a row never points
at a half-written file; a crash loses at most the sample in flight.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from a2bench.core.paths import home
from a2bench.core.record import MetricRecord, Run, RunRecord, SampleRecord
from a2bench.core.registry import UnknownNameError
from a2bench.models import MODELS

SCHEMA_VERSION = 4
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    identity TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    benchmark_version TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    protocol TEXT NOT NULL,
    seed INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    metric_names TEXT NOT NULL,
    folder TEXT NOT NULL,
    provenance TEXT NOT NULL,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    oracle INTEGER  -- 1: the adapter uses the ground truth, 0: it does not, NULL: unknown
);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    sample_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    path TEXT,
    sha256 TEXT,
    num_frames INTEGER,
    width INTEGER,
    height INTEGER,
    fps TEXT,
    error TEXT,
    seconds REAL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_samples (
    run_id TEXT NOT NULL REFERENCES runs(id),
    sample_id TEXT NOT NULL,
    generation TEXT NOT NULL REFERENCES generations(key),
    sha256 TEXT,  -- the video's sha256 when this run took it: a later regeneration of the key shows up
    PRIMARY KEY (run_id, sample_id)
);
CREATE TABLE IF NOT EXISTS sample_metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    sample_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, sample_id, metric)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id),
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    detail TEXT NOT NULL,
    n_pred INTEGER,
    n_target INTEGER,
    title TEXT,  -- the metric's paper-style title when it was scored (NULL: unknown)
    PRIMARY KEY (run_id, metric)
);
"""


def _add_columns(db: sqlite3.Connection, table: str, *columns: str) -> None:
    """``ALTER TABLE table ADD COLUMN`` each ``"name TYPE"`` the table lacks (a table the current schema just
    created has them all)."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for column in columns:
        if column.split()[0] not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _to_schema_4(db: sqlite3.Connection) -> None:
    """``runs.oracle`` and ``metrics.title``, filled from the registries for the rows recorded before (module
    docstring); names they do not know stay NULL."""
    _add_columns(db, "runs", "oracle INTEGER")
    _add_columns(db, "metrics", "title TEXT")
    models = [m for (m,) in db.execute("SELECT DISTINCT model FROM runs WHERE oracle IS NULL").fetchall()]
    for model in models:
        try:
            oracle = bool(MODELS.get(model).uses_ground_truth)
        except (UnknownNameError, ImportError):  # not installed (any more): unknown
            continue
        db.execute("UPDATE runs SET oracle = ? WHERE model = ? AND oracle IS NULL", (oracle, model))
    names = [m for (m,) in db.execute("SELECT DISTINCT metric FROM metrics WHERE title IS NULL").fetchall()]
    if names:
        from a2bench.metrics import METRICS  # lazy: torch; only this migration needs the metric registry

        for name in names:
            try:
                title = METRICS.get(name).title
            except (UnknownNameError, ImportError):
                continue
            db.execute("UPDATE metrics SET title = ? WHERE metric = ? AND title IS NULL", (title, name))


# What brings a database of the key's schema version to the next one.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: lambda db: _add_columns(db, "metrics", "n_pred INTEGER", "n_target INTEGER"),
    3: _to_schema_4,
}


class ResultsError(ValueError):
    """An unknown run or an unusable database file; the message says what to do."""


def default_db() -> Path:
    return home() / "results.db"


@dataclass(frozen=True)
class Generation:
    """A ``generations`` row: a video (status ``ok``) or the error that prevented it (``failed``)."""

    key: str
    sample_id: str
    status: str
    path: str | None = None
    sha256: str | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: str | None = None
    error: str | None = None
    seconds: float | None = None
    created: str = ""


@dataclass(frozen=True)
class Removed:
    """What :meth:`ResultsDB.delete_run` removed: the run's sample rows, the generations no other run used,
    and those generations' video files (still on disk)."""

    run_id: str
    samples: int
    generations: int
    videos: list[Path]


_JSON_FIELDS = {"identity", "provenance", "metric_names"}
_COLUMNS = ("n_pred", "n_target", "title")  # columns of ``metrics`` beside the value, not part of its ``detail`` JSON


class ResultsDB:
    """A results database file (created on first use)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            # a new file's switch to WAL can fail "locked" at once, without the busy timeout, while another
            # process opens it too (two torchrun ranks)
            self._while_locked(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
            self._conn.execute("PRAGMA foreign_keys=ON")
            with self.transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):  # executescript would commit early
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                found = int(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
                while found in _MIGRATIONS:
                    _MIGRATIONS[found](db)
                    found += 1
                    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(found),))
        except sqlite3.DatabaseError as exc:
            raise ResultsError(f"{self.path}: not a usable a2bench results database ({exc})") from exc
        if found != SCHEMA_VERSION:
            raise ResultsError(
                f"{self.path}: schema version {found}, this a2bench reads {SCHEMA_VERSION}; move the file aside "
                "(or pass --db NEW_FILE) and run the commands again"
            )

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, retried while another process holds the write lock."""
        self._while_locked(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
                self._conn.execute("ROLLBACK")
            raise

    def _while_locked(self, statement: Callable[[], object]) -> None:
        """Run ``statement``, again while another process holds the database lock (5 tries, each of which may
        already wait up to the connection's 60 s busy timeout)."""
        for attempt in range(5):
            try:
                statement()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise ResultsError(f"{self.path}: still locked by another process after 5 minutes")

    # runs -------------------------------------------------------------------------------------
    def save_run(self, run: Run) -> None:
        """Insert a run; when it exists (resume), only mark it running again (the first provenance is kept)."""
        row = {k: json.dumps(v, sort_keys=True) if k in _JSON_FIELDS else v for k, v in asdict(run).items()}
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
                "ON CONFLICT(id) DO UPDATE SET status=excluded.status, finished=NULL",
                tuple(row.values()),
            )

    def set_status(self, run_id: str, status: str, finished: str | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, finished, run_id))

    def runs(self) -> list[Run]:
        rows = self._conn.execute("SELECT * FROM runs ORDER BY started, id").fetchall()
        return [self._run(row) for row in rows]

    def run(self, run_id: str) -> Run:
        """The run whose id is ``run_id``, else the one run whose id starts with it."""
        rows = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
        rows = (
            rows
            or self._conn.execute(
                "SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id", (len(run_id), run_id)
            ).fetchall()
        )
        if len(rows) == 1:
            return self._run(rows[0])
        if not rows:
            raise ResultsError(f"no run {run_id!r} in {self.path}; `a2bench runs list` shows the runs")
        raise ResultsError(f"run id {run_id!r} is ambiguous: {', '.join(r[0] for r in rows)}")

    def delete_run(self, run_id: str) -> Removed:
        """Remove a run's rows (run, run_samples, metrics, sample_metrics) and the generations no remaining run
        uses, in one transaction. The videos of those generations are returned, not deleted: the caller deletes
        them after this commit, so a crash can leave an unused file but never a row pointing at a deleted one."""
        with self.transaction() as db:
            keys = [k for (k,) in db.execute("SELECT generation FROM run_samples WHERE run_id = ?", (run_id,))]
            for table in ("sample_metrics", "metrics", "run_samples"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            unused = [
                key for key in keys
                if db.execute("SELECT 1 FROM run_samples WHERE generation = ? LIMIT 1", (key,)).fetchone() is None
            ]  # fmt: skip
            videos = []
            for key in unused:
                (path,) = db.execute("SELECT path FROM generations WHERE key = ?", (key,)).fetchone()
                db.execute("DELETE FROM generations WHERE key = ?", (key,))
                if path:
                    videos.append(Path(path))
        return Removed(run_id, samples=len(keys), generations=len(unused), videos=videos)

    def _run(self, row: tuple) -> Run:
        names = [c[0] for c in self._conn.execute("SELECT * FROM runs LIMIT 0").description]
        values = {k: json.loads(v) if k in _JSON_FIELDS else v for k, v in zip(names, row, strict=True)}
        return Run(**{**values, "oracle": None if values["oracle"] is None else bool(values["oracle"])})

    # generations ------------------------------------------------------------------------------
    def generation(self, key: str) -> Generation | None:
        row = self._conn.execute("SELECT * FROM generations WHERE key = ?", (key,)).fetchone()
        return Generation(*row) if row else None

    def record(self, run_id: str, generation: Generation) -> None:
        """Store a generation (replacing an earlier failure of the same key) and link it to the run."""
        row = asdict(generation)
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO generations ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            db.execute(
                "INSERT OR REPLACE INTO run_samples VALUES (?, ?, ?, ?)",
                (run_id, generation.sample_id, generation.key, generation.sha256),
            )

    def link(self, run_id: str, generation: Generation) -> None:
        """Use an existing generation for a sample of a run (resume, or reuse across runs)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_samples VALUES (?, ?, ?, ?)",
                (run_id, generation.sample_id, generation.key, generation.sha256),
            )

    def run_generations(self, run_id: str) -> dict[str, Generation]:
        """``sample_id → generation`` of a run.

        A video regenerated under the same key after this run took it (its sha256 differs from the one
        the run recorded) comes back as ``failed``: the run's scores were computed on other bytes.
        """
        rows = self._conn.execute(
            "SELECT g.*, r.sha256 FROM run_samples r JOIN generations g ON g.key = r.generation "
            "WHERE r.run_id = ? ORDER BY r.sample_id",
            (run_id,),
        ).fetchall()
        out = {}
        for *values, taken in rows:
            generation = Generation(*values)
            if generation.status == "ok" and taken != generation.sha256:
                generation = replace(
                    generation,
                    status="failed",
                    error=f"{generation.path}: regenerated after this run used it (sha256 {str(taken)[:12]}… → "
                    f"{str(generation.sha256)[:12]}…); run this run's command again to score the new video",
                )
            out[generation.sample_id] = generation
        return out

    # metrics ----------------------------------------------------------------------------------
    def save_metrics(self, run_id: str, values: dict[str, dict[str, Any]]) -> None:
        """Replace a run's metrics: ``name → MetricValue.to_json()`` (with ``per_sample`` when paired)."""
        with self.transaction() as db:
            db.execute("DELETE FROM sample_metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            _insert_metrics(db, run_id, values)

    def add_metrics(self, run_id: str, values: dict[str, dict[str, Any]]) -> None:
        """Store more metrics of a run beside its others (replacing those of the same names) and add their names
        to its ``metric_names``, in one transaction (``a2bench score``)."""
        with self.transaction() as db:
            for name in values:
                db.execute("DELETE FROM sample_metrics WHERE run_id = ? AND metric = ?", (run_id, name))
                db.execute("DELETE FROM metrics WHERE run_id = ? AND metric = ?", (run_id, name))
            _insert_metrics(db, run_id, values)
            (names,) = db.execute("SELECT metric_names FROM runs WHERE id = ?", (run_id,)).fetchone()
            grown = [*json.loads(names), *(n for n in values if n not in json.loads(names))]
            db.execute("UPDATE runs SET metric_names = ? WHERE id = ?", (json.dumps(grown), run_id))

    def metrics(self, run_id: str) -> dict[str, dict[str, Any]]:
        """``name → {value, recipe, higher_is_better, n_pred, n_target, title, ...}`` of a run, in name order."""
        rows = self._conn.execute(
            f"SELECT metric, value, detail, {', '.join(_COLUMNS)} FROM metrics WHERE run_id = ? ORDER BY metric",
            (run_id,),
        ).fetchall()
        return {
            name: {**json.loads(detail), "value": value, **dict(zip(_COLUMNS, columns, strict=True))}
            for name, value, detail, *columns in rows
        }

    def load_record(self, run_id: str) -> RunRecord:
        """The whole record of run ``run_id`` (or a unique prefix) as stored: its row, its metrics with their
        per-sample values, and every recorded sample's outcome (the stored values unchecked:
        :meth:`RunRecord.from_export` of its export checks them)."""
        run = self.run(run_id)
        per_sample = self.sample_metrics(run.id)
        metrics = {
            name: MetricRecord(
                value["value"], value.get("recipe"), value.get("higher_is_better"), value["title"], value["n_pred"],
                value["n_target"], per_sample.get(name, {}),
                {k: v for k, v in value.items() if k not in ("value", "recipe", "higher_is_better", *_COLUMNS)},
            )
            for name, value in self.metrics(run.id).items()
        }  # fmt: skip
        samples = {
            sid: SampleRecord(g.status, g.error, g.path, g.sha256, g.num_frames, g.width, g.height, g.fps, g.seconds)
            for sid, g in self.run_generations(run.id).items()
        }
        return RunRecord(run, metrics, samples, source=f"{self.path}#{run.id}")

    def sample_metrics(self, run_id: str) -> dict[str, dict[str, float]]:
        """``metric → {sample_id: value}`` of a run."""
        out: dict[str, dict[str, float]] = {}
        for sample_id, metric, value in self._conn.execute(
            "SELECT sample_id, metric, value FROM sample_metrics WHERE run_id = ? ORDER BY metric, sample_id",
            (run_id,),
        ):
            out.setdefault(metric, {})[sample_id] = value
        return out


def _insert_metrics(db: sqlite3.Connection, run_id: str, values: dict[str, dict[str, Any]]) -> None:
    for name, value in values.items():
        detail = {k: v for k, v in value.items() if k not in ("per_sample", *_COLUMNS)}
        db.execute(
            f"INSERT INTO metrics (run_id, metric, value, detail, {', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, float(value["value"]), json.dumps(detail, sort_keys=True))
            + tuple(value.get(k) for k in _COLUMNS),
        )
        for sample_id, score in (value.get("per_sample") or {}).items():
            db.execute("INSERT INTO sample_metrics VALUES (?, ?, ?, ?)", (run_id, sample_id, name, float(score)))


def read_records(db: str | Path | None, run_ids: Sequence[str] | None = None) -> list[RunRecord]:
    """The records of ``run_ids`` (ids or unique prefixes, each run once), else of every run, from an existing
    results database (reading never creates one); :class:`ResultsError` when there is none, or nothing in it."""
    path = Path(db) if db is not None else default_db()
    if not path.is_file():
        raise ResultsError(f"{path}: no results database; make runs with `a2bench run --model NAME` (or pass --db)")
    store = ResultsDB(path)
    try:
        runs = list({r.id: r for r in (store.run(i) for i in run_ids)}.values()) if run_ids else store.runs()
        if not runs:
            raise ResultsError(
                f"{store.path}: no runs recorded; make one with `a2bench run --model NAME` (or pass --db)"
            )
        return [store.load_record(run.id) for run in runs]
    finally:
        store.close()


def export_run(store: ResultsDB, run_id: str) -> dict[str, Any]:
    """Run ``run_id`` (or a unique prefix) as ``a2bench runs export`` writes it: its record's export layout."""
    return store.load_record(run_id).to_export()
