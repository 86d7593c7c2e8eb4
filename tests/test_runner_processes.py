"""Runs killed with SIGKILL resume to exactly the uninterrupted result; torchrun with 2 ranks equals 1 process
and exits 0 every time; the folders of a killed ``bench make`` or ``report`` are cleaned up by the next one."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_gate import make_run, psnr_values

from a2bench.cli import main
from a2bench.core.videoio import read_video
from a2bench.runs.results import ResultsDB, export_run
from a2bench.runs.runner import RunOptions, run

METRICS = ["psnr", "ssim", "l1"]

# Runs `a2bench run` in a child process that SIGKILLs itself at the chosen point of the N-th sample.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import a2bench.runs.results as results
    import a2bench.baselines.reference_copy as copy
    from a2bench.cli import main

    point, nth = sys.argv[1], int(sys.argv[2])
    calls = [0]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(cls, name, before):
        original = getattr(cls, name)

        def patched(*args, **kwargs):
            calls[0] += 1
            if before and calls[0] == nth:
                die()  # inside the model / after the video was renamed, before its row is committed
            out = original(*args, **kwargs)
            if not before and calls[0] == nth:
                die()  # right after the row was committed
            return out

        setattr(cls, name, patched)

    target = {
        "in-model": (copy.ReferenceCopy, "generate", True),
        "before-commit": (results.ResultsDB, "record", True),
        "after-commit": (results.ResultsDB, "record", False),
        "while-scoring": (results.ResultsDB, "save_metrics", True),
    }[point]
    wrap(*target)
    sys.argv = ["a2bench", "run", *sys.argv[3:]]
    main()
    """
)


def comparable(db: Path) -> dict:
    """A run's rows without what legitimately differs between processes (paths, times, byte streams)."""
    store = ResultsDB(db)
    (run_row,) = store.runs()
    doc = export_run(store, run_row.id)
    samples = {sid: (s["status"], s["metrics"]) for sid, s in doc["samples"].items()}
    frames = {sid: read_video(s["video"]).frames for sid, s in doc["samples"].items()}
    with sqlite3.connect(db) as conn:
        counts = {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "generations", "run_samples")
        }
    return {
        "id": doc["id"],
        "status": doc["status"],
        "metrics": doc["metrics"],
        "samples": samples,
        "counts": counts,
    }, frames


@pytest.fixture(scope="module")
def uninterrupted(tiny_synth, tmp_path_factory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("clean")
    run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=METRICS, db=folder / "r.db"))
    return comparable(folder / "r.db")


@pytest.mark.parametrize(
    ("point", "nth"), [("in-model", 3), ("before-commit", 2), ("after-commit", 4), ("while-scoring", 1)]
)
def test_sigkill_at_any_point_then_resume_gives_the_uninterrupted_rows(tiny_synth, tmp_path, uninterrupted, point, nth):
    db = tmp_path / "r.db"
    args = ["--model", "reference-copy", "--bench", str(tiny_synth), "--metrics", ",".join(METRICS), "--db", str(db)]
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    killed = subprocess.run([sys.executable, str(script), point, str(nth), *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert ResultsDB(db).runs()[0].status == "running"  # what a crash leaves: never "complete"
    resumed = run(RunOptions(model="reference-copy", bench=str(tiny_synth), metrics=METRICS, db=db))
    expected_generated = {"in-model": 2, "before-commit": 3, "after-commit": 0, "while-scoring": 0}[point]
    assert resumed.generated == expected_generated and resumed.reused == 4 - expected_generated
    rows, frames = comparable(db)
    want_rows, want_frames = uninterrupted
    assert rows == want_rows
    for sample_id, video in frames.items():
        np.testing.assert_array_equal(video, want_frames[sample_id])


def test_two_torchrun_ranks_give_the_single_process_result(tiny_synth, tmp_path, uninterrupted) -> None:
    db = tmp_path / "r.db"
    a2bench = Path(sys.executable).parent / "a2bench"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(a2bench)]
    command += ["run", "--model", "reference-copy", "--bench", str(tiny_synth), "--metrics", ",".join(METRICS)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, "--db", str(db)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("generated 4, reused 0, failed 0") == 1  # rank 0 reports for both ranks
    rows, frames = comparable(db)
    assert rows == uninterrupted[0]
    for sample_id, video in frames.items():
        np.testing.assert_array_equal(video, uninterrupted[1][sample_id])
    assert ResultsDB(db).runs()[0].provenance["processes"] == 2


# `a2bench` as its entry point runs it, reporting at exit whether this rank's process group is still alive.
EXIT_CHECK = textwrap.dedent(
    """
    import atexit, os, sys
    import torch.distributed as dist
    from a2bench.cli import main

    atexit.register(lambda: print(f"rank {os.environ['RANK']} group alive at exit: {dist.is_initialized()}"))
    sys.argv = ["a2bench", *sys.argv[1:]]
    sys.exit(main())
    """
)


LAUNCHES = 7  # each costs about 7 s here (interpreter and torch start-up per rank): 7 fit in about a minute


def test_torchrun_launches_exit_0_and_every_rank_leaves_its_process_group(tiny_synth, tmp_path) -> None:
    """A rank exiting with its gloo group alive could die with SIGABRT and fail the launch (1 in 2 launches once).

    :data:`LAUNCHES` launches, as many as fit in the minute this test may take on 2 CPU cores. The abort depends on
    timing, so the exit codes alone may pass by luck; the line each rank prints at exit shows, every time, that the
    group was destroyed before shutdown.
    """
    script = tmp_path / "exit_check.py"
    script.write_text(EXIT_CHECK)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    codes, alive, failures = [], [], []
    for launch in range(LAUNCHES):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
        command += ["run", "--model", "reference-copy", "--bench", str(tiny_synth), "--metrics", "psnr"]
        command += ["--db", str(tmp_path / f"{launch}.db"), "--out", str(tmp_path / f"run{launch}")]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        codes.append(done.returncode)
        alive += [line for line in done.stdout.splitlines() if "group alive at exit" in line]
        if done.returncode or "terminate called" in done.stderr:
            failures.append(f"launch {launch}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    assert codes == [0] * LAUNCHES and not failures, "\n\n".join(failures)
    assert sorted(alive) == sorted([f"rank {r} group alive at exit: False" for r in (0, 1)] * LAUNCHES)


def test_run_leaves_the_process_group_after_an_error_too(monkeypatch: pytest.MonkeyPatch) -> None:
    left = []

    def fail(*_args) -> None:
        raise ValueError("boom")

    monkeypatch.setattr("a2bench.runs.runner.run", fail)
    monkeypatch.setattr("a2bench.runs.runner.leave_process_group", lambda: left.append("left"))
    result = CliRunner().invoke(main, ["run", "--model", "reference-copy"])
    assert result.exit_code == 1 and "boom" in result.output and left == ["left"]


# Runs `a2bench ARGS` in a child process that SIGKILLs itself on the N-th call of MODULE.FUNCTION.
KILL_AT = textwrap.dedent(
    """
    import importlib, os, signal, sys
    from a2bench.cli import main

    module, name, nth = importlib.import_module(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    original, calls = getattr(module, name), [0]

    def patched(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(module, name, patched)
    sys.argv = ["a2bench", *sys.argv[4:]]
    main()
    """
)


def killed_at(tmp_path: Path, function: str, nth: int, args: list[str]) -> None:
    script = tmp_path / "kill_at.py"
    script.write_text(KILL_AT)
    module, name = function.rsplit(".", 1)
    done = subprocess.run([sys.executable, str(script), module, name, str(nth), *args], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


def leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name.split("-")[0] for p in folder.iterdir() if p.name.startswith(f".{name}."))


def test_bench_make_removes_the_folder_of_a_killed_make_and_spares_a_running_one(tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = work / "bench"
    args = ["bench", "make", "synth", "--out", str(out), "--samples", "2", "--frames", "4", "--size", "64x64"]
    args += ["--workers", "1"]
    killed_at(tmp_path, "a2bench.core.synth.generate._write_sample", 2, args)  # one sample written
    (leftover,) = work.glob(".bench.tmp-*")
    assert not out.exists() and any(leftover.iterdir())
    running = work / ".bench.tmp-running"  # another make of the same folder, still at work: it holds the lock
    running.mkdir()
    lock = os.open(running, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        os.close(lock)
    assert result.exit_code == 0, result.output
    assert f"removed {leftover}, left by an earlier run that was killed" in result.output
    assert f"{running}: in use by another running process writing {out}; left alone" in result.output
    assert sorted(p.name for p in work.iterdir()) == [".bench.tmp-running", "bench"]
    assert (out / "manifest.json").is_file()


def test_report_puts_back_the_report_a_killed_build_moved_aside_and_removes_its_folders(tmp_path) -> None:
    db, out = tmp_path / "r.db", tmp_path / "site"
    make_run(db, "base", {"psnr": psnr_values()})
    args = ["report", "--db", str(db), "--out", str(out), "--format", "md", "--no-published"]
    assert CliRunner().invoke(main, args).exit_code == 0
    before = (out / "leaderboard.md").read_bytes()
    # killed between moving the previous report aside and renaming the new one into place (the 2nd os.replace)
    killed_at(tmp_path, "os.replace", 2, args)
    assert not out.exists() and leftovers(tmp_path, "site") == [".site.old", ".site.tmp"]
    failed = CliRunner().invoke(main, [*args, "--runs", "nope"])  # a build that fails after the clean-up
    assert failed.exit_code == 1 and "no run 'nope'" in failed.output
    assert f"{out}: put back the previous report" in failed.output
    assert (out / "leaderboard.md").read_bytes() == before  # nothing stored is lost
    assert leftovers(tmp_path, "site") == []
    killed_at(tmp_path, "os.replace", 2, args)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert f"put back the previous report, which a killed build had moved to {tmp_path}/.site.old-" in again.output
    assert again.output.count("left by an earlier run that was killed") == 2
    assert leftovers(tmp_path, "site") == [] and (out / "leaderboard.md").read_bytes() == before
