"""The run record: the one typed shape of a run, for everything that reads runs.

A :class:`RunRecord` holds a run's own fields (:class:`Run`, the results database's ``runs`` row), every sample's
outcome (:class:`SampleRecord`: status, error, video, frames, size) and every metric (:class:`MetricRecord`: the
aggregate with its recipe, direction, title and feature-vector counts, and its per-sample values). The results
database builds records, the export, the CI gate, submissions and reports read them. Facts only the registries know,
whether the model uses the ground truth (``oracle``) and each metric's paper-style ``title``, are stored in the record
when the run happens, so a reader never asks the registries (which may no longer know an old run's adapter).

A record is written and read as JSON in two layouts, both here, with one set of field checks:

- **export** (``a2bench runs export``, the gate's baseline files): the run's fields at the top, ``metrics``, and
  ``samples`` holding each sample's outcome with its per-sample values under ``metrics``. The ``samples`` key holds
  those outcomes, not the run's sample count, so a record read from an export counts the samples it lists;
- **bundle** (the record's part of a submission's ``bundle.json``): the run's fields under ``run`` (without the local
  ``folder``), ``metrics``, ``per_sample`` (metric → sample id → value) and ``samples``.

Reading checks every field it takes and reports every problem (:class:`RecordError`), each naming its field: in an
export as the gate has always named them (``metric 'psnr', sample 's004': '25.1' is not a finite number``), in a
bundle by its dotted path in ``bundle.json`` (``per_sample.psnr.s004: '25.1' is not a finite number``). A value that is
not a finite JSON number (a string, null, NaN, infinity, a 400-digit integer) is never read as a number. The fields
records gained later (``oracle``, a metric's ``title``) may be absent: they read as None, "unknown".
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

from a2bench.core.data.manifest import SAMPLE_ID
from a2bench.core.fileio import finite_number

SAMPLE_STATUSES = ("ok", "failed")


class RecordError(ValueError):
    """A document that is not a run record; ``problems`` names every field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Run:
    """A run's own fields (the ``runs`` row): what ran on what, its provenance, status and times."""

    id: str
    model: str
    identity: dict[str, Any]  # adapter name, version, arguments, weight hashes
    benchmark: str
    benchmark_version: str
    manifest_sha256: str
    protocol: str
    seed: int
    samples: int  # the samples the run asked for (all of the benchmark's, or the first --limit)
    metric_names: list[str]
    folder: str  # the local run folder with the videos ("" where not published: bundles)
    provenance: dict[str, Any]
    status: str  # running | complete | incomplete | interrupted
    started: str
    finished: str | None = None
    oracle: bool | None = None  # its adapter uses the ground truth (never ranked); None: unknown

    @property
    def benchmark_samples(self) -> int | None:
        """How many samples the benchmark has (recorded at run time; None for runs recorded before that)."""
        total = self.provenance.get("benchmark_samples")
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    @property
    def partial(self) -> str:
        """``"partial: N of M samples"`` for a run of part of its benchmark (``--limit``), else ``""``."""
        total = self.benchmark_samples
        return f"partial: {self.samples} of {total} samples" if total is not None and self.samples < total else ""

    @property
    def state(self) -> str:
        """The status, with the partial note when there is one (``complete; partial: 4 of 16 samples``)."""
        return f"{self.status}; {self.partial}" if self.partial else self.status

    @property
    def bench_args(self) -> list[str]:
        """Where the run's benchmark was: its recorded ``bench`` (a resolved folder, or a name), then the ``--bench``
        values on its recorded command line (``--bench X`` and ``--bench=X``; runs made before ``bench`` was kept)."""
        command = self.provenance.get("command") or []
        if isinstance(command, str):
            command = shlex.split(command)
        found = [value for flag, value in itertools.pairwise(command) if flag == "--bench"]
        recorded = [self.provenance["bench"]] if self.provenance.get("bench") else []
        return recorded + found + [item.split("=", 1)[1] for item in command if item.startswith("--bench=")]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricRecord:
    """One metric of a run: its aggregate value and what it means, and its per-sample values (paired metrics)."""

    value: float
    recipe: str
    higher_is_better: bool
    title: str | None = None  # the paper-style header (``PSNR*``) when the run was scored; None: unknown
    n_pred: int | None = None  # feature vectors behind a distribution metric, per side (None for paired metrics)
    n_target: int | None = None
    per_sample: dict[str, float] = field(default_factory=dict)  # sample id → value; empty for distribution metrics
    detail: dict[str, Any] = field(default_factory=dict)  # the rest the metric reported (weights provenance), verbatim

    def to_json(self) -> dict[str, Any]:
        """The aggregate as both layouts write it; each layout puts the per-sample values elsewhere."""
        fields = {**self.detail, "value": self.value, "recipe": self.recipe,
                  "higher_is_better": self.higher_is_better, "title": self.title}  # fmt: skip
        return {**dict(sorted(fields.items())), "n_pred": self.n_pred, "n_target": self.n_target}


@dataclass(frozen=True)
class SampleRecord:
    """What a run got for one sample: a video (status ``ok``) or the error that prevented it (``failed``)."""

    status: str
    error: str | None = None
    video: str | None = None  # the video file (in a bundle: its member, ``videos/<sample_id>.mp4``)
    sha256: str | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: str | None = None  # a rate such as "15" or "30000/1001"
    seconds: float | None = None  # generation time


@dataclass(frozen=True)
class RunRecord:
    """A run with everything recorded about it (module docstring)."""

    run: Run
    metrics: dict[str, MetricRecord] = field(default_factory=dict)  # by name, in name order
    samples: dict[str, SampleRecord] = field(default_factory=dict)  # the samples it recorded, by id
    source: str = ""  # where it was read (``results.db#RUN``, ``baseline.json#RUN``), for messages

    @property
    def failed(self) -> dict[str, str]:
        """Sample id → error of every recorded sample that failed."""
        return {sid: sample.error or "failed" for sid, sample in self.samples.items() if sample.status != "ok"}

    @property
    def never_generated(self) -> int:
        """Samples the run asked for and recorded nothing for (its process did not finish)."""
        return max(0, self.run.samples - len(self.samples))

    def to_export(self) -> dict[str, Any]:
        """The export layout (``a2bench runs export``)."""
        samples = {
            sid: {**asdict(sample), "metrics": {n: m.per_sample[sid] for n, m in self.metrics.items()
                                                if sid in m.per_sample}}
            for sid, sample in self.samples.items()
        }  # fmt: skip
        return {**self.run.to_json(), "metrics": self._metrics_json(), "samples": samples}

    @classmethod
    def from_export(cls, doc: object, source: str = "") -> RunRecord:
        """The record an export holds; :class:`RecordError` lists every field that is not what the exporter
        writes. ``source`` is kept as the record's."""
        if not isinstance(doc, dict):
            raise RecordError([f"a run must be a JSON object, not {type(doc).__name__}"])
        read = _Reader(_export_name)
        raw_metrics, raw_samples = read.section(doc, "metrics"), read.section(doc, "samples")
        run = read.run(doc, (), count=len(raw_samples or {}))
        metrics = read.metrics(raw_metrics or {})
        samples = read.samples(raw_samples or {}, required=())
        per_sample: dict[str, dict[str, float]] = {}
        for sid, sample in (raw_samples or {}).items():
            if sid in samples:
                values = read.values(("samples", sid, "metrics"), sample.get("metrics") or {}, "metric names")
                for name, value in values.items():
                    if raw_metrics is not None and name not in raw_metrics:
                        read.problem(("samples", sid, "metrics", name), "no such metric in 'metrics'")
                    per_sample.setdefault(name, {})[sid] = value
        return read.record(run, metrics, per_sample, samples, source)

    def to_bundle(self, videos: Mapping[str, str]) -> dict[str, Any]:
        """The record's part of ``bundle.json``; ``videos`` maps sample ids to their members."""
        keys = ("status", "error", "num_frames", "width", "height", "fps", "seconds")
        return {
            "run": {k: v for k, v in self.run.to_json().items() if k != "folder"},  # a local path: nothing to publish
            "metrics": self._metrics_json(),
            "per_sample": {name: dict(m.per_sample) for name, m in self.metrics.items() if m.per_sample},
            "samples": {sid: {**{k: getattr(sample, k) for k in keys}, "video": videos.get(sid)}
                        for sid, sample in self.samples.items()},
        }  # fmt: skip

    @classmethod
    def from_bundle(cls, doc: dict[str, Any]) -> RunRecord:
        """The record in ``bundle.json``'s document ``doc`` (its other keys are the bundle's own); a generated
        sample must say its frame count, size and frame rate. :class:`RecordError` lists every field at fault."""
        read = _Reader(_bundle_name)
        fields = read.section(doc, "run")
        raw_metrics, raw_values, raw_samples = (read.section(doc, key) for key in ("metrics", "per_sample", "samples"))
        run = read.run(fields, ("run",), count=None) if fields is not None else None
        metrics = read.metrics(raw_metrics or {})
        samples = read.samples(raw_samples or {}, required=("num_frames", "width", "height", "fps"))
        per_sample = {}
        for name, values in (raw_values or {}).items():
            if raw_metrics is not None and name not in raw_metrics:
                read.problem(("per_sample", name), "no such metric in 'metrics'")
            per_sample[name] = read.values(("per_sample", name), values, "sample ids")
            if raw_samples is not None and (unknown := [sid for sid in per_sample[name] if sid not in raw_samples]):
                read.problem(("per_sample", name), f"values for samples not in 'samples': {', '.join(unknown[:5])}")
        return read.record(run, metrics, per_sample, samples, "bundle.json")

    def _metrics_json(self) -> dict[str, dict[str, Any]]:
        return {name: metric.to_json() for name, metric in self.metrics.items()}


# ------------------------------------------------------------------------------------------------
# Reading: one set of field checks, two ways of naming a field.

Path = tuple[str, ...]


def _export_name(path: Path, text: str) -> str:
    """A field of an export as the gate names it: ``'protocol'``, ``metric 'psnr': its value``,
    ``metric 'psnr', sample 's004'``, ``sample 's003': 'error'``."""
    head, rest = path[0], list(path[1:])
    if head == "metrics" and rest:
        where, rest = f"metric {rest[0]!r}", rest[1:]
    elif head == "samples" and rest:
        sid, rest = rest[0], rest[1:]
        if len(rest) == 2 and rest[0] == "metrics":
            where, rest = f"metric {rest[1]!r}, sample {sid!r}", []
        else:
            where = f"sample {sid!r}"
    else:
        where, rest = repr(head), rest
    if rest == ["value"]:
        return f"{where}: its value {text}"
    if rest:
        where = f"{where}: {'.'.join(rest)!r}"
    return f"{where} {text}" if text.startswith("must") else f"{where}: {text}"


def _bundle_name(path: Path, text: str) -> str:
    """A field of ``bundle.json`` by its path: ``'metrics'``, ``metrics.psnr.value``, ``samples.s001.num_frames``."""
    where = repr(path[0]) if len(path) == 1 else ".".join(path)
    return f"{where} {text}" if text.startswith("must") else f"{where}: {text}"


def is_count(value: object) -> bool:
    """Whether ``value`` is an integer >= 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_rate(value: object) -> bool:
    try:
        return isinstance(value, (str, int)) and not isinstance(value, bool) and Fraction(str(value)) > 0
    except (ValueError, ZeroDivisionError):
        return False


# what a field must be: (description, test)
_TEXT = ("a string", lambda v: isinstance(v, str))
_OBJECT = ("a JSON object", lambda v: isinstance(v, dict))
_INTEGER = ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
_COUNT = ("an integer >= 0", is_count)
_POSITIVE = ("a positive integer", lambda v: is_count(v) and v > 0)
_FLAG = ("true or false", lambda v: isinstance(v, bool))
_NUMBER = ("a finite number", lambda v: finite_number(v) is not None)
_RATE = ("a positive rate like '15' or '30000/1001'", _is_rate)
_NAMES = ("a list of metric names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v))
Spec = tuple[str, Callable[[Any], bool]]

_REQUIRED = object()
# Run fields: (what each must be, its value when absent: _REQUIRED, or the default of a field records gained later)
_RUN_FIELDS: dict[str, tuple[Spec, object]] = {
    "id": (_TEXT, _REQUIRED),
    "model": (_TEXT, _REQUIRED),
    "identity": (_OBJECT, _REQUIRED),
    "benchmark": (_TEXT, _REQUIRED),
    "benchmark_version": (_TEXT, _REQUIRED),
    "manifest_sha256": (_TEXT, _REQUIRED),
    "protocol": (_TEXT, _REQUIRED),
    "seed": (_INTEGER, _REQUIRED),
    "samples": (_COUNT, _REQUIRED),
    "metric_names": (_NAMES, _REQUIRED),
    "folder": (_TEXT, ""),
    "provenance": (_OBJECT, _REQUIRED),
    "status": (_TEXT, _REQUIRED),
    "started": (_TEXT, ""),
    "finished": (_TEXT, None),
    "oracle": (_FLAG, None),
}
_METRIC_FIELDS: dict[str, tuple[Spec, object]] = {
    "value": (_NUMBER, _REQUIRED),
    "recipe": (_TEXT, _REQUIRED),
    "higher_is_better": (_FLAG, _REQUIRED),
    "title": (_TEXT, None),
    "n_pred": (_COUNT, None),
    "n_target": (_COUNT, None),
}
_SAMPLE_FIELDS: dict[str, Spec] = {
    "error": _TEXT,
    "video": _TEXT,
    "sha256": _TEXT,
    "num_frames": _POSITIVE,
    "width": _POSITIVE,
    "height": _POSITIVE,
    "fps": _RATE,
    "seconds": _NUMBER,
}


class _Reader:
    """Checks a document's fields one by one, collecting every problem, each worded by ``name(path, text)``."""

    def __init__(self, name: Callable[[Path, str], str]) -> None:
        self.problems: list[str] = []
        self._name = name

    def problem(self, path: Path, text: str) -> None:
        self.problems.append(self._name(path, text))

    def section(self, doc: dict[str, Any], key: str) -> dict[str, Any] | None:
        value = doc.get(key)
        if isinstance(value, dict):
            return value
        self.problem((key,), "must be a JSON object")
        return None

    def check(self, path: Path, value: object, spec: Spec, optional: bool = False) -> bool:
        """Whether ``value`` is what ``spec`` says (None too when ``optional``); a problem when not."""
        what, test = spec
        if (optional and value is None) or test(value):
            return True
        if spec is _NUMBER:
            self.problem(path, f"{value!r} is not a finite number")
        else:
            self.problem(path, f"must be {what}{' or null' if optional else ''}, not {value!r}")
        return False

    def fields(self, doc: dict[str, Any], path: Path, specs: dict[str, tuple[Spec, object]]) -> dict[str, Any] | None:
        """``specs``' fields of ``doc`` (absent ones at their defaults), or None when one is not what it must be."""
        values, good = {}, True
        for key, (spec, default) in specs.items():
            if key not in doc and default is not _REQUIRED:
                values[key] = default
            else:
                good &= self.check((*path, key), doc.get(key), spec, optional=default is None)
                values[key] = doc.get(key)
        return values if good else None

    def run(self, doc: dict[str, Any], path: Path, count: int | None) -> Run | None:
        """The run's fields; ``count`` stands in for ``samples`` where that key holds something else (exports)."""
        specs = {k: v for k, v in _RUN_FIELDS.items() if not (count is not None and k == "samples")}
        values = self.fields(doc, path, specs)
        if values is None:
            return None
        return Run(**values, **({"samples": count} if count is not None else {}))

    def metrics(self, doc: dict[str, Any]) -> dict[str, MetricRecord]:
        out = {}
        for name, entry in doc.items():
            if not isinstance(entry, dict):
                self.problem(("metrics", name), "must be an object with a number 'value', 'higher_is_better', 'recipe'")
                continue
            values = self.fields(entry, ("metrics", name), _METRIC_FIELDS)
            if values is not None:
                detail = {k: v for k, v in entry.items() if k not in _METRIC_FIELDS}
                out[name] = MetricRecord(**{**values, "value": float(values["value"])}, detail=detail)
        return out

    def samples(self, doc: dict[str, Any], required: tuple[str, ...]) -> dict[str, SampleRecord]:
        """Every sample's outcome; a generated (``ok``) sample must have the ``required`` fields."""
        out = {}
        for sid, entry in doc.items():
            path = ("samples", sid)
            if not SAMPLE_ID.match(sid):
                self.problem(path, "invalid sample id")
                continue
            if not isinstance(entry, dict) or entry.get("status") not in SAMPLE_STATUSES:
                self.problem(path, "must be an object with status 'ok' or 'failed'")
                continue
            good = True
            for key, spec in _SAMPLE_FIELDS.items():
                optional = not (key in required and entry["status"] == "ok")
                good &= self.check((*path, key), entry.get(key), spec, optional)
            if good:
                fps = entry.get("fps")
                fields = {k: entry.get(k) for k in _SAMPLE_FIELDS}
                out[sid] = SampleRecord(entry["status"], **{**fields, "fps": None if fps is None else str(fps)})
        return out

    def values(self, path: Path, values: object, keys: str) -> dict[str, float]:
        """A map of ``keys`` to finite numbers; what is not a number is a problem and left out."""
        if not isinstance(values, dict):
            self.problem(path, f"must map {keys} to numbers")
            return {}
        return {key: float(value) for key, value in values.items() if self.check((*path, key), value, _NUMBER)}

    def record(
        self,
        run: Run | None,
        metrics: dict[str, MetricRecord],
        per_sample: dict[str, dict[str, float]],
        samples: dict[str, SampleRecord],
        source: str,
    ) -> RunRecord:
        if self.problems or run is None:
            raise RecordError(self.problems)
        metrics = {name: replace(m, per_sample=per_sample.get(name, {})) for name, m in metrics.items()}
        return RunRecord(run, metrics, samples, source)
