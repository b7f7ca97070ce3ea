"""The outputs of one camera, built from its settings (the Runner only composes them).

Files come first (the video, then the JSONL): they never drop a frame and their failure is
the run's. Outputs passed in by the caller (a live view, a window) follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streamer.config import RunSettings
from streamer.outputs.base import Output
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.video import SourceMedia, VideoOutput


def build_outputs(
    settings: RunSettings,
    *,
    video: Path | None,
    jsonl: JsonlSink | None,
    media: SourceMedia,
    live: bool,
    extra: Sequence[Output] = (),
) -> list[Output]:
    """Every output of a camera, in fan-out order.

    Parameters
    ----------
    settings : RunSettings
        The camera's settings (encoder settings of the file).
    video : Path or None
        The annotated video's path, None for none.
    jsonl : JsonlSink or None
        The detections file, already created (it also takes event records).
    media : callable
        (frame rate, audio stream) of the source, asked when the first frame arrives.
    live : bool
        A live source or ``--realtime``: the file is watched as it is made, so x264 gets
        ``tune=zerolatency`` (no B-frame or look-ahead delay).
    extra : sequence of Output
        The caller's own outputs (live view, window), after the files.
    """
    outputs: list[Output] = []
    if video is not None:
        outputs.append(VideoOutput(video, media=media, crf=settings.crf, preset=settings.preset,
                                   tune="zerolatency" if live else None))
    if jsonl is not None:
        outputs.append(jsonl)
    outputs.extend(extra)
    return outputs
