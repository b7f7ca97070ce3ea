"""A camera that retrying cannot fix gives up at once, through the CLI (issue 11).

The README promises that 403 and an unsupported codec end a camera "at once with one line
(exit 1 when it is the only camera)". Both come from a real RTSP server (``tests/rtsp_server.py``):
``--forbid`` answers DESCRIBE with 403, ``--pattern /x=jpeg2000`` sends JPEG 2000 over RTP
(RFC 5371), a video codec FFmpeg has no depacketizer, hence no decoder, for.

Without ``--retries`` a network camera retries for ever, so a case wrongly taken for a passing
failure never ends: the subprocess is bounded and the test then fails saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtsp import car_camera_clip, gst_elements_missing, rtsp_server  # noqa: F401 - fixtures

PASSWORD = "s3cret-pw"
# What the jpeg2000 pattern mount needs on the server's side (tests/rtsp_server.py PATTERNS).
JPEG2000_ELEMENTS = ("videotestsrc", "avenc_jpeg2000", "jpeg2000parse", "rtpj2kpay")


def give_up_run(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``streamer run URL -q`` (no detector, no video), bounded; (result, seconds it took)."""
    argv = [sys.executable, "-m", "streamer.cli", "run", url, "-q", "--no-detect", "--no-video",
            "--out-dir", str(tmp_path), "--open-timeout", "3", "--stall-timeout", "3"]
    t0 = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"still running after 40 s (retrying for ever?); stderr:\n{err}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), time.monotonic() - t0


@pytest.mark.parametrize("case", ["forbidden_403", "codec_without_decoder"])
def test_camera_gives_up_with_one_line_and_exit_1(rtsp_server, car_camera_clip: Path, tmp_path: Path,  # noqa: F811
                                                   case: str) -> None:
    if case == "codec_without_decoder":
        missing = gst_elements_missing(JPEG2000_ELEMENTS)
        if missing:
            pytest.skip(f"GStreamer elements missing for the JPEG 2000 mount: {missing}")
    server = rtsp_server({"/cam": car_camera_clip}, patterns={"/j2k": "jpeg2000"}, forbidden=["/cam"])
    mount, expected = {"forbidden_403": ("/cam", "forbidden (403)"),
                       "codec_without_decoder": ("/j2k", "unsupported codec")}[case]
    r, took = give_up_run(server.url(mount, "viewer", PASSWORD), tmp_path)

    shown = f"rtsp://viewer:***@127.0.0.1:{server.port}{mount}"
    lines = r.stderr.splitlines()
    assert r.returncode == 1, r.stderr  # README: 1 error
    assert len(lines) == 1 and lines[0].startswith(f"streamer: error: {shown}: {expected}"), r.stderr
    assert PASSWORD not in r.stderr + r.stdout
    # At once: one connection attempt, no backoff wait (the first retry would come after ~0.5 s
    # and then for ever); process start-up and the first attempt take a few seconds.
    assert took < 25
    name = f"127.0.0.1_{server.port}_{mount.strip('/')}"
    jsonl = next(tmp_path.glob("*.jsonl"), None)
    assert jsonl is not None, f"no JSONL in {sorted(p.name for p in tmp_path.iterdir())} (expected {name}...)"
    states = [rec["state"] for rec in map(json.loads, jsonl.read_text().splitlines()) if rec.get("event") == "source"]
    assert states == ["connecting", "gave_up"], states
    assert PASSWORD not in jsonl.read_text()
