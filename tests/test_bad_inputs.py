"""Bad inputs, one table: `lpsr upscale`, `lpsr eval`, `lpsr train` and the configuration.

Each case builds its inputs in a fresh folder, runs `lpsr.cli.main` in-process and asserts the
exit status, the one line that names the problem (on stderr; for a command that succeeds, the
line that says what it skipped or recovered), that nothing printed a traceback, that no file
there before was changed (but those a case recovers by design), and that no temporary file was
left behind. Cases on a read-only or full filesystem mount a small tmpfs, which needs root;
elsewhere they are skipped, saying so.
"""

from __future__ import annotations

import argparse
import errno
import fnmatch
import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from lpsr.cli import main
from lpsr.data.ccpd import ccpd_name

FRAME_SIZE = (128, 64)  # w, h
PLATE = ((120, 56), (8, 56), (8, 8), (120, 8))  # RB, LB, LT, RT: a 112x48 plate
TINY = "model.options={channels: 8, blocks: 1, growth: 8, reduction: 4}"
# A 4-iteration run on the tiny data below, validated at 2 and 4.
TRAIN = [
    "train",
    "--profile",
    "smoke",
    "--quiet",
    "--set",
    "data.patch_size=32",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.iterations=4",
    "--set",
    "train.val_every=2",
    "--set",
    "train.val_early=false",
]


def write_frame(folder: Path, seed: int, vertices=PLATE) -> Path:
    """A CCPD-named frame of noise (so that no plate is blank) with its plate at `vertices`."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (FRAME_SIZE[1], FRAME_SIZE[0], 3), dtype=np.uint8)
    path = folder / ccpd_name(vertices, (0, 0, 1, 2, 3, 4, 5), prefix=f"{seed:03d}")
    Image.fromarray(pixels).save(path)
    return path


def file(path: Path, data: bytes | str = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_plate(path: Path, size=(24, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims `width` x `height` pixels in a few bytes: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def eval_args(data: Path, model, out: Path) -> list:
    return ["eval", "--data", data, "--split", "all", "--model", model, "--out", out]


def frames(tmp: Path, good: int = 3, bad_file: tuple[str, bytes] | None = None, **bad_vertices) -> Path:
    """A folder of `good` frames, one frame per named plate position in `bad_vertices`, and
    `bad_file` (name, content)."""
    root = folder(tmp / "frames")
    for seed in range(good):
        write_frame(root, seed)
    for seed, vertices in enumerate(bad_vertices.values(), start=100):
        write_frame(root, seed, vertices)
    if bad_file:
        file(root / bad_file[0], bad_file[1])
    return root


FRAME_NAME = "1-90_90-8&8_120&56-120&56_8&56_8&8_120&8-0_0_1_2_3_4_5-100-0"  # a CCPD name for a bad file among frames


class Fixtures:
    """What cases build on: the tiny CCPD root, a finished run and the same run stopped at its
    first validation (iteration 2), tmpfs mounts."""

    def __init__(self, ccpd: Path, stopped: Path, run: Path, monkeypatch):
        self.ccpd, self.stopped, self.run, self.monkeypatch = ccpd, stopped, run, monkeypatch
        self.mounts: list[Path] = []

    def copy_run(self, tmp: Path, run: Path, drop=()) -> Path:
        """A run folder copied into `tmp/runs`, without the files in `drop`."""
        copy = shutil.copytree(run, tmp / "runs" / run.name)
        for name in drop:
            (copy / name).unlink()
        return copy

    def train_args(self, tmp: Path) -> list:
        """The command line that trained the run, with `tmp/runs` as the runs folder."""
        return [*TRAIN, "--set", TINY, "--data", self.ccpd, "--runs", tmp / "runs"]

    def checkpoint(self, tmp: Path, edit: Callable[[dict], dict]) -> Path:
        """The run's best.pt, edited, saved outside any run folder."""
        state = edit(torch.load(self.run / "best.pt", weights_only=True))
        torch.save(state, tmp / "edited.pt")
        return tmp / "edited.pt"

    def tmpfs(self, path: Path, size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("a read-only or full filesystem is a small tmpfs, and mounting one needs root")
        path.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
        )
        if mounted.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        self.mounts.append(path)
        return path

    def read_only(self, path: Path) -> Path:
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    def full(self, path: Path) -> Path:
        """Fill a tmpfs to its last byte."""
        with open(path / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        return path

    def unmount(self) -> None:
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture(scope="module")
def ccpd(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ccpd")
    for seed in range(8):
        write_frame(root / "train", seed)
    for seed in range(8, 10):
        write_frame(root / "val", seed)
    for seed in range(10, 13):
        write_frame(root / "test", seed)
    return root


@pytest.fixture(scope="module")
def runs(ccpd, tmp_path_factory) -> tuple[Path, Path]:
    """(stopped, finished): a tiny run stopped by SIGTERM at its first validation, and a copy of
    it resumed to the end."""
    stopped_runs, finished_runs = tmp_path_factory.mktemp("stopped"), tmp_path_factory.mktemp("finished")
    args = [*TRAIN, "--set", TINY, "--data", str(ccpd)]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _stop_at_first_validation(monkeypatch)
        with pytest.raises(SystemExit):
            main([*args, "--runs", str(stopped_runs)])
    (stopped,) = stopped_runs.iterdir()
    finished = shutil.copytree(stopped, finished_runs / stopped.name)
    main([*args, "--runs", str(finished_runs)])
    assert (finished / "done.json").is_file() and not (stopped / "done.json").exists()
    return stopped, finished


@pytest.fixture
def fixtures(ccpd, runs, monkeypatch):
    fixtures = Fixtures(ccpd, *runs, monkeypatch)
    yield fixtures
    fixtures.unmount()


@dataclass
class Case:
    id: str
    build: Callable[[Path, Fixtures], list]  # makes the inputs under the case folder; returns the command line
    status: int
    line: str  # a regular expression the line naming the problem matches
    recovers: tuple[str, ...] = ()  # globs (from the case folder) of files the command rewrites by design
    check: Callable[[Path], None] | None = None  # more assertions on the case folder afterwards


def _stop_at_first_validation(monkeypatch) -> None:
    """A real SIGTERM to this process at the first validation."""
    import lpsr.training.train as train_module

    validate = train_module.validate

    def validate_then_terminate(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return validate(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", validate_then_terminate)


def _torn_log(tmp: Path, fx: Fixtures) -> list:
    run = fx.copy_run(tmp, fx.stopped)
    with open(run / "log.jsonl", "a", encoding="utf-8") as log:
        log.write('{"iteration": 3, "lo')  # a crash in the middle of a line
    return fx.train_args(tmp)


def _empty_last(tmp: Path, fx: Fixtures, keep_previous: bool) -> list:
    run = fx.copy_run(tmp, fx.stopped)
    if keep_previous:
        shutil.copy(run / "last.pt", run / "previous.pt")
    (run / "last.pt").write_bytes(b"")  # as a power cut before the data reached the disk leaves it
    return fx.train_args(tmp)


def _assert_finished_whole(tmp: Path) -> None:
    from lpsr.files import load_checkpoint
    from lpsr.training.runs import read_log

    (run,) = (tmp / "runs").iterdir()
    steps, vals = read_log(run)
    assert (run / "done.json").is_file() and load_checkpoint(run / "last.pt")["iteration"] == 4
    assert [s["iteration"] for s in steps] == [1, 2, 3, 4] and [v["iteration"] for v in vals] == [2, 4]


def _previous_results(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "per_plate.csv").write_text(
        "file,plate,width,height,psnr\nold.jpg,皖A12345,112,48,20.0000\n", encoding="utf-8"
    )
    (out / "summary.json").write_text('{"method": "old", "n": 1}', encoding="utf-8")
    return out


def _mismatched(state: dict) -> dict:
    return state | {
        "model_config": state["model_config"] | {"options": state["model_config"]["options"] | {"channels": 16}}
    }


def _assert_dark(tmp: Path) -> None:
    assert np.asarray(Image.open(tmp / "out" / "deep.png")).max() <= 2  # 200 of 65535 is black, not 200 of 255


def _assert_written(*names: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        for name in names:
            assert Image.open(tmp / "out" / name).size[0] > 0, name

    return check


def _assert_scored_rows_equal_n(tmp: Path) -> None:
    import json

    summary = json.loads((tmp / "out" / "summary.json").read_text())
    rows = (tmp / "out" / "per_plate.csv").read_text().splitlines()[1:]
    assert summary["n"] == len(rows) == 3 and np.isfinite(summary["psnr_median"]) and "inf" not in "".join(rows)


def _config_case(id: str, setting: str, line: str) -> Case:
    return Case(
        id,
        lambda tmp, fx: ["train", "--profile", "smoke", "--quiet", "--runs", tmp / "runs", "--set", setting],
        2,
        line,
    )


def _yaml_case(id: str, text: str, line: str) -> Case:
    def build(tmp: Path, fx: Fixtures) -> list:
        (tmp / "run.yaml").write_text(text, encoding="utf-8")
        return ["train", "--profile", "smoke", "--quiet", "--runs", tmp / "runs", "--config", tmp / "run.yaml"]

    return Case(id, build, 2, line)


def _upscale(tmp: Path, source: Path, output: Path | None = None, model="bicubic", *flags) -> list:
    return ["upscale", source, output or tmp / "out", "--model", model, *flags]


def _deep_png(path: Path, value: int) -> Path:
    Image.fromarray(np.full((12, 24), value, np.uint16)).save(path)
    return path


UPSCALE = [
    Case(
        "upscale-output-is-the-input",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "in" / "same.png"), tmp / "in" / "same.png"),
        2,
        r"same\.png is the input: its images would be overwritten",
    ),
    Case(
        "upscale-folder-into-itself",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "in" / "a.png").parent, tmp / "in"),
        2,
        r"in is the input: its images would be overwritten",
    ),
    Case(
        "upscale-file-into-its-own-folder",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "in" / "a.png"), tmp / "in"),
        2,
        r"a\.png is an input: it would be overwritten",
    ),
    Case(
        "upscale-two-inputs-of-one-name",
        lambda tmp, fx: _upscale(tmp, [write_plate(tmp / "in" / name) for name in ("a.jpg", "a.png")][0].parent),
        0,
        r"a\.png -> .*a\.png\.png",
        check=_assert_written("a.jpg.png", "a.png.png"),
    ),
    Case(
        "upscale-three-inputs-onto-one-output",
        lambda tmp, fx: _upscale(
            tmp, [write_plate(tmp / "in" / name) for name in ("a.jpg", "a.png", "a.jpg.png")][0].parent
        ),
        2,
        r"a\.jpg\.png: several inputs would be written there",
    ),
    Case(
        "upscale-output-named-jpg",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), tmp / "result.jpg"),
        2,
        r"result\.jpg: the output is a PNG image; name it \.png or give a folder",
    ),
    Case(
        "upscale-output-an-existing-text-file",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), file(tmp / "notes.txt", "keep")),
        2,
        r"notes\.txt: the output is a PNG image",
    ),
    Case(
        "upscale-folder-to-a-file",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "in" / "a.png").parent, file(tmp / "out.txt", "keep")),
        2,
        r"out\.txt: a folder of images is written into a folder, not a file",
    ),
    Case(
        "upscale-folder-to-an-image-name",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "in" / "a.png").parent, tmp / "result.jpg"),
        2,
        r"result\.jpg: a folder of images is written into a folder",
    ),
    Case("upscale-missing-input", lambda tmp, fx: _upscale(tmp, tmp / "nope.png"), 2, r"nope\.png does not exist"),
    Case(
        "upscale-folder-without-images",
        lambda tmp, fx: _upscale(tmp, file(tmp / "in" / "notes.txt", "x").parent),
        2,
        r"in holds no images \(\.jpg, \.jpeg, \.png\)",
    ),
    Case(
        "upscale-decompression-bomb-in-a-folder",
        lambda tmp, fx: _upscale(
            tmp, (write_plate(tmp / "in" / "good.png"), png_header(tmp / "in" / "bomb.png", 20000, 20000))[0].parent
        ),
        1,
        r"bomb\.png: cannot read as an image \(Image size \(400000000 pixels\) exceeds limit",
        check=_assert_written("good.png"),
    ),
    Case(
        "upscale-16-bit-dark-png",
        lambda tmp, fx: _upscale(tmp, _deep_png(tmp / "deep.png", 200)),
        0,
        r"deep\.png -> .*deep\.png \(24x12 -> 192x96\)",
        check=_assert_dark,
    ),
    Case(
        "upscale-garbage-image-in-a-folder",
        lambda tmp, fx: _upscale(
            tmp, (write_plate(tmp / "in" / "good.png"), file(tmp / "in" / "broken.jpg", b"not an image"))[0].parent
        ),
        1,
        r"broken\.jpg: cannot read as an image",
        check=_assert_written("good.png"),
    ),
    Case(
        "upscale-empty-image-file",
        lambda tmp, fx: _upscale(tmp, file(tmp / "empty.png")),
        1,
        r"empty\.png: cannot read as an image",
    ),
    Case(
        "upscale-too-large-image",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "wide.png", (2100, 8))),
        1,
        r"wide\.png: 2100x8 is too large \(over 2048 px a side\)",
    ),
    Case(
        "upscale-ccpd-frame-vertices-far-outside",
        lambda tmp, fx: _upscale(
            tmp,
            write_frame(tmp / "in", 1, ((999999, 999999), (8, 999999), (8, 8), (999999, 8))),
            None,
            "bicubic",
            "--ccpd-frame",
        ),
        1,
        r"plate corners \(999999, 999999\), \(8, 999999\), \(999999, 8\) lie outside the 128x64 frame",
    ),
    Case(
        "upscale-ccpd-frame-3x3-plate",
        lambda tmp, fx: _upscale(
            tmp, write_frame(tmp / "in", 1, ((13, 13), (10, 13), (10, 10), (13, 10))), None, "bicubic", "--ccpd-frame"
        ),
        1,
        r"plate 0x0 is under 16 px a side",
    ),
    Case(
        "upscale-ccpd-frame-bad-name",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, "bicubic", "--ccpd-frame"),
        1,
        r"plate\.png: expected 7 '-'-separated fields",
    ),
    Case(
        "upscale-ccpd-frame",
        lambda tmp, fx: _upscale(tmp, write_frame(tmp / "in", 1), None, "bicubic", "--ccpd-frame"),
        0,
        r"-> .*\(112x48 -> 896x384\)",
    ),
    Case(
        "upscale-garbage-checkpoint",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, file(tmp / "model.pt", b"garbage" * 9)),
        2,
        r"checkpoint .*model\.pt cannot be read: it is not a PyTorch checkpoint$",
    ),
    Case(
        "upscale-empty-checkpoint",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, file(tmp / "model.pt")),
        2,
        r"model\.pt cannot be read: the file is empty or cut short$",
    ),
    Case(
        "upscale-truncated-checkpoint",
        lambda tmp, fx: _upscale(
            tmp, write_plate(tmp / "plate.png"), None, file(tmp / "model.pt", (fx.run / "best.pt").read_bytes()[:5000])
        ),
        2,
        r"model\.pt cannot be read: it is cut short or corrupt \(\[Errno 22\] Invalid argument\)$",
    ),
    Case(
        "upscale-checkpoint-of-another-program",
        lambda tmp, fx: _upscale(
            tmp, write_plate(tmp / "plate.png"), None, fx.checkpoint(tmp, lambda state: {"state_dict": state["model"]})
        ),
        2,
        r"edited\.pt is not an lpsr checkpoint \(it holds no model_config and model weights\)",
    ),
    Case(
        "upscale-checkpoint-with-objects",
        lambda tmp, fx: _upscale(
            tmp,
            write_plate(tmp / "plate.png"),
            None,
            fx.checkpoint(tmp, lambda state: state | {"args": argparse.Namespace(lr=1)}),
        ),
        2,
        r"edited\.pt cannot be read: it holds a argparse\.Namespace object, which weights_only loading refuses$",
    ),
    Case(
        "upscale-checkpoint-config-not-its-weights",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, fx.checkpoint(tmp, _mismatched)),
        2,
        r"edited\.pt: its weights do not fit its model_config \(lpsr, options .*'channels': 16",
    ),
    Case(
        "upscale-checkpoint-of-an-unknown-model",
        lambda tmp, fx: _upscale(
            tmp,
            write_plate(tmp / "plate.png"),
            None,
            fx.checkpoint(tmp, lambda state: state | {"model_config": state["model_config"] | {"name": "nope"}}),
        ),
        2,
        r"edited\.pt: its model_config is not one lpsr builds \(model\.name must be one of bicubic, lpsr",
    ),
    Case(
        "upscale-missing-checkpoint",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, tmp / "nope.pt"),
        2,
        r"checkpoint .*nope\.pt does not exist",
    ),
    Case(
        "upscale-unfinished-run",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), None, fx.copy_run(tmp, fx.stopped)),
        0,
        r"^warning: .* is an unfinished run \(no done\.json\): its best\.pt is from before it stopped",
    ),
    Case(
        "upscale-run-stopped-before-validating",
        lambda tmp, fx: _upscale(
            tmp, write_plate(tmp / "plate.png"), None, fx.copy_run(tmp, fx.stopped, drop=["best.pt"])
        ),
        2,
        r"checkpoint .*best\.pt does not exist",
    ),
    Case(
        "upscale-read-only-output",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), fx.read_only(fx.tmpfs(tmp / "out", "1m"))),
        1,
        r"out/plate\.png: cannot write it \(Read-only file system\)",
    ),
    Case(
        "upscale-full-disk",
        lambda tmp, fx: _upscale(tmp, write_plate(tmp / "plate.png"), fx.full(fx.tmpfs(tmp / "out", "64k"))),
        1,
        r"out/plate\.png: cannot write it \(No space left on device\)",
    ),
]

FAR = ((999999, 999999), (8, 999999), (8, 8), (999999, 8))
EVAL = [
    Case(
        "eval-plate-outside-the-frame",
        lambda tmp, fx: eval_args(
            frames(tmp, outside=((200, 90), (150, 90), (150, 70), (200, 70))), "bicubic", tmp / "out"
        ),
        0,
        r"skipped 1 of 4 frames \(.*1 plates outside the frame",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-plate-vertices-at-999999",
        lambda tmp, fx: eval_args(frames(tmp, far=FAR), "bicubic", tmp / "out"),
        0,
        r"skipped 1 of 4 frames .*lie outside the 128x64 frame",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-plate-partly-outside",
        lambda tmp, fx: eval_args(frames(tmp, partly=((140, 56), (8, 56), (8, 8), (140, 8))), "bicubic", tmp / "out"),
        0,
        r"skipped 1 of 4 frames .*plate corners \(140, 56\), \(140, 8\) lie outside",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-undecodable-frame",
        lambda tmp, fx: eval_args(frames(tmp, bad_file=(FRAME_NAME + ".jpg", b"junk")), "bicubic", tmp / "out"),
        0,
        r"skipped 1 of 4 frames \(0 missing, 0 unparsable names, 1 undecodable images",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-decompression-bomb-frame",
        lambda tmp, fx: eval_args(
            (frames(tmp), png_header(tmp / "frames" / (FRAME_NAME + ".png"), 40000, 40000))[0], "bicubic", tmp / "out"
        ),
        0,
        r"skipped 1 of 4 frames \(0 missing, 0 unparsable names, 1 undecodable images",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-tiny-plate",
        lambda tmp, fx: eval_args(frames(tmp, tiny=((13, 13), (10, 13), (10, 10), (13, 10))), "bicubic", tmp / "out"),
        0,
        r"skipped 1 of 4 frames .*1 plates too small",
        check=_assert_scored_rows_equal_n,
    ),
    Case(
        "eval-no-usable-frame",
        lambda tmp, fx: eval_args(frames(tmp, good=0, far=FAR), "bicubic", tmp / "out"),
        2,
        r"no usable frames under .*frames for split 'all'",
    ),
    Case(
        "eval-folder-without-frames",
        lambda tmp, fx: eval_args(folder(tmp / "frames"), "bicubic", tmp / "out"),
        2,
        r"no image files found for split 'all' under .*frames",
    ),
    Case(
        "eval-missing-data",
        lambda tmp, fx: eval_args(tmp / "nope", "bicubic", tmp / "out"),
        2,
        r"CCPD root .*nope does not exist",
    ),
    Case(
        "eval-out-is-a-file",
        lambda tmp, fx: eval_args(frames(tmp), "bicubic", file(tmp / "out.csv", "keep")),
        2,
        r"--out .*out\.csv is a file, not a folder",
    ),
    Case(
        "eval-garbage-checkpoint",
        lambda tmp, fx: eval_args(frames(tmp), file(tmp / "best.pt", b"garbage" * 9), tmp / "out"),
        2,
        r"best\.pt cannot be read: it is not a PyTorch checkpoint$",
    ),
    Case(
        "eval-empty-best-checkpoint-of-a-run",
        lambda tmp, fx: eval_args(frames(tmp), file(fx.copy_run(tmp, fx.run) / "best.pt").parent, tmp / "out"),
        2,
        r"best\.pt cannot be read: the file is empty or cut short$",
    ),
    Case(
        "eval-checkpoint-of-another-program",
        lambda tmp, fx: eval_args(
            frames(tmp), fx.checkpoint(tmp, lambda state: {"model": state["model"]}), tmp / "out"
        ),
        2,
        r"edited\.pt is not an lpsr checkpoint",
    ),
    Case(
        "eval-checkpoint-config-not-its-weights",
        lambda tmp, fx: eval_args(frames(tmp), fx.checkpoint(tmp, _mismatched), tmp / "out"),
        2,
        r"edited\.pt: its weights do not fit its model_config",
    ),
    Case(
        "eval-checkpoint-of-another-scale",
        lambda tmp, fx: eval_args(
            frames(tmp),
            fx.checkpoint(tmp, lambda state: state | {"model_config": state["model_config"] | {"scale": 4}}),
            tmp / "out",
        ),
        2,
        r"edited\.pt is a x4 model; the data protocol asks for x8",
    ),
    Case(
        "eval-unfinished-run",
        lambda tmp, fx: eval_args(fx.ccpd, fx.copy_run(tmp, fx.stopped), tmp / "out"),
        0,
        r"^warning: .* is an unfinished run \(no done\.json\)",
    ),
    Case(
        "eval-read-only-out-keeps-previous-results",
        lambda tmp, fx: eval_args(frames(tmp), "bicubic", fx.read_only(_previous_results(fx.tmpfs(tmp / "out", "1m")))),
        2,
        r"out/per_plate\.csv: Read-only file system$",
    ),
    Case(
        "eval-full-disk-keeps-previous-results",
        lambda tmp, fx: eval_args(frames(tmp), "bicubic", fx.full(_previous_results(fx.tmpfs(tmp / "out", "64k")))),
        2,
        r"out/per_plate\.csv: No space left on device$",
    ),
    Case(
        "eval-read-only-cache",
        lambda tmp, fx: (
            fx.monkeypatch.setenv("LPSR_CACHE", str(fx.read_only(fx.tmpfs(tmp / "cache", "1m")))),
            eval_args(frames(tmp), "bicubic", tmp / "out"),
        )[1],
        2,
        r"cache/plates: Read-only file system$",
    ),
]

TRAIN_CASES = [
    Case(
        "train-stopped-by-sigterm",
        lambda tmp, fx: (_stop_at_first_validation(fx.monkeypatch), fx.train_args(tmp))[1],
        143,
        r"^lpsr train: stopped by SIGTERM at iteration 2; .*last\.pt holds it: run the same command to resume$",
    ),
    Case(
        "train-resumes-past-a-torn-log-line",
        _torn_log,
        0,
        r"log\.jsonl: dropped 1 torn line \(cut short by a crash\)$",
        recovers=("runs/*",),
        check=_assert_finished_whole,
    ),
    Case(
        "train-empty-last-checkpoint-falls-back",
        lambda tmp, fx: _empty_last(tmp, fx, keep_previous=True),
        0,
        r"last\.pt cannot be read: the file is empty or cut short: resuming from previous\.pt$",
        recovers=("runs/*",),
        check=_assert_finished_whole,
    ),
    Case(
        "train-empty-last-checkpoint-starts-over",
        lambda tmp, fx: _empty_last(tmp, fx, keep_previous=False),
        0,
        r"last\.pt cannot be read: the file is empty or cut short: no whole checkpoint is left, training starts over$",
        recovers=("runs/*",),
        check=_assert_finished_whole,
    ),
    Case(
        "train-runs-is-a-file",
        lambda tmp, fx: [*TRAIN, "--data", fx.ccpd, "--runs", file(tmp / "runs", "keep")],
        2,
        r"--runs .*runs is a file, not a folder$",
    ),
    Case(
        "train-missing-data",
        lambda tmp, fx: [*TRAIN, "--data", tmp / "nope", "--runs", tmp / "runs"],
        2,
        r"CCPD root .*nope does not exist",
    ),
    Case(
        "train-read-only-runs",
        lambda tmp, fx: [
            *TRAIN,
            "--set",
            TINY,
            "--data",
            fx.ccpd,
            "--runs",
            fx.read_only(fx.tmpfs(tmp / "runs", "1m")),
        ],
        2,
        r"runs/lpsr-mse-\w+: Read-only file system$",
    ),
    Case(
        "train-read-only-cache",
        lambda tmp, fx: (
            fx.monkeypatch.setenv("LPSR_CACHE", str(fx.read_only(fx.tmpfs(tmp / "cache", "1m")))),
            [*TRAIN, "--data", fx.ccpd, "--runs", tmp / "runs"],
        )[1],
        2,
        r"cache/plates: Read-only file system$",
    ),
    # the default model's checkpoint (8 MB) does not fit in 1 MB: the first one, best.pt at the first validation
    Case(
        "train-full-disk-while-checkpointing",
        lambda tmp, fx: [*TRAIN, "--data", fx.ccpd, "--runs", fx.tmpfs(tmp / "runs", "1m")],
        2,
        r"runs/lpsr-mse-\w+/best\.pt: No space left on device$",
    ),
]

CONFIG = [
    _yaml_case(
        "config-yaml-syntax-error",
        "train:\n  lr: [1e-4\n",
        r"configuration file .*run\.yaml is not valid YAML: line 3, column 1: expected ',' or ']'",
    ),
    _yaml_case(
        "config-yaml-list",
        "- train\n- model\n",
        r"run\.yaml must hold a mapping of sections \(data, model, loss, train\), not a list",
    ),
    _yaml_case("config-yaml-scalar", "fast\n", r"run\.yaml must hold a mapping of sections .*, not a str"),
    _yaml_case(
        "config-yaml-unknown-section",
        "optimizer:\n  lr: 1\n",
        r"unknown setting optimizer; known: data, model, loss, train$",
    ),
    _yaml_case("config-yaml-section-not-a-mapping", "train: 5\n", r"train is a section; give it a mapping"),
    _yaml_case("config-yaml-bad-value", "train:\n  batch_size: 0\n", r"train\.batch_size must be at least 1, got 0"),
    Case(
        "config-file-missing",
        lambda tmp, fx: ["train", "--profile", "smoke", "--runs", tmp / "runs", "--config", tmp / "nope.yaml"],
        2,
        r"configuration file .*nope\.yaml does not exist",
    ),
    _config_case(
        "config-override-without-value", "train.lr", r"override 'train\.lr' is not of the form section\.field=value"
    ),
    _config_case("config-override-bad-yaml", "train.lr=[", r"the value of override 'train\.lr=\[' is not valid YAML"),
    _config_case(
        "config-unknown-setting", "train.nope=1", r"unknown setting train\.nope; known: iterations, batch_size"
    ),
    _config_case("config-setting-below-a-setting", "train.lr.x=1", r"train\.lr must be a number, got \{'x': 1\}"),
    _config_case("config-batch-size-0", "train.batch_size=0", r"train\.batch_size must be at least 1, got 0"),
    _config_case("config-batch-size-negative", "train.batch_size=-3", r"train\.batch_size must be at least 1, got -3"),
    _config_case(
        "config-batch-size-fraction", "train.batch_size=2.5", r"train\.batch_size must be an integer, got 2\.5"
    ),
    _config_case("config-iterations-0", "train.iterations=0", r"train\.iterations must be at least 1, got 0"),
    _config_case("config-iterations-negative", "train.iterations=-5", r"train\.iterations must be at least 1, got -5"),
    _config_case("config-val-every-0", "train.val_every=0", r"train\.val_every must be at least 1, got 0"),
    _config_case("config-threads-negative", "train.threads=-1", r"train\.threads must be at least 0, got -1"),
    _config_case("config-lr-0", "train.lr=0", r"train\.lr must be above 0, got 0\.0"),
    _config_case("config-lr-not-a-number", "train.lr=fast", r"train\.lr must be a number, got 'fast'"),
    _config_case("config-warmup-negative", "train.warmup=-1", r"train\.warmup must be at least 0, got -1"),
    _config_case("config-seed-negative", "train.seed=-1", r"train\.seed must be in \[0, 2\^32\), got -1"),
    _config_case(
        "config-device-unknown", "train.device=gpu", r"train\.device must be auto, cpu, mps, cuda or cuda:N, got 'gpu'"
    ),
    _config_case(
        "config-flag-not-a-bool", "train.val_early=maybe", r"train\.val_early must be true or false, got 'maybe'"
    ),
    _config_case("config-divergence-below-1", "train.divergence=0.5", r"train\.divergence must be above 1"),
    _config_case("config-grad-clip-negative", "train.grad_clip=-1", r"train\.grad_clip must be at least 0, got -1"),
    _config_case("config-unknown-model", "model.name=nope", r"model\.name must be one of bicubic, lpsr, srcnn"),
    _config_case("config-unsupported-scale", "model.scale=3", r"model\.scale must be one of 2, 4, 8, got 3"),
    _config_case(
        "config-unknown-model-option",
        "model.options={depth: 4}",
        r"model\.options must be keyword arguments of lpsr \(channels, blocks, growth, reduction, alpha_init, init_scale\), got \{'depth': 4\}",
    ),
    _config_case(
        "config-model-options-not-a-mapping", "model.options=[4]", r"model\.options must be a mapping, got \[4\]"
    ),
    _config_case("config-unknown-loss", "loss.name=l1", r"loss\.name must be one of mse, pecl, esrgan, text, got 'l1'"),
    _config_case(
        "config-unknown-reading",
        "loss.reading=negative",
        r"loss\.reading must be one of paper, positive, positive-linear, got 'negative'",
    ),
    _config_case(
        "config-unknown-weighting",
        "loss.weighting=learned",
        r"loss\.weighting must be one of fixed, paper, uncertainty",
    ),
    _config_case("config-unknown-distance", "loss.distance=l3", r"loss\.distance must be one of l1, l2, got 'l3'"),
    _config_case(
        "config-unknown-encoder-init",
        "loss.encoder_init=vgg",
        r"loss\.encoder_init must be one of imagenet, path, random, plates",
    ),
    _config_case("config-w-pixel-above-1", "loss.w_pixel=1.5", r"loss\.w_pixel must be in \[0, 1\], got 1\.5"),
    _config_case("config-embedding-dim-0", "loss.dim=0", r"loss\.dim must be at least 1, got 0"),
    Case(
        "config-gan-start-leaves-no-gan-phase",
        lambda tmp, fx: [
            "train",
            "--profile",
            "smoke",
            "--method",
            "esrgan",
            "--runs",
            tmp / "runs",
            "--set",
            "loss.gan_start=1",
        ],
        2,
        r"loss\.gan_start must be in \[0, 1\) with loss\.gan_select gan",
    ),
    _config_case(
        "config-encoder-path-missing",
        "loss={name: pecl, encoder_init: path}",
        r"loss\.encoder_path must be a weights file when loss\.encoder_init is path, got None",
    ),
    _config_case("config-unknown-crop", "data.crop=square", r"data\.crop must be one of rectified, bbox, got 'square'"),
    _config_case(
        "config-unknown-kernel", "data.kernel=lanczos", r"data\.kernel must be one of bicubic, area, got 'lanczos'"
    ),
    _config_case(
        "config-patch-size-off-the-scale",
        "data.patch_size=60",
        r"data\.patch_size must be a positive multiple of model\.scale \(8\), got 60",
    ),
    _config_case(
        "config-no-synthetic-frames", "data.synthetic_frames=0", r"data\.synthetic_frames must be at least 1, got 0"
    ),
    _config_case(
        "config-data-root-not-a-path", "data.root=[a, b]", r"data\.root must be a string or null, got \['a', 'b'\]"
    ),
]

CASES = UPSCALE + EVAL + TRAIN_CASES + CONFIG


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_matrix_has_its_cases():
    assert len(CASES) >= 60 and len({case.id for case in CASES}) == len(CASES)
    for command in ("upscale", "eval", "train", "config"):
        assert sum(case.id.startswith(command) for case in CASES) >= 5, command


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, tmp_path, fixtures, capsys):
    args = [str(arg) for arg in case.build(tmp_path, fixtures)]
    before = _snapshot(tmp_path)
    capsys.readouterr()
    try:
        main(args)
        status = 0
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    assert status == case.status, f"exit {status}\n{out}\n{err}"
    if status:
        lines = [line for line in err.splitlines() if line.startswith(f"lpsr {args[0]}:")]
        assert len(lines) == 1 and re.search(case.line, lines[0]), err
    else:
        assert any(re.search(case.line, line) for line in (out + err).splitlines()), out + err
    after = _snapshot(tmp_path)
    changed = [
        p
        for p, digest in before.items()
        if after.get(p) != digest and not any(fnmatch.fnmatch(p, glob) for glob in case.recovers)
    ]
    assert not changed, f"changed or removed: {changed}"
    assert not [p for p in after if p.endswith(".tmp")], "a temporary file was left"
    if case.check:
        case.check(tmp_path)
