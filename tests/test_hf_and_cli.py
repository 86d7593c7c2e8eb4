"""The `a2bench bench` commands (the Hugging Face export itself: test_hf_export.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from a2bench.cli import main
from a2bench.core.data import load_benchmark


def test_cli_make_info_validate_export(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "b"
    args = ["bench", "make", "synth", "--out", str(out), "--samples", "2", "--frames", "4", "--size", "64x64"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    info = runner.invoke(main, ["bench", "info", str(out)])
    assert info.exit_code == 0 and "samples:     2 (8 frames; 4-4 per sample)" in info.output
    assert "protocols:   self, cross" in info.output
    ok = runner.invoke(main, ["bench", "validate", str(out)])
    assert ok.exit_code == 0 and "every file verified" in ok.output
    exported = runner.invoke(main, ["bench", "export", str(out), "--format", "hf", "--out", str(tmp_path / "hf")])
    assert exported.exit_code == 0, exported.output
    assert "64x64 at 15 fps" in runner.invoke(main, ["bench", "info", str(tmp_path / "hf")]).output
    (out / "s001" / "prompt.txt").write_text("tampered")
    bad = runner.invoke(main, ["bench", "validate", str(out)])
    assert bad.exit_code == 1 and "sample 's001': prompt.txt: checksum mismatch" in bad.output


def test_cli_unknown_name_and_bad_size() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["bench", "info", "synht"])
    assert result.exit_code == 1 and "Did you mean 'synth'?" in result.output
    result = runner.invoke(main, ["bench", "make", "synth", "--size", "big"])
    assert result.exit_code == 2 and "expected WIDTHxHEIGHT" in result.output


def test_cli_manifest_indexes_a_home_built_benchmark(tiny_synth: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for sample in ("s000", "s001"):
        shutil.copytree(tiny_synth / sample, home / sample)
        for extra in ("cross_pose.json", "cross_video.mp4"):
            (home / sample / extra).unlink()
    (home / "s000" / "sample.json").write_text(json.dumps({"category": "fruit", "style": "3d", "note": "x"}))
    runner = CliRunner()
    args = ["bench", "manifest", str(home), "--name", "mine", "--version", "0.1", "--license", "CC-BY-4.0"]
    missing = runner.invoke(main, args)
    assert missing.exit_code == 1 and "sample 's001': no category/style" in missing.output
    assert not (home / "manifest.json").exists()
    result = runner.invoke(main, [*args, "--category", "animal", "--style", "flat"])
    assert result.exit_code == 0, result.output
    bench = load_benchmark(str(home))
    assert [(s.category, s.style) for s in bench] == [("fruit", "3d"), ("animal", "flat")]
    assert bench.manifest.protocols == ("self",) and bench["s000"].entry.extra == {"note": "x"}
    assert bench.validate() == []
