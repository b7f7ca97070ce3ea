"""HTTP live sources against real local servers: HLS (playlist + segments) and an MJPEG camera."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import pytest

from streamer.config import RunSettings
from streamer.runner import Runner

from media import Clip, remux_video


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="test-http", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def hls_dir(short_clip: Clip, tmp_path: Path) -> Path:
    """The clip remuxed (no re-encode) into an HLS playlist with 1 s segments."""
    out = tmp_path / "hls"
    out.mkdir()
    remux_video(short_clip.path, out / "index.m3u8", "hls", {"hls_time": "1", "hls_list_size": "0"})
    return out


@pytest.fixture()
def http_server(hls_dir: Path) -> Iterator[str]:
    handler = type("H", (_Quiet,), {"__init__": lambda self, *a, **k: _Quiet.__init__(self, *a, directory=str(hls_dir), **k)})
    server, base = serve(handler)
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def test_hls_stream(http_server: str, tmp_path: Path) -> None:
    runner = Runner(RunSettings(source=f"{http_server}/index.m3u8", out_dir=tmp_path, name="hls", detect=False,
                                max_frames=15, progress=False, quiet=True, open_timeout=10, stall_timeout=5))
    summary = runner.run()
    # A VOD playlist arrives faster than real time: newest frame wins, every drop counted.
    assert summary.live is not None and summary.live["frames_in"] == 15
    assert summary.frames + summary.dropped == 15 and summary.frames >= 1
    with av.open(str(tmp_path / "hls.annotated.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == summary.frames


@pytest.fixture()
def mjpeg_camera(short_clip: Clip) -> Iterator[str]:
    """An MJPEG-over-HTTP camera (multipart/x-mixed-replace), as cheap IP cameras serve."""
    with av.open(str(short_clip.path)) as c:
        jpegs = [cv2.imencode(".jpg", f.to_ndarray(format="bgr24"))[1].tobytes() for f in c.decode(video=0)]
    stop = threading.Event()

    class Camera(_Quiet):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            i = 0
            try:
                while not stop.is_set():
                    data = jpegs[i % len(jpegs)]
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                     + f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
                    i += 1
                    time.sleep(0.04)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server, base = serve(Camera)
    try:
        yield f"{base}/video.mjpg"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_mjpeg_camera(mjpeg_camera: str, tmp_path: Path) -> None:
    runner = Runner(RunSettings(source=mjpeg_camera, input_format="mpjpeg", out_dir=tmp_path, name="mjpeg",
                                detect=False, max_frames=20, progress=False, quiet=True, open_timeout=10))
    summary = runner.run()
    assert summary.live is not None and summary.live["frames_in"] == 20
    assert summary.frames + summary.dropped == 20 and summary.frames >= 10
    states = [e.state.value for e in runner.events]
    assert states[:2] == ["connecting", "streaming"]
