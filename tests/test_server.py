"""``--serve``'s HTTP server with real clients on 127.0.0.1: routes, live views, auth, limits.

The server runs as in a run (its own thread and loop); its live view is fed real decoded
frames of bikes.mp4 by a thread, as the output fan-out would (the whole pipeline is in
tests/test_serve_run.py).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from live_http import Feeder, MjpegClient, decode_jpeg, get, port_in_use
from media import decode_frames
from prometheus_client.parser import text_string_to_metric_families

from streamer.errors import ConfigError
from streamer.metrics import Metrics
from streamer.outputs.live_view import LiveView
from streamer.pipeline import PipelineStats, StageStats
from streamer.server.address import parse_address
from streamer.server.app import build_app
from streamer.server.board import Board
from streamer.server.thread import ServerThread

TOKEN = "s3cret-t0ken"


@pytest.fixture(scope="module")
def images(bikes_clip: Path) -> list[np.ndarray]:
    return decode_frames(bikes_clip, 12, start=40)


def _start(board: Board, metrics: Metrics | None = None, token: str | None = None) -> ServerThread:
    server = ServerThread(build_app(board, metrics=metrics, token=token), "127.0.0.1", 0)
    server.start()
    return server


@pytest.fixture
def hls_root(tmp_path: Path) -> Path:
    root = tmp_path / "hls" / "bikes"
    root.mkdir(parents=True)
    (root / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg00001.ts\n")
    (root / "seg00001.ts").write_bytes(b"\x47" + bytes(187))
    (tmp_path / "hls" / "secret.txt").write_text("outside the camera's folder")
    (root / "escape.m3u8").symlink_to(tmp_path / "hls" / "secret.txt")
    (root / ".hidden").write_text("hidden")
    return root


@pytest.fixture
def served(images: list[np.ndarray], hls_root: Path):
    """A server with a fed camera (bikes), a camera without frames (idle), max 2 viewers each."""
    board = Board(max_viewers=2)
    view = LiveView("bikes", labels=("person", "bicycle"))
    board.add("bikes", view=view, hls_dir=hls_root)
    board.add("idle", view=LiveView("idle"))
    metrics = Metrics()
    server = _start(board, metrics)
    try:
        with Feeder(view, images, fps=50) as feeder:
            yield server, board, view, metrics, feeder
    finally:
        server.stop()


def test_parse_address() -> None:
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9") == ("0.0.0.0", 9)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("", "http", "host:99999", "host:-1"):
        with pytest.raises(ConfigError, match=r"^--serve .*: expected \[HOST:\]PORT"):
            parse_address(bad)


def test_dashboard_status_health_and_no_external_resources(served) -> None:
    server, _board, *_ = served
    status, headers, body = get(server.url)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    page = body.decode()
    for asset in ("/static/dashboard.js", "/static/dashboard.css", "/static/favicon.svg"):
        assert asset in page
        assert get(server.url.rstrip("/") + asset)[0] == 200
    js = get(server.url + "static/dashboard.js")[2].decode()
    for text in (page, js):  # offline: nothing is fetched from another host
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    status, _, body = get(server.url + "api/status")
    doc = json.loads(body)
    assert status == 200 and doc["version"] == 1 and doc["max_viewers"] == 2
    assert [c["name"] for c in doc["cameras"]] == ["bikes", "idle"]
    assert doc["cameras"][0]["views"] == {"mjpeg": "/cameras/bikes/live.mjpg",
                                          "snapshot": "/cameras/bikes/snapshot.jpg", "hls": "/hls/bikes/index.m3u8"}
    assert get(server.url + "healthz")[:1] == (200,)
    assert get(server.url + "cameras/nope/snapshot.jpg")[0] == 404


def test_snapshot_and_mjpeg_frames_decode_and_change(served, images: list[np.ndarray]) -> None:
    server, _, view, _, _ = served
    status, headers, body = get(server.url + "cameras/bikes/snapshot.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert decode_jpeg(body).shape == images[0].shape
    seq = int(headers["x-frame-seq"])
    # ?after=SEQ waits for a newer frame
    status, headers, _ = get(server.url + f"cameras/bikes/snapshot.jpg?after={seq}")
    assert status == 200 and int(headers["x-frame-seq"]) > seq
    client = MjpegClient(server.url + "cameras/bikes/live.mjpg")
    try:
        assert client.status == 200 and client.content_type.startswith("multipart/x-mixed-replace")
        pictures = [decode_jpeg(client.next_jpeg()) for _ in range(6)]
    finally:
        client.close()
    assert all(p.shape == images[0].shape for p in pictures)
    assert any(np.abs(a.astype(int) - b.astype(int)).mean() > 2 for a, b in itertools.pairwise(pictures))
    assert view.encoded <= view.frames  # at most one encode per frame, whoever watches


def test_viewer_cap_gives_503_and_frees_a_place(served) -> None:
    server, board, *_ = served
    url = server.url + "cameras/bikes/live.mjpg"
    first, second = MjpegClient(url), MjpegClient(url)
    try:
        first.next_jpeg(), second.next_jpeg()
        status, headers, body = get(url)
        assert status == 503 and "2 viewers" in body.decode() and headers["retry-after"]
        assert board.camera("idle").viewers == 0  # the cap is per camera
    finally:
        first.close()
    deadline = time.monotonic() + 5
    while board.camera("bikes").viewers > 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the closed socket at its next write
    third = MjpegClient(url)
    try:
        assert third.status == 200 and third.next_jpeg()
    finally:
        third.close(), second.close()


def test_stuck_viewer_holds_up_no_one(served) -> None:
    """A client that never reads fills only its own buffers; others and the writer go on."""
    server, _, _view, _, feeder = served
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"GET /cameras/bikes/live.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.5)  # its socket buffers are full by now (~50 frames of ~15 KB were offered)
        written = feeder.written
        client = MjpegClient(server.url + "cameras/bikes/live.mjpg")
        try:
            t0 = time.monotonic()
            n = sum(1 for _ in range(10) if client.next_jpeg())
            took = time.monotonic() - t0
        finally:
            client.close()
        assert n == 10 and took < 2.0  # 10 frames at 50 fps: ~0.2 s
        assert feeder.written >= written + 5  # the writer was never held up
    finally:
        stuck.close()


def test_reconnecting_viewer_gets_the_newest_frame_at_once(served) -> None:
    server, _, view, _, feeder = served
    feeder.__exit__()  # the camera pauses: no new frame from now on
    newest = view.seq
    t0 = time.monotonic()
    client = MjpegClient(server.url + "cameras/bikes/live.mjpg")
    try:
        data = client.next_jpeg()
    finally:
        client.close()
    assert time.monotonic() - t0 < 1.0 and decode_jpeg(data) is not None
    _status, headers, _ = get(server.url + "cameras/bikes/snapshot.jpg")
    assert int(headers["x-frame-seq"]) == newest


def test_hls_files_and_no_path_traversal(served, hls_root: Path) -> None:
    server, *_ = served
    status, headers, body = get(server.url + "hls/bikes/index.m3u8")
    assert status == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
    assert body.startswith(b"#EXTM3U")
    assert get(server.url + "hls/bikes/seg00001.ts")[1]["content-type"] == "video/mp2t"
    for path in ("hls/bikes/../secret.txt", "hls/bikes/%2e%2e/secret.txt", "hls/bikes/..%2fsecret.txt",
                 "hls/bikes/escape.m3u8", "hls/bikes/.hidden", "hls/bikes/%2fetc%2fpasswd", "hls/idle/index.m3u8"):
        status, _, body = get(server.url + path)
        assert status == 404 and b"outside" not in body and b"root:" not in body, path


def test_readyz_follows_the_cameras(served) -> None:
    server, board, *_ = served
    status, _, body = get(server.url + "readyz")
    assert status == 503 and json.loads(body)["cameras"] == {"bikes": "connecting", "idle": "connecting"}
    board.update("bikes", {"state": "streaming"})
    assert get(server.url + "readyz")[0] == 503
    board.update("idle", {"state": "finished"})
    assert get(server.url + "readyz")[0] == 200
    board.update("idle", {"state": "reconnecting"})
    assert get(server.url + "readyz")[0] == 503


def test_metrics_parse_with_prometheus_parser(served) -> None:
    server, _board, view, metrics, _ = served
    stats = PipelineStats(elapsed=2.0, frames_out=48,
                          stages=[StageStats("decode", 50), StageStats("detect", 49, stale=1), StageStats("output", 48)],
                          queues=[("decode->detect", 1, 1), ("detect->output", 0, 1)])
    metrics.update("bikes", stats, state="streaming", reconnects=2, detections={"person": 7})
    metrics.set_output("bikes", "video", frames=48, state="running")
    tap = metrics.tap("bikes")
    with Feeder(tap, [view.latest_frame.image], fps=100):
        time.sleep(0.1)
    MjpegClient(server.url + "cameras/bikes/live.mjpg").next_jpeg()
    status, headers, body = get(server.url + "metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert families["streamer_frames_in"].type == "counter"
    assert samples[("streamer_frames_in_total", (("camera", "bikes"),))] == 50
    assert samples[("streamer_frames_out_total", (("camera", "bikes"),))] == 48
    assert samples[("streamer_frames_dropped_total", (("camera", "bikes"), ("queue", "decode->detect"), ("reason", "overflow")))] == 1
    assert samples[("streamer_frames_dropped_total", (("camera", "bikes"), ("queue", "decode->detect"), ("reason", "stale")))] == 1
    assert samples[("streamer_detections_total", (("camera", "bikes"), ("class", "person")))] == 7
    assert samples[("streamer_source_state", (("camera", "bikes"), ("state", "streaming")))] == 1
    assert samples[("streamer_source_state", (("camera", "bikes"), ("state", "reconnecting")))] == 0
    assert samples[("streamer_source_reconnects_total", (("camera", "bikes"),))] == 2
    assert samples[("streamer_output_frames_total", (("camera", "bikes"), ("output", "video")))] == 48
    assert samples[("streamer_output_state", (("camera", "bikes"), ("output", "video"), ("state", "running")))] == 1
    assert families["streamer_frame_age_seconds"].type == "histogram"
    assert samples[("streamer_frame_age_seconds_count", (("camera", "bikes"),))] > 0
    assert samples[("streamer_served_frame_age_seconds_count", (("camera", "bikes"),))] > 0
    assert "streamer_viewers" in families and "streamer_stage_seconds" in families
    for f in families.values():  # conventions: prefix, a camera label that is a name, never a URL
        assert f.name.startswith("streamer_")
        for s in f.samples:
            assert "://" not in s.labels.get("camera", "")


def test_token_guards_every_route_but_healthz(images: list[np.ndarray]) -> None:
    board = Board()
    view = LiveView("cam")
    board.add("cam", view=view)
    server = _start(board, Metrics(), token=TOKEN)
    try:
        with Feeder(view, images):
            for path in ("", "api/status", "metrics", "readyz", "cameras/cam/snapshot.jpg", "cameras/cam/live.mjpg",
                         "static/dashboard.js"):
                status, headers, _body = get(server.url + path)
                assert status == 401 and "Basic" in headers["www-authenticate"], path
                assert get(server.url + path, {"Authorization": "Bearer wrong"})[0] == 401
            assert get(server.url + "healthz")[0] == 200
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            basic = {"Authorization": "Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode()}
            assert get(server.url + "api/status", bearer)[0] == 200
            assert get(server.url + "cameras/cam/snapshot.jpg", basic)[0] == 200
            assert get(server.url + f"cameras/cam/snapshot.jpg?token={TOKEN}")[0] == 200
            # ?token= on the page: a session cookie (not the token) and the address without it
            status, headers, _ = get(server.url + f"?token={TOKEN}")
            assert status == 303 and TOKEN not in headers["location"]
            cookie = headers["set-cookie"].split(";")[0]
            assert TOKEN not in cookie and "HttpOnly" in headers["set-cookie"]
            assert get(server.url + "api/status", {"Cookie": cookie})[0] == 200
            assert get(server.url + "api/status", {"Cookie": "streamer_session=forged"})[0] == 401
            for path in ("", "api/status", "metrics"):  # no credential in what is served
                assert TOKEN.encode() not in get(server.url + path, bearer)[2]
    finally:
        server.stop()


def test_port_in_use_is_one_line_naming_the_address() -> None:
    sock, port = port_in_use()
    try:
        server = ServerThread(build_app(Board()), "127.0.0.1", port)
        with pytest.raises(ConfigError) as err:
            server.start()
        assert str(err.value) == f"--serve 127.0.0.1:{port}: address already in use (another server on that port?)"
        server.stop()
    finally:
        sock.close()


def test_live_view_encodes_once_per_frame_for_every_viewer(images: list[np.ndarray]) -> None:
    view = LiveView("cam")
    assert view.picture() is None and view.wait_next(0, timeout=0.01) is None
    with Feeder(view, images[:1], fps=1000) as feeder:
        while feeder.written == 0:
            time.sleep(0.001)
    seq = view.seq
    pictures = [view.wait_next(0, timeout=1) for _ in range(5)]
    assert {p.seq for p in pictures} == {seq} and view.encoded == 1
    view.close()
    assert view.wait_next(seq, timeout=1) is None  # ended: no wait


def test_show_without_display_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamer.outputs.window import check_display

    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(ConfigError, match=r"^--show: no display \(\$DISPLAY is not set"):
        check_display()
    monkeypatch.setenv("DISPLAY", ":97")  # nothing listens there (highgui would abort the process)
    if os.path.exists("/tmp/.X11-unix/X97"):
        pytest.skip("an X server runs on :97")
    with pytest.raises(ConfigError, match=r"^--show: no display: cannot connect to the X server at DISPLAY=:97$"):
        check_display()
