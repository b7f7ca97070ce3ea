#!/usr/bin/python3
"""A real RTSP server that accepts RECORD (ANNOUNCE/RECORD, what publishers push), for the tests.

Debian's GStreamer RTSP server with record mounts
(``RTSPMediaFactory.set_transport_mode(RECORD)``). What a client pushes to
``rtsp://127.0.0.1:PORT/MOUNT`` is depayloaded (never decoded) and written to
``OUT/MOUNT-N.ts`` (MPEG-TS: readable even when cut short; N counts the sessions of this
server process, from 1), so a test reads back exactly what arrived with PyAV.

Run it with Debian's ``/usr/bin/python3`` (``python3-gi``); ``tests/publish_servers.py``
starts and stops it. Bound to 127.0.0.1; ``--port 0`` picks a free port, announced as
``READY <port>``. Stdin: ``quit`` (or end of input) stops it, so it never outlives its test.
Also accepts H.264 + AAC (``depay1``) when the client announces audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

from rtsp_server import serve_commands  # noqa: E402 - after gi.require_version


def log(message: str) -> None:
    sys.stderr.write(f"{time.time():.3f} {message}\n")
    sys.stderr.flush()


class RecordFactory(GstRtspServer.RTSPMediaFactory):
    """One pipeline per RECORD session, writing the received H.264 (and AAC) to a new TS file."""

    def __init__(self, mount: str, out: Path, audio: bool, recv_log: Path | None = None) -> None:
        super().__init__()
        self.mount, self.out = mount, out
        # Open for the server's life (it ends with os._exit: line buffering keeps every line).
        self.recv_log = open(recv_log, "a", buffering=1, encoding="ascii") if recv_log else None  # noqa: SIM115
        self.sessions = 0
        self.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
        self.set_shared(False)
        # The depayloaders are matched to the announced media by name (depay0, depay1).
        audio_part = " rtpmp4gdepay name=depay1 ! aacparse ! queue ! mux." if audio else ""
        self.set_launch(
            # alignment=au: one buffer per picture out of the depayloader (not one per NAL unit).
            "( rtph264depay name=depay0 ! video/x-h264,alignment=au ! h264parse config-interval=-1 ! queue ! "
            f"mpegtsmux name=mux ! filesink name=file sync=false async=false{audio_part} )"
        )
        self.set_latency(0)
        self.connect("media-configure", self._configure)

    def _configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        self.sessions += 1
        path = self.out / f"{self.mount.strip('/').replace('/', '_')}-{self.sessions}.ts"
        element = media.get_element()
        element.get_child_by_name("file").set_property("location", str(path))
        if self.recv_log is not None:  # when each picture is complete (the RTP marker bit)
            session, log_file = self.sessions, self.recv_log

            def arrived(_pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
                log_file.write(f"{self.mount} {session} {time.time_ns()}\n")
                return Gst.PadProbeReturn.OK

            element.get_child_by_name("depay0").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, arrived)
        log(f"RECORD {self.mount} -> {path}")
        print(f"SESSION {self.mount} {path}", flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mount", action="append", required=True, help="record mount, e.g. /live")
    p.add_argument("--audio", action="store_true", help="also accept an AAC stream (depay1)")
    p.add_argument("--out", type=Path, required=True, help="folder for the received streams")
    p.add_argument("--recv-log", type=Path, help="append 'mount session wall_time_ns' per picture received")
    args = p.parse_args(argv)
    Gst.init(None)
    args.out.mkdir(parents=True, exist_ok=True)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for mount in args.mount:
        mounts.add_factory(mount, RecordFactory(mount, args.out, args.audio, args.recv_log))
    server.connect("client-connected", lambda _s, c: (log("client connected"),
                                                      c.connect("closed", lambda _c: log("client closed"))))
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"rtsp_record: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    def command(line: str) -> bool:
        if line.strip() == "quit":
            print("OK quit", flush=True)
            loop.quit()
        return False

    serve_commands(server, loop, command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
