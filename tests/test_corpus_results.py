"""The malformed-input corpus, part 2: stored results — gate baselines and runs, bundles (tests/corpus.py).

Gate cases start from ``results.db`` holding two scored runs, ``base`` and ``curr`` (written as tests/test_gate.py
writes them), and ``baseline.json``, ``base`` as ``a2bench runs export`` writes it; each breaks one thing. The
gate must exit 2 ("cannot compare") naming the side, the file or database with the run, the metric and the
sample: never a traceback, never 1 (a regression) and never a pass. Bundle cases start from ``bundle.zip``, a
bundle of a real reference-copy run of the tiny synth; ``a2bench validate`` (without ``--rescore``) must exit 1
naming the member, metric or sample at fault.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import Case, check
from test_gate import N, make_run, psnr_values
from test_submit import bundle, read_members, rebuild, repool, scored_run  # noqa: F401 - bundle, scored_run: fixtures

from a2bench.runs.results import ResultsDB, export_run

DB, BASELINE = "results.db", "baseline.json"
AGAIN = r".*export it again"  # what the gate tells the user to do with a damaged run


def two_runs(folder: Path) -> Path:
    db = folder / DB
    make_run(db, "base", {"psnr": psnr_values(), "l1": [0.1] * N}, {"fid": 10.0})
    make_run(db, "curr", {"psnr": psnr_values(), "l1": [0.1] * N}, {"fid": 10.0})
    return db


def export(db: Path, run_id: str) -> dict:
    store = ResultsDB(db)
    try:
        return export_run(store, run_id)
    finally:
        store.close()


def gate_args(folder: Path, baseline: str) -> list[str]:
    return ["gate", "--db", str(folder / DB), "--baseline", baseline, "--current", "curr"]


def write_baseline(folder: Path, doc: dict, spec: str = "") -> list[str]:
    """``doc`` as the one run of ``baseline.json``; the gate's command line with it as the baseline."""
    (folder / BASELINE).write_text(json.dumps({"format": "a2bench-runs", "version": 1, "runs": [doc]}))
    return gate_args(folder, str(folder / BASELINE) + spec)


def baseline_file(data: bytes) -> Callable[[Path], list[str]]:
    """``baseline.json`` holding ``data``."""

    def build(folder: Path) -> list[str]:
        two_runs(folder)
        (folder / BASELINE).write_bytes(data)
        return gate_args(folder, str(folder / BASELINE))

    return build


def baseline(change: Callable[[dict], object], spec: str = "") -> Callable[[Path], list[str]]:
    """``base`` exported to ``baseline.json`` after ``change(the run's document)``; ``spec`` is appended (#RUN)."""

    def build(folder: Path) -> list[str]:
        doc = export(two_runs(folder), "base")
        change(doc)
        return write_baseline(folder, doc, spec)

    return build


def metric(name: str, **fields: object) -> Callable[[dict], None]:
    return lambda doc: doc["metrics"][name].update(fields)


def sample_value(sample: str, name: str, value: object) -> Callable[[dict], None]:
    return lambda doc: doc["samples"][sample]["metrics"].__setitem__(name, value)


def store_value(db: Path, run_id: str, name: str, sample: str, value: float) -> None:
    """Replace a run's stored per-sample value in the database (SQLite keeps infinities, as a broken metric may)."""
    store = ResultsDB(db)
    values, scores = store.metrics(run_id), store.sample_metrics(run_id)
    scores[name][sample] = value
    store.save_metrics(run_id, {n: {**v, "per_sample": scores.get(n)} for n, v in values.items()})
    store.close()


def current_value(sample: str, name: str, value: float) -> Callable[[Path], list[str]]:
    """``curr``'s stored value of ``name`` for ``sample`` replaced; the baseline file intact."""

    def build(folder: Path) -> list[str]:
        db = two_runs(folder)
        store_value(db, "curr", name, sample, value)
        return write_baseline(folder, export(db, "base"))

    return build


def not_a_database(folder: Path) -> list[str]:
    (folder / DB).write_bytes(b"not sqlite" * 100)
    return gate_args(folder, "base")


def other_run(**fields: object) -> Callable[[Path], list[str]]:
    """``baseline.json`` holds a run of another benchmark or protocol (``make_run``'s ``fields``)."""

    def build(folder: Path) -> list[str]:
        db = two_runs(folder)
        make_run(db, "other", {"psnr": psnr_values(), "l1": [0.1] * N}, {"fid": 10.0}, **fields)
        return write_baseline(folder, export(db, "other"))

    return build


SAME = (DB, BASELINE)
SIDE = r"baseline: .*baseline\.json#base: "
GATE = [
    Case("gate: baseline not JSON", baseline_file(b'{"format": "a2bench-runs", '), 2,
         r"baseline: .*baseline\.json: cannot be read as JSON", SAME),
    Case("gate: baseline empty", baseline_file(b""), 2, r"baseline\.json: cannot be read as JSON", SAME),
    Case("gate: baseline not UTF-8", baseline_file(b"\xff\xfe\x00{"), 2, r"baseline\.json: cannot be read", SAME),
    Case("gate: baseline nested 100,000 deep", baseline_file(b"[" * 100_000), 2,
         r"baseline\.json: cannot be read as JSON", SAME),
    Case("gate: baseline JSON but not an export", baseline_file(b'{"runs": []}'), 2,
         r"baseline\.json: not an a2bench runs export", SAME),
    Case("gate: baseline runs holding a string", baseline_file(b'{"format": "a2bench-runs", "runs": ["base"]}'), 2,
         r"baseline\.json: every element of 'runs' must be a run object", SAME),
    Case("gate: baseline without the run asked for", baseline(lambda doc: None, "#nope"), 2,
         r"baseline: .*baseline\.json: holds no run matching 'nope'", SAME),
    Case("gate: baseline value a string", baseline(metric("psnr", value="abc")), 2,
         SIDE + r"metric 'psnr': its value 'abc' is not a finite number" + AGAIN, SAME),
    Case("gate: baseline value null", baseline(metric("psnr", value=None)), 2,
         SIDE + r"metric 'psnr': its value None is not a finite number" + AGAIN, SAME),
    Case("gate: baseline value NaN", baseline(metric("fid", value=float("nan"))), 2,
         SIDE + r"metric 'fid': its value nan is not a finite number" + AGAIN, SAME),
    Case("gate: baseline value infinite", baseline(metric("l1", value=float("inf"))), 2,
         SIDE + r"metric 'l1': its value inf is not a finite number", SAME),
    Case("gate: baseline value a 400-digit integer", baseline(metric("fid", value=10**400)), 2,
         SIDE + r"metric 'fid': its value 1000+ is not a finite number", SAME),
    Case("gate: baseline value true", baseline(metric("psnr", value=True)), 2,
         SIDE + r"metric 'psnr': its value True is not a finite number", SAME),
    Case("gate: baseline per-sample value a string", baseline(sample_value("s004", "psnr", "25.1")), 2,
         SIDE + r"metric 'psnr', sample 's004': '25\.1' is not a finite number" + AGAIN, SAME),
    Case("gate: baseline per-sample value null", baseline(sample_value("s004", "l1", None)), 2,
         SIDE + r"metric 'l1', sample 's004': None is not a finite number", SAME),
    Case("gate: baseline per-sample value NaN", baseline(sample_value("s007", "psnr", float("nan"))), 2,
         SIDE + r"metric 'psnr', sample 's007': nan is not a finite number", SAME),
    Case("gate: baseline per-sample value -inf", baseline(sample_value("s000", "psnr", float("-inf"))), 2,
         SIDE + r"metric 'psnr', sample 's000': -inf is not a finite number", SAME),
    Case("gate: baseline direction a string", baseline(metric("psnr", higher_is_better="yes")), 2,
         SIDE + r"metric 'psnr': 'higher_is_better' must be true or false", SAME),
    Case("gate: baseline without recipe", baseline(lambda doc: doc["metrics"]["l1"].pop("recipe")), 2,
         SIDE + r"metric 'l1': 'recipe' must be a string, not None", SAME),
    Case("gate: baseline metrics a list", baseline(lambda doc: doc.update(metrics=[1, 2])), 2,
         SIDE + r"'metrics' must be a JSON object" + AGAIN, SAME),
    Case("gate: baseline sample a string", baseline(lambda doc: doc["samples"].update(s003="ok")), 2,
         SIDE + r"sample 's003' must be an object with status 'ok' or 'failed'", SAME),
    Case("gate: baseline protocol null", baseline(lambda doc: doc.update(protocol=None)), 2,
         SIDE + r"'protocol' must be a string, not None", SAME),
    Case("gate: baseline of another protocol", other_run(protocol="cross"), 2,
         r"protocols differ: the baseline .*baseline\.json#other ran 'cross', the current run .*#curr ran 'self'",
         SAME),
    Case("gate: baseline of another benchmark version", other_run(version="3.0"), 2,
         r"different benchmarks \(baseline .*baseline\.json#other vs current .*#curr: version '3\.0' vs '2\.0'", SAME),
    Case("gate: current run with an infinite per-sample value", current_value("s002", "psnr", float("inf")), 2,
         r"current run: .*results\.db#curr: metric 'psnr', sample 's002': inf is not a finite number", SAME),
    Case("gate: results database not a database", not_a_database, 2,
         r"baseline: .*results\.db: not a usable a2bench results database", (DB,)),
]  # fmt: skip


@pytest.mark.parametrize("case", GATE, ids=str)
def test_malformed_gate_input(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# --- bundles --------------------------------------------------------------------------------------

ZIP = "bundle.zip"


def validate_args(folder: Path) -> list[str]:
    return ["validate", str(folder / ZIP), "--bench", str(folder / "bench")]


def bundle_json(edit: Callable[[dict], object]) -> Callable[[Path], list[str]]:
    """The bundle with ``edit(bundle.json's document)`` applied, its videos untouched."""

    def build(folder: Path) -> list[str]:
        rebuild(folder / "source.zip", folder / ZIP, edit=lambda doc, _members: edit(doc))
        return validate_args(folder)

    return build


def archive_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    """``bundle.zip`` holding ``change(the bundle's bytes)``."""

    def build(folder: Path) -> list[str]:
        (folder / ZIP).write_bytes(change((folder / "source.zip").read_bytes()))
        return validate_args(folder)

    return build


def per_sample(name: str, sample: str, value: object) -> Callable[[dict], None]:
    return lambda doc: doc["per_sample"][name].__setitem__(sample, value)


def aggregate(name: str, value: object) -> Callable[[dict], None]:
    return lambda doc: doc["metrics"][name].__setitem__("value", value)


def raised(name: str, amount: float) -> Callable[[dict], None]:
    return lambda doc: doc["metrics"][name].__setitem__("value", doc["metrics"][name]["value"] + amount)


def shifted(name: str, sample: str, amount: float) -> Callable[[dict], None]:
    return lambda doc: doc["per_sample"][name].__setitem__(sample, doc["per_sample"][name][sample] + amount)


def flip_in_member(member: str) -> Callable[[bytes], bytes]:
    """One byte in the middle of ``member``'s stored data inverted (the central directory is left as it was)."""

    def change(data: bytes) -> bytes:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(member)
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]

    return change


def without_values_for(name: str, sample: str) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["per_sample"][name].pop(sample)
        repool(doc)  # the aggregate agrees with the values left: only the missing one is wrong

    return edit


INVALID = r".*INVALID"
BUNDLES = [
    Case("bundle: aggregate disagrees with its per-sample values", bundle_json(raised("psnr", 1.0)), 1,
         r"metrics\.psnr\.value [0-9.]+ disagrees with its per-sample values, whose mean over all frames" + INVALID,
         (ZIP,)),
    Case("bundle: one per-sample value changed, aggregate not", bundle_json(shifted("ssim", "s001", -0.1)), 1,
         r"metrics\.ssim\.value [0-9.]+ disagrees with its per-sample values" + INVALID, (ZIP,)),
    Case("bundle: aggregate NaN", bundle_json(aggregate("psnr", float("nan"))), 1,
         r"bundle\.json: metrics\.psnr\.value: nan is not a finite number" + INVALID, (ZIP,)),
    Case("bundle: aggregate Infinity", bundle_json(aggregate("l1", float("inf"))), 1,
         r"metrics\.l1\.value: inf is not a finite number", (ZIP,)),
    Case("bundle: aggregate null", bundle_json(aggregate("mae", None)), 1,
         r"metrics\.mae\.value: None is not a finite number", (ZIP,)),
    Case("bundle: aggregate a string", bundle_json(aggregate("psnr", "30.5")), 1,
         r"metrics\.psnr\.value: '30\.5' is not a finite number", (ZIP,)),
    Case("bundle: per-sample NaN", bundle_json(per_sample("psnr", "s002", float("nan"))), 1,
         r"bundle\.json: per_sample\.psnr\.s002: nan is not a finite number" + INVALID, (ZIP,)),
    Case("bundle: per-sample -Infinity", bundle_json(per_sample("l1", "s000", float("-inf"))), 1,
         r"per_sample\.l1\.s000: -inf is not a finite number", (ZIP,)),
    Case("bundle: per-sample a string", bundle_json(per_sample("mae", "s001", "0.05")), 1,
         r"per_sample\.mae\.s001: '0\.05' is not a finite number", (ZIP,)),
    Case("bundle: per-sample a 400-digit integer", bundle_json(per_sample("psnr", "s003", 10**400)), 1,
         r"per_sample\.psnr\.s003: 1000+ is not a finite number", (ZIP,)),
    Case("bundle: per-sample an object", bundle_json(per_sample("ssim", "s003", {"value": 0.7})), 1,
         r"per_sample\.ssim\.s003: \{'value': 0\.7\} is not a finite number", (ZIP,)),
    Case("bundle: a generated sample without a value", bundle_json(without_values_for("l1", "s003")), 1,
         r"per_sample\.l1: no value for generated sample\(s\) s003" + INVALID, (ZIP,)),
    Case("bundle: a paired metric without per-sample values", bundle_json(lambda doc: doc["per_sample"].pop("ssim")),
         1, r"per_sample\.ssim: missing; ssim is a paired metric", (ZIP,)),
    Case("bundle: metric without its recipe", bundle_json(lambda doc: doc["metrics"]["psnr"].pop("recipe")), 1,
         r"metrics\.psnr\.recipe must be a string, not None", (ZIP,)),
    Case("bundle: sample without status", bundle_json(lambda doc: doc["samples"]["s001"].pop("status")), 1,
         r"samples\.s001 must be an object with status 'ok' or 'failed'", (ZIP,)),
    Case("bundle: file size a string", bundle_json(lambda doc: doc["files"]["videos/s000.mp4"].update(size="9")), 1,
         r"files\.videos/s000\.mp4 must be an object with a hex 'sha256' and an integer 'size'", (ZIP,)),
    Case("bundle: 'metrics' a list", bundle_json(lambda doc: doc.update(metrics=[])), 1,
         r"bundle\.json: 'metrics' must be a JSON object", (ZIP,)),
    Case("bundle: empty file", archive_bytes(lambda data: b""), 1, r"bundle\.zip: not a zip archive", (ZIP,)),
    Case("bundle: a video named .zip", archive_bytes(lambda data: read_members_bytes(data)["videos/s000.mp4"]), 1,
         r"bundle\.zip: not a zip archive", (ZIP,)),
    Case("bundle: only its first 100 bytes", archive_bytes(lambda data: data[:100]), 1,
         r"bundle\.zip: corrupt or truncated zip archive", (ZIP,)),
    Case("bundle: its last byte cut off", archive_bytes(lambda data: data[:-1]), 1,
         r"bundle\.zip: corrupt or truncated zip archive", (ZIP,)),
    Case("bundle: a byte of a video inverted", archive_bytes(flip_in_member("videos/s001.mp4")), 1,
         r"videos/s001\.mp4: corrupt member \(Bad CRC-32", (ZIP,)),
    Case("bundle: bundle.json not UTF-8", archive_bytes(lambda data: zip_with(data, b"\xff\xfe{\x00}")), 1,
         r"bundle\.json: not valid JSON", (ZIP,)),
]  # fmt: skip


def read_members_bytes(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_with(data: bytes, bundle_json_bytes: bytes) -> bytes:
    """The bundle's members with bundle.json replaced by ``bundle_json_bytes``."""
    members = {**read_members_bytes(data), "bundle.json": bundle_json_bytes}
    out = io.BytesIO(b"")
    with zipfile.ZipFile(out, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, member)
    return out.getvalue()


@pytest.mark.parametrize("case", BUNDLES, ids=str)
def test_malformed_bundle(case: Case, bundle: Path, tiny_synth: Path, tmp_path: Path) -> None:  # noqa: F811
    shutil.copy(bundle, tmp_path / "source.zip")
    (tmp_path / "bench").symlink_to(tiny_synth)
    check(case, tmp_path)


def test_the_bundle_cases_start_from_a_valid_bundle(bundle: Path, tiny_synth: Path, tmp_path: Path) -> None:  # noqa: F811
    """Each case breaks one thing: unbroken, the same steps give a valid bundle."""
    shutil.copy(bundle, tmp_path / "source.zip")
    (tmp_path / "bench").symlink_to(tiny_synth)
    check(Case("bundle: unchanged", bundle_json(lambda doc: None), 0, r"valid: run", (ZIP,)), tmp_path)
    assert read_members(tmp_path / ZIP).keys() == read_members(bundle).keys()


# --- submit -----------------------------------------------------------------------------------------


def stored_infinity(folder: Path) -> list[str]:
    db = two_runs(folder)
    store_value(db, "curr", "psnr", "s005", float("inf"))
    return ["submit", "curr", "--db", str(db), "--out", str(folder / ZIP)]


def no_bundle(folder: Path, _output: str) -> None:
    assert not (folder / ZIP).exists() and not list(folder.glob(f".{ZIP}*")), "a bundle or temporary file was left"


SUBMIT = [
    Case("submit: a stored value infinite", stored_infinity, 1,
         r"run curr: psnr of sample s005 = inf: not finite numbers.*score the run again", (DB,),
         extra=no_bundle),
]  # fmt: skip


@pytest.mark.parametrize("case", SUBMIT, ids=str)
def test_malformed_submit_input(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
