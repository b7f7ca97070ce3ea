"""Clips: an MP4 per event, cut from the encoded stream (no re-encode), events merged.

The recorder listens to an encoder's packets (``EncodedVideo.add_listener``, called in the
encoder's thread) and keeps the last ``pre_roll`` seconds (plus a GOP) of them in a ring
buffer of GOPs, so a clip can start at a key frame at least ``pre_roll`` before its event.
Events come from the publisher (the analytics thread) *before* their frame is encoded,
which is what makes the ring's pre-roll enough.

A clip covers ``[event - pre_roll, leave + post_roll]``, at most ``max_clip`` long, where
``leave`` is when the objects it holds left: a track's ``appear``/``cross`` holds the clip
until the track disappears (its last sighting, not the tracker's removal, counts), an
``enter``/``loiter`` until it exits that zone or disappears. An event that overlaps an
unfinished clip joins it (one clip, one name in both records); one that would run past the
clip's ``max_clip`` starts a new one.

Each clip is written as a fragmented MP4 under ``NAME.part.mp4`` (packets flushed as they
come, so a crash leaves a playable file) and renamed to ``NAME.mp4`` once complete.
Packets keep the encoder's timestamps, which are the source's. A track's end is known only
when the tracker gives it up (``track_lost`` after its last sighting), so with a
``post_roll`` shorter than that a clip runs until then.

The work is done in the encoder's thread, in the listener call: measured on 720p packets
(~11 kB), 9 us of CPU per packet with no clip open, 21 us with one, 0.9 ms to open a clip
(the pre-roll written at once), 0.4 ms to finish one; a queue and a thread of its own
would cost more than that.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av

from streamer.events.names import Names
from streamer.events.retention import Retention
from streamer.outputs.paths import WRITTEN_BY, os_reason, reserve_part
from streamer.outputs.video import FRAGMENTED

log = logging.getLogger("streamer")

#: Seconds of packets kept beyond ``pre_roll`` (events reach the recorder ahead of their
#: packets, by the pipeline's depth, rarely a second).
RING_SLACK = 1.0
#: Bytes the ring may hold (a stream whose key frames are far apart: ~60 s at 4 Mbit/s).
RING_MAX_BYTES = 32 << 20


class EncodedStream(Protocol):
    """What the recorder needs of an encoder (``streamer.outputs.encoder.EncodedVideo``)."""

    template: Any  # av.VideoStream for OutputContainer.add_stream_from_template

    def add_listener(self, fn: Callable[[av.Packet], None]) -> None: ...

    def remove_listener(self, fn: Callable[[av.Packet], None]) -> None: ...


@dataclass(slots=True)
class _Packet:
    """A copy of one encoded packet (the encoder's own packet goes on to other listeners)."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    key: bool
    t: float  # presentation time, seconds
    d: float  # decode time, seconds


@dataclass(eq=False)
class _Session:
    """One clip: planned by the publisher thread, written by the encoder's (``writer``)."""

    path: Path
    start: float
    cap: float
    end: float
    holds: dict[int, set[str]] = field(default_factory=dict)
    tracks: set[int] = field(default_factory=set)
    closed: bool = False
    writer: _ClipFile | None = None
    failed: bool = False

    def ends_at(self) -> float:
        return self.cap if self.holds else min(self.cap, self.end)


class _ClipFile:
    """A fragmented MP4 under a ``.part`` name; :meth:`finish` renames it."""

    def __init__(self, path: Path, template: Any) -> None:
        self.path = path
        self.part = reserve_part(path)
        self.bytes = 0
        self._held: list[_Packet] = []
        try:
            self.container: Any = av.open(str(self.part), "w", format="mp4",
                                          options={"flush_packets": "1", **FRAGMENTED})
            self.container.metadata["comment"] = WRITTEN_BY
            self.stream = self.container.add_stream_from_template(template)
            self.stream.time_base = template.time_base
            # A template from an encoder whose container wants global headers has SPS/PPS
            # only in its extradata, and the key frames after the first carry none
            # (measured: without this the clip does not open, "No start code is found").
            extradata = template.codec_context.extradata
            if extradata and not self.stream.codec_context.extradata:
                self.stream.codec_context.extradata = extradata
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise

    def add(self, p: _Packet, end: float) -> None:
        """Write ``p`` if it shows a frame up to ``end``; hold it otherwise, until a later
        packet shows one (a B-frame shown before ``end`` needs the frame after it, which
        comes first in decode order); held packets are dropped at :meth:`finish`."""
        if p.t > end:
            self._held.append(p)
            return
        for q in self._held:
            self._write(q)
        self._held.clear()
        self._write(p)

    def _write(self, p: _Packet) -> None:
        packet = av.Packet(p.data)
        packet.pts, packet.dts, packet.time_base = p.pts, p.dts, p.time_base
        packet.is_keyframe = p.key
        packet.stream = self.stream
        self.container.mux(packet)
        self.bytes += len(p.data)

    def finish(self) -> Path:
        self.container.close()
        os.replace(self.part, self.path)
        return self.path


class ClipRecorder:
    """Clips of one camera (see the module docstring).

    Parameters
    ----------
    names : Names
        Gives each clip its free name in the camera's folder.
    pre_roll, post_roll, max_clip : float
        Seconds.
    retention : Retention, optional
        Told of each finished clip.

    Attributes
    ----------
    written : list of Path
        Finished clips, in order.
    failed : int
        Clips that could not be written (logged once).
    """

    def __init__(self, names: Names, *, pre_roll: float, post_roll: float, max_clip: float,
                 retention: Retention | None = None) -> None:
        self.names = names
        self.pre_roll, self.post_roll, self.max_clip = float(pre_roll), float(post_roll), float(max_clip)
        self.retention = retention
        self.written: list[Path] = []
        self.failed = 0
        self._encoded: EncodedStream | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._gops: deque[list[_Packet]] = deque()
        self._ring_bytes = 0

    # -- wiring -------------------------------------------------------------------------
    def attach(self, encoded: EncodedStream) -> None:
        """Listen to ``encoded``'s packets (before the first frame is encoded); finish the
        clips when it closes, if it says so (``on_close``)."""
        self._encoded = encoded
        encoded.add_listener(self.on_packet)
        on_close = getattr(encoded, "on_close", None)
        if on_close is not None:
            on_close(self.close)

    @property
    def attached(self) -> bool:
        return self._encoded is not None

    def bytes_in_progress(self) -> int:
        """Bytes of the clips being written (retention counts them)."""
        return sum(s.writer.bytes for s in list(self._sessions) if s.writer is not None)

    # -- the publisher's thread ------------------------------------------------------------
    def event(self, record: dict[str, Any]) -> Path | None:
        """Plan the clip of an object event (``appear``, ``enter``, ``exit``, ``cross``,
        ``loiter``); return its path (an unfinished clip's when the event joins it)."""
        if self._encoded is None:
            return None
        kind, t, track = record["event"], float(record["time"]), record.get("track_id")
        zone = record.get("zone")
        hold = zone if kind in ("enter", "loiter") else ("track" if kind in ("appear", "cross") else None)
        with self._lock:
            if kind == "exit" and track is not None:
                for s in self._sessions:
                    self._release(s, track, zone, t)
            session = next((s for s in reversed(self._sessions) if not s.closed and not s.failed
                            and (s.holds or t - self.pre_roll <= s.end) and t + self.post_roll <= s.cap), None)
            if session is None:
                start = t - self.pre_roll
                session = _Session(Path(self.names.take(record, ".mp4")[0]), start, start + self.max_clip, t + self.post_roll)
                self._sessions.append(session)
            session.end = max(session.end, t + self.post_roll)
            if track is not None:
                session.tracks.add(track)
                if hold is not None:
                    session.holds.setdefault(track, set()).add(hold)
            return session.path

    def left(self, track_id: int, last_seen: float) -> Path | None:
        """The track is gone (last seen at ``last_seen``): its clips end ``post_roll`` after.
        Returns the path of the newest clip it was in."""
        path = None
        with self._lock:
            for s in self._sessions:
                if track_id in s.tracks:
                    self._release(s, track_id, None, last_seen)
                    path = s.path
        return path

    def _release(self, s: _Session, track: int, zone: str | None, t: float) -> None:
        """Drop the track's hold on ``zone`` (every hold for None); lock held."""
        holds = s.holds.get(track)
        if holds is None:
            return
        if zone is None:
            holds.clear()
        else:
            holds.discard(zone)
        if not holds:
            del s.holds[track]
            s.end = max(s.end, t + self.post_roll)

    # -- the encoder's thread --------------------------------------------------------------
    def on_packet(self, packet: av.Packet) -> None:
        """One encoded packet, in decode order (the encoder's thread). A clip that fails to
        write is logged once, counted in ``failed`` and dropped; the others go on."""
        p = self._copy(packet)
        self._remember(p)
        with self._lock:
            # Decode times only grow, and a frame is decoded no later than shown: once one
            # passes the end, every frame shown before it has come.
            closing = [s for s in self._sessions if s.writer is not None and p.d > s.ends_at()]
            for s in closing:
                s.closed = True
            opening = [s for s in self._sessions if s.writer is None and not s.failed and self._gops]
            writing = [s for s in self._sessions if s.writer is not None and not s.closed]
            self._sessions = [s for s in self._sessions if not s.closed and not s.failed]
        for s in closing:
            self._finish(s)
        for s in writing:
            self._guarded(s, lambda s=s: s.writer.add(p, s.ends_at()))
        for s in opening:
            self._open(s, upto=p.d)

    def _copy(self, packet: av.Packet) -> _Packet:
        time_base = packet.time_base or self._encoded.template.time_base  # type: ignore[union-attr]
        dts = packet.dts if packet.dts is not None else packet.pts
        pts = packet.pts if packet.pts is not None else dts
        return _Packet(bytes(packet), pts, dts, Fraction(time_base), bool(packet.is_keyframe),
                       float((pts or 0) * time_base), float((dts or 0) * time_base))

    def _remember(self, p: _Packet) -> None:
        """Add to the ring; drop whole GOPs older than ``pre_roll`` (+ slack) before it."""
        if p.key:
            self._gops.append([p])
        elif self._gops:
            self._gops[-1].append(p)
        else:
            return  # no key frame yet: nothing a clip could start with
        self._ring_bytes += len(p.data)
        keep_from = p.d - self.pre_roll - RING_SLACK
        while len(self._gops) >= 2 and (self._gops[1][0].t <= keep_from or self._ring_bytes > RING_MAX_BYTES):
            self._ring_bytes -= sum(len(q.data) for q in self._gops.popleft())
        if self._ring_bytes > RING_MAX_BYTES:  # one GOP too big to keep: wait for the next key frame
            self._gops.clear()
            self._ring_bytes = 0

    def _open(self, s: _Session, *, upto: float) -> None:
        """Start a clip at the last key frame at or before its start (else the oldest kept)
        and write the ring from there, up to the packet just received."""
        start = 0
        for k, gop in enumerate(self._gops):
            if gop[0].t <= s.start:
                start = k
        ends = s.ends_at()

        def write_ring() -> None:
            s.writer = _ClipFile(s.path, self._encoded.template)  # type: ignore[union-attr]
            for gop in list(self._gops)[start:]:
                for q in gop:
                    if q.d <= ends and q.d <= upto:
                        s.writer.add(q, ends)

        self._guarded(s, write_ring)

    def _guarded(self, s: _Session, action: Callable[[], None]) -> None:
        try:
            action()
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            s.failed = True
            self.failed += 1
            if self.failed == 1:
                log.warning("%s: clip not written (%s); further failures are counted", s.path, os_reason(exc))
            if s.writer is not None:
                try:
                    s.writer.container.close()
                except (av.error.FFmpegError, OSError):
                    pass

    def _finish(self, s: _Session) -> None:
        if s.writer is None or s.failed:
            return
        done: list[Path] = []
        self._guarded(s, lambda: done.append(s.writer.finish()))  # type: ignore[union-attr]
        if done:
            self.written.append(done[0])
            if self.retention is not None:
                self.retention.add(done[0])

    def close(self) -> None:
        """Finish every clip (after the encoder's last packet; idempotent); clips never
        opened are written from what the ring holds."""
        if self._closed:
            return
        self._closed = True
        if self._encoded is not None:
            self._encoded.remove_listener(self.on_packet)
        with self._lock:
            sessions, self._sessions = self._sessions, []
        newest = self._gops[-1][-1].d if self._gops else 0.0
        for s in sessions:
            if s.writer is None and not s.failed and self._gops:
                self._open(s, upto=newest)
            self._finish(s)
