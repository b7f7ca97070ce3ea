"""One camera's events, snapshots and clips, built from its settings: what a runner wires.

Wiring, in a runner (each a line)::

    events = CameraEvents.build(settings, camera=name, bus=bus, labels=labels, live=live)
    stage, annotators = build_analytics(settings, labels, publisher=events.publisher)
    outputs += events.outputs                    # the snapshot writer, behind its own queue
    events.attach(encoded_video)                 # clips: the shared encoder's packets
    ...                                          # run the pipeline
    events.close()                               # after the outputs closed: last clips, file
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.bus import EventBus
from streamer.errors import SinkError
from streamer.events.clips import ClipRecorder, EncodedStream
from streamer.events.config import EventsConfig
from streamer.events.file import EventsFile
from streamer.events.names import Names
from streamer.events.publisher import EventPublisher
from streamer.events.retention import Retention
from streamer.events.snapshots import SnapshotOutput

if TYPE_CHECKING:
    from streamer.config import RunSettings

log = logging.getLogger("streamer")


class CameraEvents:
    """The events file, the publisher, snapshots, clips and retention of one camera.

    Parameters
    ----------
    config : EventsConfig
    camera : str
        The camera's name.
    bus : EventBus
        The camera's bus: the publisher publishes on it, the events file subscribes.
    labels : sequence of str
        The detector's class names.
    path : Path
        The events JSONL (checked beforehand like every output:
        :func:`streamer.outputs.paths.check_outputs` with ``PlannedOutputs.events``).
    folder : Path
        Where snapshots and clips go (created when the first one is written).
    live : bool
        A live camera's events file is appended to across runs; a file's is replaced.

    Raises
    ------
    SinkError
        ``folder`` exists and is not a folder, or the events file cannot be created.
    """

    def __init__(self, config: EventsConfig, *, camera: str, bus: EventBus, labels: Sequence[str],
                 path: Path, folder: Path, live: bool) -> None:
        if folder.exists() and not folder.is_dir():
            raise SinkError(f"{folder}: exists and is not a folder (snapshots and clips go there; "
                            "choose another events dir)")
        self.config, self.camera, self.bus, self.folder = config, camera, bus, folder
        names = Names(folder, camera)
        self.clips = (ClipRecorder(names, pre_roll=config.pre_roll, post_roll=config.post_roll,
                                   max_clip=config.max_clip) if config.clips else None)
        self.retention = Retention(folder, config.retain.max_bytes, config.retain.max_age,
                                   growing=self.clips.bytes_in_progress if self.clips is not None else lambda: 0)
        if self.clips is not None:
            self.clips.retention = self.retention
        self.retention.scan()  # an earlier run's files count toward the limits
        self.snapshots = SnapshotOutput(self.retention) if config.snapshots else None
        self.file = EventsFile(path, append=live, wants=config.wants)
        bus.subscribe(self.file, name="events-file")
        self.publisher = EventPublisher(camera, bus.publish, labels=labels, wants=config.wants,
                                        snapshots=names if config.snapshots else None, clips=self.clips)

    @classmethod
    def build(cls, settings: RunSettings, *, camera: str, bus: EventBus, labels: Sequence[str],
              live: bool) -> CameraEvents | None:
        """From a camera's settings (``events`` and the output names); None when events are off."""
        paths = settings.events_for(settings.source or "")
        if paths is None or settings.events is None:
            return None
        path, folder = paths
        return cls(settings.events, camera=camera, bus=bus, labels=labels, path=path, folder=folder, live=live)

    @property
    def outputs(self) -> list[Any]:
        """The Outputs to add to the camera's output stage (the snapshot writer)."""
        return [self.snapshots] if self.snapshots is not None else []

    def attach(self, encoded: EncodedStream) -> None:
        """Cut clips from ``encoded``'s packets (the shared encoder); without it no clip is
        named or written."""
        if self.clips is not None:
            self.clips.attach(encoded)

    def close(self) -> None:
        """Finish the clips in progress and close the events file (after the outputs closed;
        idempotent). A failure of the events file was logged when it happened (its lines
        up to then are whole); it does not fail the run, as a failed snapshot or clip does not.
        """
        try:
            if self.clips is not None:
                self.clips.close()
        finally:
            self.bus.unsubscribe(self.file)
            try:
                self.file.close()
            except SinkError as exc:
                log.warning("%s", exc)

    def summary(self) -> dict[str, Any]:
        """Records by kind, files written and deleted (for the run's summary)."""
        return {
            "events": dict(self.publisher.counts),
            "snapshots": self.snapshots.written if self.snapshots is not None else 0,
            "clips": len(self.clips.written) if self.clips is not None else 0,
            "deleted": self.retention.deleted,
        }
