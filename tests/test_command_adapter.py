"""The ``command`` adapter: templating, safe argv, running, logs, failures, timeouts, shipped templates."""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from a2bench.baselines.command import (
    BATCH_PLACEHOLDERS,
    INPUTS,
    SAMPLE_PLACEHOLDERS,
    Command,
    CommandError,
    TemplateError,
    load_template,
    placeholders,
    render,
    shipped_templates,
)
from a2bench.baselines.command.adapter import _RUN_PATCHED_SOURCE
from a2bench.core.adapter import AdapterError, Job
from a2bench.core.data import load_benchmark
from a2bench.core.pose.convert import load_animatex_pickle
from a2bench.core.videoio import read_video
from a2bench.models import MODELS

EVIL = "a cat; rm -rf / && echo $(touch pwned) `touch pwned2` | tee x > y 'quoted' \"double\" {not} \\ end"

# A small program standing in for a model's inference script; it runs in the test's interpreter.
TOOL = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "write":  # write OUT REFERENCE POSE_JSON [anything...]: the reference repeated, one frame per pose
        import numpy as np
        from PIL import Image
        from a2bench.core.videoio import write_video
        out, reference, pose_json = rest[:3]
        frames = json.load(open(pose_json))["num_frames"]
        image = np.asarray(Image.open(reference).convert("RGB"))
        write_video(out, np.repeat(image[None], frames, axis=0), 15, lossless=True)
        json.dump(sys.argv, open(out + ".argv.json", "w"))
        print("tool wrote", out)
        print("tool says hello on stderr", file=sys.stderr)
    elif mode == "argv":  # argv FILE [anything...]: record the argv, write nothing else
        json.dump(sys.argv, open(rest[0], "w"))
    elif mode == "panels":  # panels OUT REFERENCE N: 3 panels with 2-px padding, 5 extra frames
        import numpy as np
        from PIL import Image
        from a2bench.core.videoio import write_video
        out, reference, count = rest[0], rest[1], int(rest[2])
        image = np.asarray(Image.open(reference).convert("RGB"))
        h, w = image.shape[:2]
        canvas = np.full((count + 5, h + 4, 3 * w + 8, 3), 7, np.uint8)
        canvas[:, 2 : 2 + h, 2 + (w + 2) : 2 + (w + 2) + w] = image
        write_video(out, canvas, 15, lossless=True)
    elif mode == "batch":  # batch LIST: each line "reference<TAB>output" -> a 3-frame video
        import numpy as np
        from PIL import Image
        from a2bench.core.videoio import write_video
        for line in open(rest[0]).read().splitlines():
            reference, out = line.split("\\t")
            image = np.asarray(Image.open(reference).convert("RGB"))
            write_video(out, np.repeat(image[None], 3, axis=0), 15, lossless=True)
    elif mode == "fail":
        print("preparing...")
        print("Traceback: boom, something broke", file=sys.stderr)
        sys.exit(3)
    elif mode == "sleep":  # sleep PIDFILE: a child that sleeps too, then sleep
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(rest[0], "w").write(f"{os.getpid()} {child.pid}")
        time.sleep(60)
    elif mode == "garbage":  # garbage OUT: not a video
        open(rest[0], "wb").write(b"this is not an mp4")
    elif mode == "nothing":
        pass
    """
)


@dataclass(frozen=True)
class EvilJob(Job):
    """A job whose prompt is hostile shell text."""

    def prompt(self) -> str:
        return EVIL


@pytest.fixture(scope="module")
def bench(tiny_synth):
    return load_benchmark(tiny_synth)


@pytest.fixture
def tool(tmp_path: Path) -> Path:
    path = tmp_path / "tool.py"
    path.write_text(TOOL)
    return path


def job(bench, tmp_path: Path, sample: str = "s000", protocol: str = "self", seed: int = 7, cls=Job) -> Job:
    s = bench[sample]
    return cls(s, s.task(protocol), seed, tmp_path / "work" / sample)


def template(tmp_path: Path, doc: dict | str, name: str = "t") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def adapter(path: str, **args: str) -> Command:
    return Command(template=path, python=args.pop("python", sys.executable), **args)


# ------------------------------------------------------------------------------------------------
# Templating


def test_render_substitutes_escapes_and_quotes() -> None:
    values = {"a": "x y", "b": 'say "hi"\n'}
    assert render("{a}-{b|json}-{{a}}-}}{{", values) == 'x y-"say \\"hi\\"\\n"-{a}-}{'
    assert placeholders("{a} {b|json} {{c}}") == [("a", None), ("b", "json")]
    with pytest.raises(TemplateError, match="stray '\\{'"):
        placeholders("{ a }", "somewhere")
    with pytest.raises(TemplateError, match=r"unknown placeholder \{c\}"):
        render("{c}", values, "here")


def test_every_placeholder_is_substituted_and_inputs_are_written(bench, tmp_path, tool) -> None:
    names = [n for n in [*SAMPLE_PLACEHOLDERS, *BATCH_PLACEHOLDERS] if n != "batch_json"]
    argv_file = tmp_path / "argv.json"
    doc = {
        "name": "everything",
        "defaults": {"extra": "value with spaces"},
        "command": ["{python}", str(tool), "argv", str(argv_file), *[f"{n}={{{n}}}" for n in names], "{extra}"],
        "output": "{output}",
    }
    model = adapter(template(tmp_path, doc), repo=str(tmp_path))
    j = job(bench, tmp_path)
    with pytest.raises(CommandError, match="wrote no output"):  # the program records its argv only
        model.generate([j])
    argv = json.loads(argv_file.read_text())
    got = dict(item.split("=", 1) for item in argv[3:-1])
    work = str((tmp_path / "work" / "s000").resolve())
    assert argv[-1] == "value with spaces"
    assert all("{" not in value for value in got.values())
    assert got["frames"] == "12" and got["width"] == "64" and got["height"] == "64" and got["fps"] == "15"
    assert got["seed"] == "7" and got["sample_id"] == "s000" and got["protocol"] == "self"
    assert got["driver_id"] == "s000" and got["workdir"] == work and got["batch_dir"] == work
    assert got["python"] == sys.executable and got["repo"] == str(tmp_path.resolve())
    assert got["prompt"] == bench["s000"].prompt() and got["batch_size"] == "1"
    assert got["output"] == f"{work}/output.mp4" and Path(got["output_dir"]).is_dir()
    for kind in INPUTS:
        assert Path(got[kind]).exists(), kind
    assert read_video(got["pose_video"]).num_frames == 12
    assert len(list(Path(got["pose_frames"]).glob("*.png"))) == 12
    assert len(list(Path(got["driving_frames"]).glob("*.png"))) == 12
    assert json.loads(Path(got["pose_json"]).read_text())["num_frames"] == 12
    assert load_animatex_pickle(Path(got["pose_pickle"]).read_bytes()).num_frames == 12
    assert Path(got["prompt_file"]).read_text().strip() == bench["s000"].prompt()
    assert Path(got["driving_video"]).read_bytes() == bench["s000"].read_bytes("video.mp4")
    assert Path(got["run_patched"]).is_file()


def test_unknown_placeholders_name_the_template_and_the_placeholder(tmp_path) -> None:
    with pytest.raises(TemplateError, match=r"template 'oops'.*unknown placeholder \{refrence\}.*\{reference\}"):
        load_template(template(tmp_path, {"name": "oops", "command": "run {refrence}"}))
    bad_file = {"name": "oops2", "command": "true", "files": [{"path": "{workdir}/a", "content": "x {nope}"}]}
    with pytest.raises(TemplateError, match=r"template 'oops2'.*\{nope\} in files\[0\]\.content"):
        load_template(template(tmp_path, bad_file))
    with pytest.raises(TemplateError, match=r"unknown filter \|shell"):
        load_template(template(tmp_path, {"command": "run {prompt|shell}"}))
    with pytest.raises(TemplateError, match=r"unknown key 'comand'.*did you mean 'command'"):
        load_template(template(tmp_path, {"comand": "x"}))
    with pytest.raises(TemplateError, match=r"no shipped template.*Did you mean 'musepose'"):
        load_template("musepos")


def test_string_and_list_commands_give_the_same_argv(bench, tmp_path) -> None:
    as_string = "{python} -c 'import sys; print(sys.argv)' --ref {reference} --prompt {prompt} x{seed}y"
    as_list = [
        "{python}",
        "-c",
        "import sys; print(sys.argv)",
        "--ref",
        "{reference}",
        "--prompt",
        "{prompt}",
        "x{seed}y",
    ]
    j = job(bench, tmp_path)
    previews = [
        adapter(template(tmp_path, {"command": command}, f"t{i}")).preview(j)
        for i, command in enumerate((as_string, as_list))
    ]
    assert previews[0]["commands"] == previews[1]["commands"]
    argv = previews[0]["commands"][0]
    assert argv[:3] == [sys.executable, "-c", "import sys; print(sys.argv)"] and argv[-1] == "x7y"
    assert argv[argv.index("--prompt") + 1] == bench["s000"].prompt()


@pytest.mark.parametrize("form", ["string", "list"])
def test_hostile_prompt_stays_one_literal_argv_item(bench, tmp_path, tool, form) -> None:
    argv_file = tmp_path / "argv.json"
    command = (
        f"{{python}} {tool} argv {argv_file} {{prompt}} --json {{prompt|json}}"
        if form == "string"
        else ["{python}", str(tool), "argv", str(argv_file), "{prompt}", "--json", "{prompt|json}"]
    )
    model = adapter(template(tmp_path, {"command": command, "cwd": "{workdir}"}))
    with pytest.raises(CommandError, match="wrote no output"):
        model.generate([job(bench, tmp_path, cls=EvilJob)])
    argv = json.loads(argv_file.read_text())
    assert argv[3] == EVIL and json.loads(argv[5]) == EVIL and len(argv) == 6
    work = tmp_path / "work" / "s000"
    assert not any(p.name.startswith("pwned") for p in [*work.iterdir(), *tmp_path.iterdir()])


# ------------------------------------------------------------------------------------------------
# Running


def working_template(tmp_path: Path, tool: Path, **extra) -> str:
    doc = {
        "name": "tool",
        "inputs": {"reference": {"path": "ref.png"}},
        "command": ["{python}", str(tool), "write", "{output}", "{reference}", "{pose_json}", "{prompt}"],
        **extra,
    }
    return template(tmp_path, doc)


def test_a_working_command_returns_its_video_and_keeps_its_logs(bench, tmp_path, tool) -> None:
    model = adapter(working_template(tmp_path, tool))
    j = job(bench, tmp_path, sample="s001", protocol="cross")
    (video,) = model.generate([j])
    assert video.num_frames == j.num_frames == 12 and video.size == (64, 64) and video.fps == 15
    assert np.array_equal(video.frames, np.repeat(j.reference()[None], 12, axis=0))
    work = tmp_path / "work" / "s001"
    assert "tool wrote" in (work / "stdout.txt").read_text()
    assert "hello on stderr" in (work / "stderr.txt").read_text()
    assert "$ " in (work / "command.txt").read_text()
    assert (work / "ref.png").is_file() and (work / "pose.json").is_file()
    assert model.output.num_frames is None and model.output.size is None


def test_through_the_runner(tiny_synth, tmp_path, tool) -> None:
    from a2bench.runs.runner import RunOptions, run

    assert MODELS.get("command") is Command
    args = {"template": working_template(tmp_path, tool), "python": sys.executable}
    options = RunOptions(
        model="command", model_args=args, bench=str(tiny_synth), limit=2, metrics=[], out=tmp_path / "run"
    )
    result = run(options)
    assert result.exit_code == 0 and result.generated == 2, result.failed
    assert (tmp_path / "run" / "work" / "s000" / "stdout.txt").is_file()


def test_without_a_workdir_a_temporary_folder_is_used_and_removed(bench, tmp_path, tool) -> None:
    model = adapter(working_template(tmp_path, tool))
    s = bench["s000"]
    before = set(Path(tempfile.gettempdir()).glob("a2bench-command-s000-*"))
    (video,) = model.generate([Job(s, s.task("self"), 1)])
    assert video.num_frames == 12
    assert set(Path(tempfile.gettempdir()).glob("a2bench-command-s000-*")) == before


def test_a_failing_command_names_the_sample_exit_code_and_logs(bench, tmp_path, tool) -> None:
    model = adapter(template(tmp_path, {"name": "failing", "command": ["{python}", str(tool), "fail"]}))
    with pytest.raises(CommandError) as info:
        model.generate([job(bench, tmp_path, sample="s002")])
    message = str(info.value)
    work = tmp_path / "work" / "s002"
    assert "sample s002" in message and "'failing'" in message and "exited with code 3" in message
    assert str(work / "stderr.txt") in message and str(work / "stdout.txt") in message
    assert "boom, something broke" in message
    assert "boom" in (work / "stderr.txt").read_text() and "preparing" in (work / "stdout.txt").read_text()


def test_an_unreadable_output_is_an_error(bench, tmp_path, tool) -> None:
    model = adapter(template(tmp_path, {"command": ["{python}", str(tool), "garbage", "{output}"]}))
    with pytest.raises(CommandError, match=r"sample s000 .*cannot be read as a video.*output\.mp4.*stderr\.txt"):
        model.generate([job(bench, tmp_path)])


def test_a_command_past_its_timeout_is_killed_with_its_children(bench, tmp_path, tool) -> None:
    pids = tmp_path / "pids"
    model = adapter(template(tmp_path, {"command": ["{python}", str(tool), "sleep", str(pids)]}), timeout="1")
    began = time.monotonic()
    with pytest.raises(CommandError, match=r"sample s000 .*timed out after 1 s.*stderr\.txt"):
        model.generate([job(bench, tmp_path)])
    assert time.monotonic() - began < 4
    for pid in map(int, pids.read_text().split()):
        assert _gone(pid), f"process {pid} survived the timeout"


def _gone(pid: int, wait: float = 2.0) -> bool:
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_python_argument_is_the_interpreter(bench, tmp_path, tool) -> None:
    marker = tmp_path / "wrapper-was-used"
    wrapper = tmp_path / "env" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    model = adapter(working_template(tmp_path, tool), python=str(wrapper))
    (video,) = model.generate([job(bench, tmp_path)])
    assert marker.exists() and video.num_frames == 12
    with pytest.raises(AdapterError, match="is not a file"):
        adapter(working_template(tmp_path, tool), python=str(tmp_path / "no" / "python"))


def test_missing_or_stale_output_is_an_error(bench, tmp_path, tool) -> None:
    stale = tmp_path / "stale.mp4"
    j = job(bench, tmp_path)
    model = adapter(working_template(tmp_path, tool, output=str(stale)))
    with pytest.raises(CommandError, match="no output matching"):  # the tool writes {output}, not stale.mp4
        model.generate([j])
    model = adapter(working_template(tmp_path, tool))
    model.generate([j])
    nothing = adapter(template(tmp_path, {"command": ["{python}", str(tool), "nothing"]}, "n"))
    with pytest.raises(CommandError, match=r"wrote no output .*1 older match"):  # output.mp4 is from the last run
        nothing.generate([j])


def test_panel_crop_and_keep_first(bench, tmp_path, tool) -> None:
    doc = {
        "command": ["{python}", str(tool), "panels", "{output_dir}/result.mp4", "{reference}", "{frames}"],
        "output": {
            "path": "{output_dir}/*.mp4",
            "panel": {"columns": 3, "index": 1, "padding": 2},
            "keep_first": "{frames}",
        },
    }
    j = job(bench, tmp_path)
    (video,) = adapter(template(tmp_path, doc)).generate([j])
    assert np.array_equal(video.frames, np.repeat(j.reference()[None], 12, axis=0))


def test_batch_templates_render_one_list_and_collect_each_output(bench, tmp_path, tool) -> None:
    doc = {
        "per": "batch",
        "batch_size": 4,
        "files": [{"path": "{batch_dir}/list.txt", "each": "{reference}\t{output}\n"}],
        "command": ["{python}", str(tool), "batch", "{batch_dir}/list.txt"],
    }
    model = adapter(template(tmp_path, doc))
    jobs = [job(bench, tmp_path, sample=s) for s in ("s000", "s001")]
    videos = model.generate(jobs)
    assert model.batch_size == 4 and [v.num_frames for v in videos] == [3, 3]
    for j, video in zip(jobs, videos, strict=True):
        assert np.array_equal(video.frames[0], j.reference())
        assert (j.workdir / "stderr.txt").is_file()
    assert json.loads((tmp_path / "work" / "s000" / "batch" / "batch.json").read_text())[1]["sample_id"] == "s001"
    doc["command"] = ["{python}", str(tool), "batch", "{batch_dir}/list.txt", "{sample_id}"]
    with pytest.raises(TemplateError, match=r"\{sample_id\} is not available here: it differs between the samples"):
        adapter(template(tmp_path, doc, "t2")).generate(jobs)


def test_template_variables_and_identity(tmp_path, tool) -> None:
    path = template(tmp_path, {"defaults": {"steps": 20}, "command": "{python} run --steps {steps}"})
    model = adapter(path, **{"var.steps": "30"}, timeout="5")
    assert model.vars == {"steps": "30"}
    identity = model.identity()
    assert identity["vars"] == {"steps": "30"} and "timeout" not in identity["args"]
    assert identity["template"]["sha256"] == load_template(path).sha256
    assert adapter(path, timeout="9").identity() != identity
    assert adapter(path, **{"var.steps": "30"}, timeout="9").identity() == identity
    with pytest.raises(AdapterError, match=r"no variable stepz \(its variables: var\.steps\)"):
        adapter(path, **{"var.stepz": "1"})
    with pytest.raises(AdapterError, match="pass --model-arg repo="):
        adapter(template(tmp_path, {"command": "{python} x", "cwd": "{repo}"}, "needs-repo"))


def test_run_patched_replaces_assignments_and_fails_on_unknown_names(tmp_path) -> None:
    helper = tmp_path / "run_patched.py"
    helper.write_text(_RUN_PATCHED_SOURCE)
    script = tmp_path / "official" / "infer.py"
    script.parent.mkdir()
    (script.parent / "sibling.py").write_text("VALUE = 'imported from the script folder'\n")
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from sibling import VALUE
            height = 832
            def test():
                test_list = [[1, "data/a.jpg", "data/pose"]]
                print(height, test_list, sys.argv[1:], VALUE, __name__)
            if __name__ == "__main__":
                test()
            """
        )
    )
    run = [sys.executable, str(helper), str(script), "height=64", 'test_list=[[2, "/x y/ref.png", "p"]]', "--", "-a"]
    out = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert out.strip() == "64 [[2, '/x y/ref.png', 'p']] ['-a'] imported from the script folder __main__"
    failed = subprocess.run([*run[:3], "widht=3"], capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 2 and "never assigns widht" in failed.stderr


# ------------------------------------------------------------------------------------------------
# Shipped templates


@pytest.mark.parametrize("name", shipped_templates())
def test_shipped_templates_load_and_render(bench, tmp_path, name) -> None:
    spec = load_template(name)
    doc = spec.doc
    assert doc["runnable_here"] is False and len(doc["note"]) > 80, "say plainly that it cannot run here"
    assert doc["upstream"]["repo"].startswith("https://github.com/") and len(doc["upstream"]["commit"]) == 40
    assert doc["facts"] and all(f.startswith(("[code]", "[docs]", "[guess]")) for f in doc["facts"])
    model = adapter(name, repo=str(tmp_path))
    for protocol in ("self", "cross"):
        j = job(bench, tmp_path, sample="s001", protocol=protocol)
        preview = model.preview(j)
        rendered = [item for argv in preview["commands"] for item in argv]
        assert sys.executable == rendered[0]
        for item in rendered:
            if item.startswith(("test_list_path=", "seed=", "max_frames=")):
                ast.literal_eval(item.split("=", 1)[1])  # what {run_patched} will parse
        for path, text in preview["files"].items():
            assert path.startswith(str(j.workdir.resolve()))
            if path.endswith(".yaml"):
                config = yaml.safe_load(text)
                assert isinstance(config, dict) and str(j.workdir.resolve()) in json.dumps(config)
        assert preview["output"]
    model._write_inputs(j, j.workdir)  # the inputs it declares can be prepared
    for kind, options in spec.inputs.items():
        assert (j.workdir / (options.get("path") or options["dir"])).exists(), kind
    assert MODELS.get("command").needs_gpu is False
