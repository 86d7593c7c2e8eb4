"""The shipped ``command`` templates at 8, 32, 81 and 123 frames, run against fake releases.

Each fake is a small script at the release's path that repeats the release's own frame arithmetic (read at
the commit each template pins): which pose frames it takes, how many frames it generates and writes, where
it fails. Every output frame is one grey level naming the pose frame it follows (``code(i)``; the frame
generated for a prepended reference pose is ``REF``), so a test can tell that the run returned the task's
N frames in order, or that the template refused the task before anything ran. Poses are drawn small here
(``var.pose_*``); ``test_draw_sizes`` checks the sizes the templates draw at by default.
"""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import cv2
import pytest
import yaml

from a2bench.baselines.command import (
    Command,
    CommandError,
    RefusedError,
    TemplateError,
    compile_expression,
    load_template,
)
from a2bench.baselines.command.expressions import ExpressionError, show
from a2bench.core.adapter import Job
from a2bench.core.data import load_benchmark
from a2bench.core.synth import SynthOptions, generate
from a2bench.core.videoio import read_video

LENGTHS = (8, 32, 81, 123)
REF = 250

# Shared by the fakes: the grey level of an output frame that follows pose frame i, and video helpers.
FAKELIB = textwrap.dedent(
    """
    import json, os, sys
    from fractions import Fraction
    import av
    import numpy as np

    REF = 250

    def code(i):
        return 10 + i % 200

    def ran(argv):  # record that the fake release ran, and with what
        with open(os.environ["FAKE_LOG"], "a") as log:
            log.write(json.dumps(argv) + "\\n")

    def video_frames(path):
        with av.open(path) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            return np.stack(frames), float(stream.average_rate)  # decord's get_avg_fps: a float

    def write(path, codes, panels=1, index=0, size=(16, 16), padding=0, fps=15):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        w, h = size
        frames = np.full((len(codes), h + 2 * padding, panels * w + (panels + 1) * padding, 3), 5, np.uint8)
        left = padding + index * (w + padding)
        for k, c in enumerate(codes):
            frames[k, padding : padding + h, left : left + w] = c
        with av.open(path, "w") as container:
            stream = container.add_stream("libx264rgb", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
            stream.options = {"crf": "0"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))

    def pose_keys(folder, reference):  # the releases list the folder, sorted, without the reference pose
        assert os.path.exists(os.path.join(folder, reference)), "the reference pose image is missing"
        return sorted(f for f in os.listdir(folder) if f != reference)
    """
)

# Animate-X v1: inference.py --cfg CONFIG (animatex/inference_animate_x_entrance.py's frame sampling).
ANIMATEX = """
import argparse, yaml
from pathlib import Path
ran(sys.argv)
parser = argparse.ArgumentParser(); parser.add_argument("--cfg"); args = parser.parse_args()
cfg = yaml.safe_load(open(args.cfg))
assert cfg["_BASE"] == "configs/Animate_X_infer.yaml" and cfg["round"] == 1
max_frames = cfg["max_frames"]
assert cfg["UNet"]["seq_len"] == max_frames + 1, "README: seq_len is max_frames + 1"
interval, ref, pose_dir, frames_dir, pkl, seed = cfg["test_list_path"][0]
keys = pose_keys(pose_dir, "ref_pose.jpg")
assert os.path.exists(pkl) and os.path.exists(pkl.replace(".pkl", "_ref_pose.pkl"))
stride, total = interval, len(keys)
cover = stride * (max_frames - 1) + 1
if total < cover:
    stride = max((total - 1 // (max_frames - 1)), 1)  # the release's precedence
    end = stride * max_frames
else:
    end = cover
picked = [keys[i] for i in range(0, end, stride)]  # IndexError, as the release, when the poses run out
assert all(os.path.exists(os.path.join(frames_dir, k)) for k in picked), "driving frames must share the names"
out = os.path.join(cfg["log_dir"], Path(args.cfg).stem, "ref_pose_x_results_1col.mp4")
write(out, [code(keys.index(k)) for k in picked])
"""

# Animate-X++ and UniAnimate-DiT 480p: the 81-frame scripts (their shared sampling, then 81 generated).
WAN_SHORT = """
import argparse, random
height = 832
width = 480
seed = 0
max_frames = 81
def main(save_dir, reference_pose, name):
    test_list_path = [[2, "data/images/x.jpeg", "data/saved_pose/x", "a person is dancing."]]
    for row in test_list_path:
        interval, ref, pose_dir = row[:3]
        keys = pose_keys(pose_dir, reference_pose)
        total, cover = len(keys), interval * max_frames
        if total < cover + 1:
            start, stride = 0, max(total // max_frames, 1)
            end = min(stride * max_frames, total)
        else:
            start, stride = random.randint(0, total - cover - 1) if name == "unianimate" else 0, interval
            end = start + cover
        picked = [i for i in range(start, end, stride) if i < total]
        if end - start < max_frames:
            picked += [end - 1] * (max_frames - (end - start))
        assert len(picked) <= max_frames, "dwpose_data holds max_frames frames"
        generated = picked[:81]  # the pipeline's num_frames stays 81
        if name == "unianimate":
            out = "outputs/video_480P_{}_{}.mp4".format(ref.split("/")[-1], pose_dir.split("/")[-1])
        else:
            out = save_dir + "/{}_{}_{}.mp4".format(ref.split("/")[-1], pose_dir.split("/")[-1], row[3][:30])
        write(out, [code(i) for i in generated], panels=3, index=2)
"""
ANIMATEX_PLUSPLUS = (
    WAN_SHORT
    + """
def test(args):
    main(args.save_dir, "pose.jpeg", "animatex++")
if __name__ == "__main__":
    ran(sys.argv)
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg", type=float, default=5)
    parser.add_argument("--model_path", default="checkpoints/animate-x++_simple.ckpt")
    parser.add_argument("--save_dir", default="./outputs")
    test(parser.parse_args())
"""
)
UNIANIMATE = (
    WAN_SHORT
    + """
ran(sys.argv)
main(None, "pose.jpg", "unianimate")
"""
)
# UniAnimate-DiT's long-video script: max_frames = pose count, the pipeline rounds down to 4k + 1.
UNIANIMATE_LONG = """
height = 832
width = 480
seed = 0
max_frames = None
ran(sys.argv)
test_list_path = [[1, "data/images/x.jpg", "data/saved_pose/x"]]
for interval, ref, pose_dir in test_list_path:
    keys = pose_keys(pose_dir, "pose.jpg")
    total = len(keys)
    max_frames = total // interval
    cover = interval * max_frames
    if total < cover + 1:
        start, stride = 0, max(total // max_frames, 1)
        end = min(stride * max_frames, total)
    else:
        raise AssertionError("not reached: cover is the pose count")
    picked = [i for i in range(start, end, stride) if i < total]
    num_frames = max_frames if max_frames % 4 == 1 else (max_frames - 1) // 4 * 4 + 1
    assert (num_frames - 1) // 4 + 1 >= 21, "under 21 latent frames the last context window wraps around"
    out = "outputs/video_480P_long_{}_{}.mp4".format(ref.split("/")[-1], pose_dir.split("/")[-1])
    write(out, [code(i) for i in picked[:num_frames]], panels=3, index=2)
"""

# MimicMotion: inference.py --inference_config CFG --output_dir DIR (inference.py + the pipeline's tiles).
MIMICMOTION = """
import argparse, yaml, time
ran(sys.argv)
parser = argparse.ArgumentParser()
parser.add_argument("--inference_config"); parser.add_argument("--output_dir")
args = parser.parse_args()
for task in yaml.safe_load(open(args.inference_config))["test_case"]:
    frames, avg_fps = video_frames(task["ref_video_path"])
    stride = task["sample_stride"] * max(1, int(avg_fps / 24))
    poses = list(range(0, len(frames), stride))
    num_frames = len(poses) + 1  # the reference image's pose first
    tile, overlap = task["num_frames"], task["frames_overlap"]
    indices = [[0, *range(i + 1, min(i + tile, num_frames))] for i in range(0, num_frames - tile + 1, tile - overlap)]
    if indices[-1][-1] < num_frames - 1:  # IndexError on an empty tile list, as the release
        indices.append([0, *range(num_frames - tile + 1, num_frames)])
    assert all(len(ix) == tile for ix in indices)
    codes = [REF] + [code(i) for i in poses]
    stem = os.path.basename(task["ref_video_path"]).split(".")[0]
    write(f"{args.output_dir}/{stem}_{time.strftime('%Y%m%d%H%M%S')}.mp4", codes[1:])  # drops the reference's frame
"""

# ControlNeXt-SVD-v2: run_controlnext.py (utils/pre_process.py + the pipeline's windows).
CONTROLNEXT = """
import argparse
ran(sys.argv)
parser = argparse.ArgumentParser()
for name, kind in [("pretrained_model_name_or_path", str), ("output_dir", str), ("max_frame_num", int),
                   ("guidance_scale", float), ("batch_frames", int), ("sample_stride", int), ("overlap", int),
                   ("height", int), ("width", int), ("controlnext_path", str), ("unet_path", str),
                   ("validation_control_video_path", str), ("ref_image_path", str)]:
    parser.add_argument("--" + name, type=kind)
args = parser.parse_args()
frames, avg_fps = video_frames(args.validation_control_video_path)
poses = list(range(0, len(frames), args.sample_stride))
control = [REF] + [code(i) for i in poses]  # the reference image's pose first
num_frames = min(args.max_frame_num, len(control))
per_batch = min(args.batch_frames, num_frames)
windows = list(range(0, num_frames - args.overlap, per_batch - args.overlap))
codes = control[:num_frames] if windows else [1] * num_frames  # no window: 0 / 0, NaN frames
write(args.output_dir + "/output.mp4", codes)
write(args.output_dir + "/test_1.mp4", codes, panels=2, index=1)
"""

# Moore-AnimateAnyone: python -m scripts.pose2vid (first L pose frames, a 2-px padded grid).
MOORE = """
import argparse, yaml, time
from pathlib import Path
ran(sys.argv)
parser = argparse.ArgumentParser()
parser.add_argument("--config"); parser.add_argument("-W", type=int, default=512)
parser.add_argument("-H", type=int, default=784); parser.add_argument("-L", type=int, default=24)
parser.add_argument("--seed", type=int, default=42); parser.add_argument("--cfg", type=float, default=3.5)
parser.add_argument("--steps", type=int, default=30); parser.add_argument("--fps", type=int)
args = parser.parse_args()
config = yaml.safe_load(open(args.config))
date_str, time_str = time.strftime("%Y%m%d"), time.strftime("%H%M")
save_dir = Path(f"output/{date_str}/{time_str}--seed_{args.seed}-{args.W}x{args.H}")
for ref, videos in config["test_cases"].items():
    for pose_video in videos:
        frames, fps = video_frames(pose_video)
        pose_list = list(range(len(frames)))[: args.L]
        assert len(pose_list) == args.L, "torch.cat of L reference copies, the poses and L frames"
        pose_name = Path(pose_video).stem.replace("_kps", "")
        name = f"{Path(ref).stem}_{pose_name}_{args.H}x{args.W}_{int(args.cfg)}_{time_str}.mp4"
        write(str(save_dir / name), [code(i) for i in pose_list], panels=3, index=2, padding=2)
"""

# MusePose: test_stage_2.py (skip, window padding, output cut to L and scaled to the pose video's size).
MUSEPOSE = """
import argparse, yaml, time
from pathlib import Path
ran(sys.argv)
parser = argparse.ArgumentParser()
parser.add_argument("--config"); parser.add_argument("-W", type=int, default=768)
parser.add_argument("-H", type=int, default=768); parser.add_argument("-L", type=int, default=300)
parser.add_argument("-S", type=int, default=48); parser.add_argument("-O", type=int, default=4)
parser.add_argument("--cfg", type=float, default=3.5); parser.add_argument("--seed", type=int, default=99)
parser.add_argument("--steps", type=int, default=20); parser.add_argument("--fps", type=int)
parser.add_argument("--skip", type=int, default=1)
args = parser.parse_args()
config = yaml.safe_load(open(args.config))
m1 = config["pose_guider_path"].split(".")[0].split("/")[-1]
m2 = config["motion_module_path"].split(".")[0].split("/")[-1]
save_dir = Path(f"./output/video-{time.strftime('%Y%m%d')}/{time.strftime('%H%M')}-{args.cfg}-{m1}-{m2}")
for ref, videos in config["test_cases"].items():
    for pose_video in videos:
        frames, fps = video_frames(pose_video)
        L = min(args.L, len(frames))
        pose_images = list(range(len(frames)))[:: args.skip + 1]
        L = L // (args.skip + 1)
        pose_list = pose_images[:L]
        last = (L - args.S) % (args.S - args.O)
        pose_list += [pose_list[-1]] * ((args.S - args.O - last) % (args.S - args.O))
        assert (len(pose_list) - args.S) % (args.S - args.O) == 0
        result = pose_list[:L]
        size = (frames.shape[2], frames.shape[1])  # scaled back to the pose video's size
        stem = f"{Path(ref).stem}_{Path(pose_video).stem}_{args.cfg}_{args.steps}_{args.skip}"
        write(str(save_dir / f"{stem}.mp4"), [code(i) for i in result], size=size)
        write(str(save_dir / f"{stem}_{m1}_{m2}.mp4"), [code(i) for i in result], size=size)
"""

# Wan2.2-Animate: preprocess_data.py (target_num in floats), then generate.py (77-frame clips, cut back).
WAN_PREPROCESS = """
import argparse, shutil
ran(sys.argv)
parser = argparse.ArgumentParser()
parser.add_argument("--ckpt_path"); parser.add_argument("--video_path"); parser.add_argument("--refer_path")
parser.add_argument("--save_path"); parser.add_argument("--resolution_area", type=int, nargs=2, default=[1280, 720])
parser.add_argument("--fps", type=int, default=30); parser.add_argument("--retarget_flag", action="store_true")
args = parser.parse_args()
frames, video_fps = video_frames(args.video_path)
frame_num = len(frames)
fps = video_fps if args.fps == -1 else args.fps
target_num = int(frame_num / video_fps * fps)
idxs = np.clip(np.round(np.arange(0, target_num) / fps * video_fps).astype(int), 0, frame_num - 1)
os.makedirs(args.save_path, exist_ok=True)
write(os.path.join(args.save_path, "src_pose.mp4"), [code(int(i)) for i in idxs], fps=fps)
write(os.path.join(args.save_path, "src_face.mp4"), [code(int(i)) for i in idxs], fps=fps)
shutil.copy(args.refer_path, os.path.join(args.save_path, "src_ref.png"))
"""
WAN_GENERATE = """
import argparse
ran(sys.argv)
parser = argparse.ArgumentParser()
for name in ("task", "ckpt_dir", "src_root_path", "save_file"):
    parser.add_argument("--" + name)
parser.add_argument("--refert_num", type=int, default=1); parser.add_argument("--base_seed", type=int, default=-1)
parser.add_argument("--frame_num", type=int, default=77)
args = parser.parse_args()
frames, _ = video_frames(os.path.join(args.src_root_path, "src_pose.mp4"))
cond = [int(f[0, 0, 0]) for f in frames]
clip, overlap, real = args.frame_num, args.refert_num, len(cond)
last = (real - overlap) % (clip - overlap)
target = real + (0 if last == 0 else clip - overlap - last)
padded, idx, flip = [], 0, False
while len(padded) < target:  # inputs_padding: back and forth
    padded.append(cond[idx])
    idx = idx - 1 if flip else idx + 1
    if idx == 0 or idx == len(cond) - 1:
        flip = not flip
padded = padded[:target]
out, start, end = [], 0, clip
while start + overlap < len(padded):
    out += padded[start:end] if start == 0 else padded[start:end][overlap:]
    start, end = start + clip - overlap, end + clip - overlap
if not out:
    raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
write(args.save_file, out[:real], fps=30)
"""

FAKES = {
    "animatex": {"inference.py": ANIMATEX},
    "animatex-plusplus": {"examples/inference_480p_usp.py": ANIMATEX_PLUSPLUS},
    "unianimate-dit": {
        "examples/unianimate_wan/inference_unianimate_wan_480p.py": UNIANIMATE,
        "examples/unianimate_wan/inference_unianimate_wan_long_video_480p.py": UNIANIMATE_LONG,
    },
    "mimicmotion": {"inference.py": MIMICMOTION},
    "controlnext": {"ControlNeXt-SVD-v2/run_controlnext.py": CONTROLNEXT},
    "moore-animateanyone": {"scripts/pose2vid.py": MOORE},
    "musepose": {"test_stage_2.py": MUSEPOSE},
    "wan-animate": {
        "wan/modules/animate/preprocess/preprocess_data.py": WAN_PREPROCESS,
        "generate.py": WAN_GENERATE,
    },
}
# Poses drawn small in the length tests (the default sizes are checked in test_draw_sizes).
SMALL_POSES = {
    "unianimate-dit": {"var.pose_width": "16", "var.pose_height": "24"},
    "moore-animateanyone": {"var.pose_short_side": "64"},
    "musepose": {"var.pose_draw_width": "32", "var.pose_height": "16"},
}
# What each template does at each length: "ok", or the start of its refusal.
REFUSED = {
    ("animatex-plusplus", 123): "template 'animatex-plusplus' generates at most 81 frames; "
    "this benchmark's sample s000 has 123",
    ("wan-animate", 123): "template 'wan-animate' cannot generate sample s000 (123 frames at 15 fps): the release's "
    "preprocessing keeps int(N / fps * fps) = 122 frames of this sample's 123",
}


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    """One-sample synth benchmarks of each length (64x64, the generator's smallest)."""
    root = tmp_path_factory.mktemp("lengths")
    return {n: synth(root / f"f{n}", frames=n) for n in LENGTHS}


def synth(folder: Path, **options):
    options = {"samples": 1, "width": 64, "height": 64, "seed": 5, **options}
    return load_benchmark(generate(folder, SynthOptions(**options), workers=1))


def fake_release(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A checkout holding the fake scripts of ``name``, a log they append to, and an interpreter that runs
    ``python -m torch.distributed.run [--options] SCRIPT ...`` as ``python SCRIPT ...``."""
    repo, lib = tmp_path / "repo", tmp_path / "fakelib"
    lib.mkdir()
    (lib / "fakelib.py").write_text(FAKELIB)
    header = f"import sys\nsys.path.insert(0, {str(lib)!r})\nfrom fakelib import *\n"
    for path, body in FAKES[name].items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(header + textwrap.dedent(body))
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "torch.distributed.run" ]; then\n'
        "  shift 2\n"
        '  while [ $# -gt 0 ]; do case "$1" in --*) shift;; *) break;; esac; done\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return repo, python, tmp_path / "fake.log"


def job_of(bench, tmp_path: Path) -> Job:
    sample = bench["s000"]
    return Job(sample, sample.task("self"), 7, tmp_path / "work" / "s000")


def codes(video) -> list[int]:
    return [int(v) for v in video.frames[:, video.frames.shape[1] // 2, video.frames.shape[2] // 2, 0]]


@pytest.mark.parametrize("frames", LENGTHS)
@pytest.mark.parametrize("name", sorted(FAKES))
def test_every_template_at_every_length(benches, tmp_path, monkeypatch, name, frames) -> None:
    repo, python, log = fake_release(tmp_path, name)
    monkeypatch.setenv("FAKE_LOG", str(log))
    model = Command(template=name, repo=str(repo), python=str(python), **SMALL_POSES.get(name, {}))
    job = job_of(benches[frames], tmp_path)
    refusal = REFUSED.get((name, frames))
    if refusal is not None:
        with pytest.raises(RefusedError) as info:
            model.generate([job])
        message = str(info.value)
        assert message.startswith(refusal), message
        assert "Refused before running anything" in message and model.template.length.rule in message
        assert not log.exists() and not job.workdir.exists(), "a refused task must not write or run anything"
        assert model.preview(job)["refused"] == message
        return
    (video,) = model.generate([job])
    assert codes(video) == [10 + i % 200 for i in range(frames)], "the N frames, in the order of the poses"
    argv = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(argv) == len(model.template.commands)
    if name == "unianimate-dit":  # the 480p script up to 81 frames, its long-video script past them
        assert ("long_video" in argv[0][0]) == (frames > 81)


@pytest.mark.parametrize(
    ("name", "frames", "expected"),
    [
        ("mimicmotion", 8, {"tile_frames": "9", "tile_overlap": "6", "stride": "1"}),
        ("mimicmotion", 32, {"tile_frames": "33", "tile_overlap": "6"}),
        ("mimicmotion", 70, {"tile_frames": "71", "tile_overlap": "6"}),
        ("mimicmotion", 71, {"tile_frames": "72", "tile_overlap": "6"}),  # the release's config from here on
        ("mimicmotion", 123, {"tile_frames": "72", "tile_overlap": "6"}),
        ("mimicmotion", 3, {"tile_frames": "4", "tile_overlap": "3"}),
        ("controlnext", 4, {"max_frame_num": "5", "window_overlap": "4"}),
        ("controlnext", 123, {"max_frame_num": "124", "window_overlap": "6"}),
        ("animatex", 8, {"max_frames": "8", "seq_len": "9"}),
        ("unianimate-dit", 81, {"max_frames": "81", "output_name": "video_480P_"}),
        ("unianimate-dit", 82, {"max_frames": "85", "output_name": "video_480P_long_"}),
        ("unianimate-dit", 123, {"max_frames": "125"}),
        ("wan-animate", 122, {"kept": "122"}),
    ],
)
def test_derived_values(name, frames, expected) -> None:
    model = Command(template=name, repo="/")
    numbers = model.numbers_for(frames, 256, 256, Fraction(15))
    assert {key: show(numbers[key]) for key in expected} == expected


def test_draw_sizes() -> None:
    """Each template draws where its release draws (facts in the templates), for square and wide benchmarks."""
    expected = {
        # name: {(width, height): {input: (draw_size, save_size)}}
        "animatex": {(256, 256): ((256, 256), None), (256, 192): ((256, 192), None)},
        "animatex-plusplus": {(256, 256): ((256, 256), None)},
        "unianimate-dit": {(256, 256): ((512, 768), None), (256, 192): ((512, 768), None)},
        "moore-animateanyone": {(256, 256): ((512, 512), None), (256, 192): ((704, 512), None)},
        "musepose": {(256, 256): ((1024, 1024), (768, 768)), (256, 192): ((1024, 768), (1024, 768))},
    }
    for name, cases in expected.items():
        model = Command(template=name, repo="/")
        for (width, height), (draw, save) in cases.items():
            inputs = model.resolved_inputs(model.numbers_for(32, width, height, Fraction(15)))
            (pose,) = [options for kind, options in inputs.items() if kind in ("pose_video", "pose_frames")]
            assert (pose["draw_size"], pose["save_size"]) == (draw, save), (name, width, height)


def test_poses_are_written_at_the_draw_size(benches, tmp_path) -> None:
    job = job_of(benches[8], tmp_path)
    model = Command(template="unianimate-dit", repo="/")
    model._write_inputs(job, job.workdir)
    images = sorted((job.workdir / "pose").iterdir())
    assert len(images) == 9 and {cv2.imread(str(p)).shape for p in images} == {(768, 512, 3)}  # 8 + pose.jpg
    model = Command(template="musepose", repo="/")
    model._write_inputs(job, job.workdir)
    video = read_video(job.workdir / "pose.mp4")
    assert video.num_frames == 8 and video.size == (768, 768)


def test_padding_repeats_the_last_pose(benches, tmp_path) -> None:
    job = job_of(benches[123], tmp_path)
    model = Command(template="unianimate-dit", repo="/", **SMALL_POSES["unianimate-dit"])
    model._write_inputs(job, job.workdir)
    names = sorted(p.name for p in (job.workdir / "pose").iterdir())
    assert len(names) == 126 and names[-1] == "pose.jpg"  # 125 = the next 4k + 1, and the reference pose
    last = [(job.workdir / "pose" / n).read_bytes() for n in names[122:125]]
    assert last[0] == last[1] == last[2]


def test_a_count_other_than_the_rule_fails_naming_the_rule(benches, tmp_path, monkeypatch) -> None:
    repo, python, log = fake_release(tmp_path, "controlnext")
    monkeypatch.setenv("FAKE_LOG", str(log))
    doc = yaml.safe_load(load_template("controlnext").path.read_text())
    doc["length"]["writes"] = "{frames}"  # wrong: the release prepends the reference's frame
    path = tmp_path / "controlnext-wrong.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    model = Command(template=str(path), repo=str(repo), python=str(python))
    with pytest.raises(CommandError) as info:
        model.generate([job_of(benches[8], tmp_path)])
    message = str(info.value)
    assert "output.mp4 has 9 frames, but for a 8-frame task the program should write 8" in message
    assert "template 'controlnext'" in message and doc["length"]["rule"].split()[0] in message
    assert not isinstance(info.value, RefusedError)


def test_the_released_configuration_fails_as_the_release_does(benches, tmp_path, monkeypatch) -> None:
    """With MimicMotion's tile fixed at 72 (the old template), the fake fails on an 8-frame task as the release."""
    repo, python, log = fake_release(tmp_path, "mimicmotion")
    monkeypatch.setenv("FAKE_LOG", str(log))
    doc = yaml.safe_load(load_template("mimicmotion").path.read_text())
    doc["derive"]["tile_frames"] = "{tile_max}"
    path = tmp_path / "mimicmotion-72.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    model = Command(template=str(path), repo=str(repo), python=str(python))
    with pytest.raises(CommandError, match=r"(?s)exited with code 1.*IndexError: list index out of range"):
        model.generate([job_of(benches[8], tmp_path)])


def test_mimicmotion_refuses_fast_videos(tmp_path) -> None:
    bench = synth(tmp_path / "b", frames=4, fps=60)
    model = Command(template="mimicmotion", repo="/")
    with pytest.raises(RefusedError, match=r"at 60 fps\): the release's driving-frame stride would be 2 \(sample_s"):
        model.check(job_of(bench, tmp_path))


# ------------------------------------------------------------------------------------------------
# Expressions and the schema


def test_expressions_follow_python_arithmetic() -> None:
    known = {"frames", "fps", "tile"}

    def run(text, **values):
        return compile_expression(text, known, "test").evaluate(values)

    assert run("int({frames} / float({fps}) * float({fps}))", frames=123, fps=Fraction(15)) == 122  # float, as Wan
    assert run("int({frames} / {fps} * {fps})", frames=123, fps=Fraction(15)) == 123  # exact with Fractions
    assert run("min({tile}, {frames} + 1)", tile=72, frames=8) == 9
    assert run("'a' if {frames} > 81 else 'b'", frames=82) == "a"
    assert run("({frames} + 2) // 4 * 4 + 1", frames=123) == 125
    assert run("int(round(256 * (512 / min(256, 192)) / 64)) * 64") == 704
    assert show(Fraction(30000, 1001)) == "30000/1001" and show(Fraction(15)) == "15" and show(True) == "True"
    for bad in ("frames + 1", "{frames}.bit_length()", "__import__('os')", "{frames} ** 2", "[1][0]", "open('x')"):
        with pytest.raises(ExpressionError, match="not allowed"):
            compile_expression(bad, known, "test")
    with pytest.raises(ExpressionError, match=r"uses \{nope\}"):
        compile_expression("{nope} + 1", known, "test")
    with pytest.raises(ExpressionError, match="failed with frames=0"):
        compile_expression("1 // {frames}", known, "test").evaluate({"frames": 0})


def test_schema_errors_name_the_spot(tmp_path) -> None:
    def load(doc):
        path = tmp_path / "t.yaml"
        path.write_text(yaml.safe_dump({"name": "t", "command": "{python} x", **doc}))
        return load_template(str(path))

    with pytest.raises(TemplateError, match=r"derive\.steps: derived names must be identifiers"):
        load({"defaults": {"steps": 2}, "derive": {"steps": "{frames}"}})
    with pytest.raises(TemplateError, match=r"length\.rule: one line"):
        load({"length": {"max": 81}})
    with pytest.raises(TemplateError, match=r"length\.refuse\[0\]: needs if"):
        load({"length": {"rule": "r", "refuse": [{"if": "{frames} > 1"}]}})
    with pytest.raises(TemplateError, match=r"derive\.b: .*uses \{c\}"):
        load({"derive": {"b": "{c} + 1", "c": "{frames}"}})  # derived names are known only after their line
    with pytest.raises(TemplateError, match=r"inputs\.pose_video\.draw_size: \[width, height\]"):
        load({"inputs": {"pose_video": {"draw_size": 512}}})
    template = load({"derive": {"half": "{frames} // 2"}, "command": "{python} x {half}"})
    assert [name for name, _ in template.derive] == ["half"] and "half" in template.used


def test_templates_without_a_length_rule_keep_their_old_behaviour(benches, tmp_path) -> None:
    """No length section: no refusal, no count check (the runner still checks the frame count)."""
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump({"name": "plain", "command": "{python} -c pass"}))
    model = Command(template=str(path), python=sys.executable)
    model.check(job_of(benches[123], tmp_path))
    assert model.preview(job_of(benches[8], tmp_path))["refused"] is None


@pytest.mark.parametrize("name", sorted(FAKES))
def test_every_shipped_template_states_its_length_rule(name) -> None:
    template = load_template(name)
    assert template.length is not None and template.length.writes is not None and len(template.length.rule) > 40
    for kind in ("pose_video", "pose_frames"):
        if kind in template.inputs:
            assert template.inputs[kind]["draw_size"] is not None, "say where the release draws its skeletons"
            assert any("draw" in fact and fact.startswith("[code]") for fact in template.doc["facts"])
