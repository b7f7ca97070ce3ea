"""The event publisher: a frame's tracks and analytics events -> records on the bus.

Called by the analytics stage once per frame, in frame order, right after the tracker and
the zones and lines. It adds what the analytics events lack (camera, score, box), tells
track appearances and disappearances, names each record's snapshot and clip, publishes
the records and hangs them on the frame (``Frame.events``) for the snapshot output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from streamer.analytics.events import AnalyticsEvent
from streamer.bus import Record
from streamer.detection import Detections
from streamer.events.clips import ClipRecorder
from streamer.events.config import OBJECT_KINDS
from streamer.events.names import Names
from streamer.events.tracks import Gone, TrackLifecycle
from streamer.frames import Frame

#: What the ``start`` record says (a process start: every count begins again).
START_MESSAGE = "process started: zone and line counts start from zero"


def _box(xyxy: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in xyxy]


class EventPublisher:
    """Publishes one camera's event records (see the module docstring).

    Parameters
    ----------
    camera : str
        The camera's name (never a URL with credentials).
    publish : callable
        Takes each record (e.g. :meth:`streamer.bus.EventBus.publish`).
    labels : sequence of str
        Class names, for ``label``.
    wants : callable, optional
        ``wants(kind)``: whether records of that kind are published (default all).
    snapshots : Names, optional
        Names the snapshot and crop of each object event whose object is in the frame
        (written later by :class:`streamer.events.snapshots.SnapshotOutput`).
    clips : ClipRecorder, optional
        Plans the clip of each object event; told when tracks leave.

    Attributes
    ----------
    counts : dict of str to int
        Records published, by kind.
    """

    def __init__(self, camera: str, publish: Callable[[Record], None], *, labels: Sequence[str] = (),
                 wants: Callable[[str], bool] = lambda kind: True, snapshots: Names | None = None,
                 clips: ClipRecorder | None = None) -> None:
        self.camera = camera
        self._publish = publish
        self.labels = tuple(labels)
        self.wants = wants
        self.snapshots = snapshots
        self.clips = clips
        self.tracks = TrackLifecycle()
        self.counts: dict[str, int] = {}

    def start(self) -> Record:
        """Publish the ``start`` record: this process counts from zero."""
        record: Record = {"event": "start", "camera": self.camera, "time": None, "message": START_MESSAGE}
        self._send(record)
        return record

    def _label(self, class_id: int) -> str | None:
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else None

    def frame(self, frame: Frame, detections: Detections, events: Sequence[AnalyticsEvent],
              held: np.ndarray | None) -> list[Record]:
        """Publish one frame's records; also set ``frame.events`` to them.

        Parameters
        ----------
        frame : Frame
            For its time (``time``, else the index) and, live, its capture ``wall_time``.
        detections : Detections
            The frame's detections after the tracker (``tracker_id`` set).
        events : sequence of AnalyticsEvent
            Entries, exits, loiters and crossings decided on this frame.
        held : numpy.ndarray of int64, or None
            Ids the tracker still holds; the others have disappeared.

        Returns
        -------
        list of dict
            The records published, in order: appearances, analytics events, disappearances.
        """
        t = frame.time if frame.time is not None else float(frame.index)
        appeared, gone = self.tracks.update(detections, t, held)
        if not (len(appeared) or events or gone):
            return frame.events
        base: Record = {"camera": self.camera, "time": round(t, 6)}
        if frame.wall_time is not None:
            base["wall_time"] = round(frame.wall_time, 3)  # live: when the frame was captured
        records = [self._appear(base, detections, int(row)) for row in appeared]
        records += [self._analytics(base, event) for event in events]
        records += [self._disappear(base, g) for g in gone]
        published = []
        for record in records:
            kind = record["event"]
            if kind == "disappear" and self.clips is not None:
                clip = self.clips.left(record["track_id"], record["last_seen"])
                if clip is not None and self.wants(kind):
                    record["clip"] = str(clip)
            in_frame = record.pop("_in_frame", True)
            if not self.wants(kind):
                continue
            if kind in OBJECT_KINDS:
                self._name_files(record, in_frame=in_frame)
            self._send(record)
            published.append(record)
        frame.events = published
        return published

    def _appear(self, base: Record, detections: Detections, row: int) -> Record:
        class_id = int(detections.class_id[row])
        return {"event": "appear", **base, "track_id": int(detections.tracker_id[row]),  # type: ignore[index]
                "class_id": class_id, "label": self._label(class_id),
                "score": round(float(detections.confidence[row]), 3), "box": _box(detections.xyxy[row])}

    def _analytics(self, base: Record, event: AnalyticsEvent) -> Record:
        record = {**event.to_record(), **base}
        if record.get("label") is None:
            record["label"] = self._label(event.class_id)
        k = self.tracks.find(event.track_id)
        if k is not None:
            record["score"] = round(float(self.tracks.score[k]), 3)
            record["box"] = _box(self.tracks.box[k])
            record["_in_frame"] = bool(self.tracks.seen[k])
        return record

    def _disappear(self, base: Record, g: Gone) -> Record:
        return {"event": "disappear", **base, "track_id": g.track_id, "class_id": g.class_id,
                "label": self._label(g.class_id), "score": round(g.score, 3), "box": _box(g.box),
                "first_seen": round(g.first_seen, 6), "last_seen": round(g.last_seen, 6),
                "duration": round(g.last_seen - g.first_seen, 3)}

    def _name_files(self, record: Record, *, in_frame: bool) -> None:
        """Name the record's snapshot and crop (when the object is in this frame) and clip."""
        if self.snapshots is not None and "box" in record and in_frame:
            snapshot, crop = self.snapshots.take(record, ".jpg", "_crop.jpg")
            record["snapshot"], record["crop"] = snapshot, crop
        if self.clips is not None:
            clip = self.clips.event(record)
            if clip is not None:
                record["clip"] = str(clip)

    def _send(self, record: Record) -> None:
        self.counts[record["event"]] = self.counts.get(record["event"], 0) + 1
        self._publish(record)
