#!/usr/bin/python3
"""A real RTSP server for the tests, built on Debian's GStreamer RTSP server.

Run it with Debian's own interpreter (``/usr/bin/python3``): ``python3-gi`` is installed for that
one only, so a virtual environment's or pyenv's Python cannot import ``gi``. ``tests/rtsp.py``
starts and stops it; it is not imported by the tests.

What it serves, and why it is built this way:

* Each mount plays one clip, or several in sequence (``--mount /switch=a.mp4,b.ts``), looping
  forever. The clips' H.264 access units are read once at start (``filesrc ! demuxer ! h264parse
  ! appsink``) and then pushed, never re-encoded, by one feeder thread per client into
  ``appsrc ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1``.
  ``config-interval=-1`` made FFmpeg decode every key frame twice, hence 1.
* Feeding from Python rather than ``filesrc ! qtdemux`` in the media pipeline gives three things
  a file pipeline makes hard: looping without time going backwards (a flushing seek resets the
  running time and so the RTP timestamps), a stall that keeps the TCP connection open (the
  feeder just stops pushing), and a resolution change mid-stream (the next clip in the sequence
  simply follows; ``h264parse`` and ``rtph264pay`` pass the new SPS on in-band).
* The appsrc is live and every buffer is stamped with the pipeline's running time at the moment
  it is due, paced by the clip's own frame durations: frames leave at the clip's real pace, like
  a camera's, and timestamps only increase. After a stall (or the wait between DESCRIBE and
  PLAY) the timeline is re-based on "now", so a client sees a gap as long as the stall, as it
  would from a camera, not a burst of stale frames.
* One pipeline per client (``set_shared(False)``): a shared pipeline refused some quick
  reconnects with 503.
* Bound to 127.0.0.1 only. ``--port 0`` lets the kernel pick a free port (race-free); the bound
  port is announced on stdout as ``READY <port>``.
* Optional basic auth per mount (``--user /mount=name:password``); other mounts stay anonymous.
* ``--forbid /mount`` answers that mount's DESCRIBE with 403 Forbidden, as a camera does for a
  user who may log in but not view this stream. GstRtspServer's own permissions never answer
  403 (no ACCESS is 404, no CONSTRUCT is 401), so the client's ``pre-describe-request`` does it.
* ``--pattern /mount=CODEC`` serves a live test pattern in a codec of ``PATTERNS`` (encoded as it
  plays): ``jpeg2000`` (RFC 5371) is a video codec GStreamer sends over RTP and FFmpeg cannot
  depacketize, so the client sees a video stream with no decoder.

Control channel, one command per line on stdin (each answered on stdout, ``OK <command>``):
``stall`` (every current session stops receiving frames; the connections stay open; sessions that
start later stream normally), ``resume``, ``quit``. End of stdin also quits, so the server never
outlives a test process that died without stopping it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# Demuxer per container: the loader is a fixed launch line, not decodebin (which would decode).
DEMUXERS = {".mp4": "qtdemux", ".mov": "qtdemux", ".m4v": "qtdemux", ".ts": "tsdemux", ".mkv": "matroskademux"}
AU_CAPS = "video/x-h264,stream-format=byte-stream,alignment=au"
# --pattern codecs: encoder and payloader after a raw I420 test pattern. avenc_jpeg2000, not
# openjpegenc: openjpegenc turns the FLUSHING of rtsp-media's PLAY seek into an error (the PLAY
# then fails with 5XX); jpeg2000parse turns its J2C into the JPC rtpj2kpay takes.
PATTERNS = {"jpeg2000": "avenc_jpeg2000 ! jpeg2000parse ! image/x-jpc ! rtpj2kpay name=pay0 pt=96"}
PATTERN_RAW = "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=10/1"
# A frame later than this against its due time means the feeder was held back (stall, or the wait
# between DESCRIBE and PLAY): re-base the timeline on "now" rather than sending a backlog.
REBASE_AFTER_NS = 200 * Gst.MSECOND


@dataclass(frozen=True)
class AccessUnit:
    """One H.264 access unit of a clip, with its timing relative to the clip's first frame."""

    data: bytes
    dts: int  # ns, relative: the feeder re-stamps it on the live timeline
    pts_minus_dts: int  # ns, non-zero only for clips with B-frames
    duration: int  # ns until the next access unit (the last one: its own duration)
    key: bool


def load_clip(path: Path) -> list[AccessUnit]:
    """Read every H.264 access unit of ``path`` (byte-stream, SPS/PPS in-band) into memory."""
    demux = DEMUXERS.get(path.suffix.lower())
    if demux is None:
        raise SystemExit(f"rtsp_server: {path}: unsupported container (use one of {sorted(DEMUXERS)})")
    if not path.is_file():
        raise SystemExit(f"rtsp_server: {path}: no such file")
    # config-interval=-1: SPS/PPS before every key frame, so a client that joins at any key frame,
    # and a client after a resolution change, gets the parameter sets in-band. rtph264pay sees
    # them in the stream and does not add a second copy.
    launch = (
        f"filesrc name=file ! {demux} ! h264parse config-interval=-1 ! "
        f"{AU_CAPS} ! appsink name=sink sync=false emit-signals=false"
    )
    pipeline = Gst.parse_launch(launch)
    # The location is set as a property, not in the launch line, so no path needs quoting.
    pipeline.get_by_name("file").set_property("location", str(path))
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    raw: list[tuple[bytes, int, int, int, bool]] = []
    try:
        while True:
            # A bounded wait: on a read error the sink never sees EOS; the bus says why below.
            sample = sink.emit("try-pull-sample", 5 * Gst.SECOND)
            if sample is None:
                break
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if not ok:
                raise SystemExit(f"rtsp_server: {path}: cannot map a buffer")
            data = bytes(info.data)
            buf.unmap(info)
            dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
            pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else dts
            key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
            raw.append((data, dts, pts, buf.duration, key))
        bus_error = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if bus_error is not None:
            err, debug = bus_error.parse_error()
            raise SystemExit(f"rtsp_server: {path}: {err.message} ({debug})")
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not raw:
        raise SystemExit(f"rtsp_server: {path}: no H.264 video found")
    if not raw[0][4]:
        raise SystemExit(f"rtsp_server: {path}: does not start with a key frame")
    first_dts = raw[0][1]
    units: list[AccessUnit] = []
    for i, (data, dts, pts, duration, key) in enumerate(raw):
        if i + 1 < len(raw):
            step = raw[i + 1][1] - dts
        elif duration != Gst.CLOCK_TIME_NONE and duration > 0:
            step = duration
        else:  # no duration on the last frame: assume the previous spacing
            step = dts - raw[i - 1][1] if i else 40 * Gst.MSECOND
        units.append(AccessUnit(data, dts - first_dts, pts - dts, max(step, 1), key))
    return units


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    """A diagnostic line on stderr (tests show it when they fail); the wall time lines it up
    with the client's own logs. Locked: feeders and the main loop log from several threads."""
    with _LOG_LOCK:
        sys.stderr.write(f"{time.time():.3f} {message}\n")
        sys.stderr.flush()


class Stall:
    """The stall switch shared by the feeders of the sessions that exist when ``stall`` arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._feeders: set[Feeder] = set()

    def add(self, feeder: Feeder) -> None:
        with self._lock:
            self._feeders.add(feeder)

    def discard(self, feeder: Feeder) -> None:
        with self._lock:
            self._feeders.discard(feeder)

    def set(self, stalled: bool) -> int:
        """Stall or resume every current feeder; returns how many there were."""
        with self._lock:
            feeders = list(self._feeders)
        for f in feeders:
            f.set_stalled(stalled)
        return len(feeders)


class Feeder(threading.Thread):
    """Pushes one mount's access units into one client's appsrc at the clip's pace, forever."""

    def __init__(self, mount: str, units: list[AccessUnit], appsrc: Gst.Element, registry: Stall,
                 send_log: "SendLog | None") -> None:
        super().__init__(name=f"feeder{mount}", daemon=True)
        self.mount = mount
        self.units = units
        self.appsrc = appsrc
        self.registry = registry
        self.send_log = send_log
        self._cond = threading.Condition()
        self._stalled = False
        self._stopped = False

    def set_stalled(self, stalled: bool) -> None:
        with self._cond:
            self._stalled = stalled
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _running_time(self) -> int:
        """The pipeline's running time now, or -1 while the appsrc is not PLAYING.

        The state check matters: going to PLAYING, the pipeline hands out its clock before the
        new base time, and in between clock minus base time is the clock's absolute time (hours
        of uptime), which once made a feeder wait an hour for its second frame.
        """
        _, state, _ = self.appsrc.get_state(0)
        if state != Gst.State.PLAYING:
            return -1
        rt = self.appsrc.get_current_running_time()
        return -1 if rt == Gst.CLOCK_TIME_NONE else rt

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking on stop/stall changes; False once stopped."""
        with self._cond:
            if not self._stopped:
                self._cond.wait(timeout=max(seconds, 0.0))
            return not self._stopped

    def run(self) -> None:
        self.registry.add(self)
        try:
            self._feed()
        finally:
            self.registry.discard(self)

    def _feed(self) -> None:
        tag = f"feeder {self.mount} {id(self):x}"
        log(f"{tag}: start")
        # A live source only runs once the media pipeline is PLAYING (rtsp-media sets it so while
        # preparing, to learn the caps for the SDP).
        waited = time.monotonic()
        while self._running_time() < 0:
            if not self._wait(0.005):
                log(f"{tag}: stopped before PLAYING")
                return
        log(f"{tag}: PLAYING after {time.monotonic() - waited:.3f} s")
        due = self._running_time()  # running time at which the next frame is due
        index = sent = 0
        while True:
            with self._cond:
                while self._stalled and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    log(f"{tag}: stopped after {sent} frames")
                    return
            unit = self.units[index]
            now = self._running_time()
            if now < 0:  # left PLAYING (teardown, or a pause): wait for PLAYING or stop
                if not self._wait(0.005):
                    log(f"{tag}: stopped after {sent} frames")
                    return
                continue
            if now - due > REBASE_AFTER_NS:
                # Held back (stall, or DESCRIBE->PLAY): carry on from now, no backlog.
                log(f"{tag}: {(now - due) / Gst.SECOND:.3f} s behind, re-based on now")
                due = now
            elif due - now > REBASE_AFTER_NS + unit.duration:
                # The running time went back (a pipeline paused and played again restarts it
                # where it stopped): re-base rather than leave the client without frames.
                log(f"{tag}: running time went back {(due - now) / Gst.SECOND:.3f} s, re-based on now")
                due = now
            elif due > now:
                # Sleep in short slices, re-checking stall, stop and the clock before sending.
                if not self._wait(min(due - now, 50 * Gst.MSECOND) / Gst.SECOND):
                    log(f"{tag}: stopped after {sent} frames")
                    return
                continue
            buf = Gst.Buffer.new_wrapped(unit.data)
            buf.dts = due
            buf.pts = due + unit.pts_minus_dts
            buf.duration = unit.duration
            if not unit.key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            pushed = time.monotonic()
            flow = self.appsrc.emit("push-buffer", buf)
            if flow != Gst.FlowReturn.OK:
                log(f"{tag}: push {flow.value_nick} after {sent} frames")
                return  # FLUSHING/EOS: the client tore the session down
            if time.monotonic() - pushed > 0.5:  # the queue was full: the stream is held
                log(f"{tag}: push of frame {sent} blocked {time.monotonic() - pushed:.3f} s")
            sent += 1
            if self.send_log is not None:
                self.send_log.write(self.mount, id(self), index, buf.pts, unit.key)
            due += unit.duration
            index = (index + 1) % len(self.units)


class SendLog:
    """Optional per-frame log (``--send-log``): when each frame was handed to the payloader.

    One line per frame: ``mount feeder_id clip_index pts_ns wall_time_ns key``. The pts is the
    running time the RTP timestamp is derived from, so a client can match frames to send times
    by their pts difference from the first frame (used to measure send-to-decode latency).
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", buffering=1, encoding="ascii")
        self._lock = threading.Lock()

    def write(self, mount: str, feeder: int, index: int, pts: int, key: bool) -> None:
        with self._lock:
            self._file.write(f"{mount} {feeder} {index} {pts} {time.time_ns()} {int(key)}\n")


class ClipFactory(GstRtspServer.RTSPMediaFactory):
    """A media factory whose pipelines are fed from memory by a :class:`Feeder` per client."""

    def __init__(self, mount: str, units: list[AccessUnit], registry: Stall, send_log: SendLog | None) -> None:
        super().__init__()
        self.mount = mount
        self.units = units
        self.registry = registry
        self.send_log = send_log
        # max-buffers bounds what piles up while rtsp-media holds the stream between DESCRIBE
        # and PLAY; block=true so the feeder waits there rather than dropping frames.
        self.set_launch(
            f"( appsrc name=src is-live=true format=time do-timestamp=false block=true max-buffers=3 "
            f"caps={AU_CAPS} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        self.set_shared(False)
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_child_by_name("src")
        feeder = Feeder(self.mount, self.units, appsrc, self.registry, self.send_log)
        # The feeder's push returns FLUSHING once the pipeline is torn down; "unprepared" also
        # wakes it if it is sleeping or stalled, so no thread outlives its session.
        media.connect("unprepared", lambda _m: feeder.stop())
        media.connect("new-state", lambda _m, state: log(f"media {self.mount} {id(feeder):x}: {Gst.State(state).value_nick}"))
        feeder.start()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--mount", action="append", default=[], metavar="/PATH=CLIP[,CLIP...]", required=True,
                   help="serve CLIP (several: in sequence) at rtsp://127.0.0.1:PORT/PATH, looping")
    p.add_argument("--user", action="append", default=[], metavar="/PATH=NAME:PASSWORD",
                   help="require basic auth with these credentials on that mount")
    p.add_argument("--pattern", action="append", default=[], metavar="/PATH=CODEC",
                   help=f"serve a live test pattern in CODEC ({', '.join(PATTERNS)}) at PATH")
    p.add_argument("--forbid", action="append", default=[], metavar="/PATH",
                   help="answer DESCRIBE of PATH with 403 Forbidden")
    p.add_argument("--send-log", type=Path, help="append one line per frame sent (see SendLog)")
    # Real-time pacing is how this server always works (a live source stamped with the running
    # time, sinks that sync to the clock); the flag is accepted so callers can say so explicitly.
    p.add_argument("--realtime", action="store_true", help="send at the clip's pace (always on)")
    return p.parse_args(argv)


def split_pair(text: str, sep: str, what: str) -> tuple[str, str]:
    left, found, right = text.partition(sep)
    if not found or not left or not right:
        raise SystemExit(f"rtsp_server: bad {what} {text!r}")
    return left, right


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)

    mounts: dict[str, list[AccessUnit]] = {}
    for spec in args.mount:
        path, clips = split_pair(spec, "=", "--mount")
        if not path.startswith("/"):
            raise SystemExit(f"rtsp_server: mount {path!r} must start with '/'")
        units: list[AccessUnit] = []
        for clip in clips.split(","):
            units.extend(load_clip(Path(clip)))
        mounts[path] = units
    patterns: dict[str, str] = {}
    for spec in args.pattern:
        path, codec = split_pair(spec, "=", "--pattern")
        if codec not in PATTERNS:
            raise SystemExit(f"rtsp_server: --pattern codec {codec!r} is not one of {sorted(PATTERNS)}")
        patterns[path] = f"( {PATTERN_RAW} ! {PATTERNS[codec]} )"
    forbidden = set(args.forbid)
    if not forbidden <= set(mounts) | set(patterns):
        raise SystemExit(f"rtsp_server: --forbid for unknown mount(s) {sorted(forbidden - set(mounts) - set(patterns))}")
    users: dict[str, tuple[str, str]] = {}
    for spec in args.user:
        path, cred = split_pair(spec, "=", "--user")
        if path not in mounts:
            raise SystemExit(f"rtsp_server: --user for unknown mount {path!r}")
        users[path] = split_pair(cred, ":", "credentials")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    registry = Stall()
    send_log = SendLog(args.send_log) if args.send_log else None

    if users:
        # One auth object for the server: clients without (valid) credentials get the "anonymous"
        # role, a valid user the role of its mount. Open mounts let every role construct media.
        # A protected mount lets "anonymous" see it (ACCESS) but not play it (CONSTRUCT): the
        # server then answers 401 with a Basic challenge, which is what makes FFmpeg send the
        # credentials from the URL (it sends none unchallenged); without ACCESS it would answer
        # 404, which hides the mount and looks like a wrong path.
        auth = GstRtspServer.RTSPAuth()
        anon = GstRtspServer.RTSPToken()
        anon.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
        auth.set_default_token(anon)
        for path, (name, password) in users.items():
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, f"user{path}")
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(name, password), token)
        server.set_auth(auth)

    mount_points = server.get_mount_points()
    for path, units in mounts.items():
        factory = ClipFactory(path, units, registry, send_log)
        if users:
            perms = GstRtspServer.RTSPPermissions()
            if path in users:
                allowed = {f"user{path}": True, "anonymous": False}
            else:
                allowed = {role: True for role in ["anonymous", *(f"user{p}" for p in users)]}
            for role, construct in allowed.items():
                perms.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
                perms.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, construct)
            factory.set_permissions(perms)
        mount_points.add_factory(path, factory)
    for path, launch in patterns.items():
        pattern = GstRtspServer.RTSPMediaFactory()
        pattern.set_launch(launch)
        pattern.set_shared(False)
        mount_points.add_factory(path, pattern)

    def pre_describe(_client: GstRtspServer.RTSPClient, ctx: GstRtspServer.RTSPContext) -> GstRtsp.RTSPStatusCode:
        if ctx.uri.abspath in forbidden:
            log(f"DESCRIBE {ctx.uri.abspath}: 403 Forbidden")
            return GstRtsp.RTSPStatusCode.FORBIDDEN
        return GstRtsp.RTSPStatusCode.OK

    def on_client(_server: GstRtspServer.RTSPServer, client: GstRtspServer.RTSPClient) -> None:
        log("client connected")
        client.connect("closed", lambda _c: log("client closed"))
        client.connect("describe-request", lambda _c, ctx: log(f"DESCRIBE {ctx.uri.abspath}"))
        client.connect("pre-describe-request", pre_describe)
        client.connect("play-request", lambda _c, ctx: log(f"PLAY {ctx.uri.abspath}"))

    server.connect("client-connected", on_client)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    def command(line: str) -> bool:
        cmd = line.strip()
        if cmd == "stall":
            print(f"OK stall {registry.set(True)}", flush=True)
        elif cmd == "resume":
            print(f"OK resume {registry.set(False)}", flush=True)
        elif cmd == "quit":
            print("OK quit", flush=True)
            loop.quit()
        elif cmd:
            print(f"ERR unknown command {cmd!r}", flush=True)
        return False  # GLib.idle_add: run once

    serve_commands(server, loop, command)


def serve_commands(server: GstRtspServer.RTSPServer, loop: GLib.MainLoop, command: Callable[[str], bool]) -> NoReturn:
    """Say ``READY <port>``, run ``loop`` with each stdin line handed to ``command`` (in the
    loop's thread), quit at EOF, and exit at once (also used by ``tests/rtsp_record.py``)."""

    def read_stdin() -> None:
        # A thread rather than a GLib watch: plain blocking reads, and EOF (the test process is
        # gone) quits the server.
        for line in sys.stdin:
            GLib.idle_add(command, line)
        GLib.idle_add(command, "quit")

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    print(f"READY {server.get_bound_port()}", flush=True)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    # Skip interpreter teardown: live pipelines and feeder threads need no orderly shutdown here,
    # and exiting at once keeps "quit" fast.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
