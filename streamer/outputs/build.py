"""The outputs of one camera, built from its settings (the Runner only composes them).

Files come first (the video, then the JSONL): they never drop a frame and their failure is
the run's. Then one live encoder per distinct (bitrate, key-frame interval) that the network
outputs ask for, each with its publishers and HLS writers listening; then the outputs passed
in by the caller (a live view, a window).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streamer.config import RunSettings
from streamer.outputs.base import Output
from streamer.outputs.config import network_outputs, parse_bitrate
from streamer.outputs.encoder import EncodedVideo, LiveEncoding, choose_encoder
from streamer.outputs.hls import check_hls_dir, hls_target
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.publish import PermanentError, Publisher, Target, network_target
from streamer.outputs.video import SourceMedia, VideoOutput
from streamer.queues import Policy

Publish = Callable[[dict[str, Any]], None]


def build_outputs(
    settings: RunSettings,
    *,
    video: Path | None,
    jsonl: JsonlSink | None,
    media: SourceMedia,
    live: bool,
    extra: Sequence[Output] = (),
    camera: str = "streamer",
    publish: Publish | None = None,
    encoder: bool = False,
) -> list[Output]:
    """Every output of a camera, in fan-out order.

    Parameters
    ----------
    settings : RunSettings
        The camera's settings (the file's encoder settings, network outputs).
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
        The caller's own outputs (live view, window), after the others.
    camera : str
        The camera's name (threads, event records).
    publish : callable, optional
        The run's EventBus ``publish``: network outputs' state events.
    encoder : bool
        Make a live encoder (the camera's ``bitrate``/``gop``) even without network outputs:
        event clips cut its packets (:func:`shared_encoder` finds it).

    Raises
    ------
    SinkError
        An HLS folder that holds a user's files. (A bad publish URL is not an error of the run:
        that output starts ``failed``, with a one-line error.)
    """
    outputs: list[Output] = []
    if video is not None:
        outputs.append(VideoOutput(video, media=media, crf=settings.crf, preset=settings.preset,
                                   tune="zerolatency" if live else None))
    if jsonl is not None:
        outputs.append(jsonl)
    encoders = live_encoders(settings, media=media, camera=camera, publish=publish)
    if encoder and not encoders:
        encoders = [EncodedVideo(LiveEncoding(bitrate=parse_bitrate(settings.bitrate), gop=settings.gop), media=media)]
    if not live:
        # A file is processed as fast as the slowest output allows and nothing is dropped:
        # its clips and publishes get every frame (the publishers' own queues still drop).
        for e in encoders:
            e.policy = Policy.BLOCK
    outputs.extend(encoders)
    outputs.extend(extra)
    return outputs


def live_encoders(settings: RunSettings, *, media: SourceMedia, camera: str,
                  publish: Publish | None) -> list[EncodedVideo]:
    """One :class:`EncodedVideo` per distinct encoder settings, its publishers started."""
    wanted = network_outputs(settings.publish, settings.hls, settings.outputs, bitrate=settings.bitrate, gop=settings.gop)
    encoders: dict[LiveEncoding, EncodedVideo] = {}
    for i, out in enumerate(wanted):
        encoding = LiveEncoding(bitrate=out.bitrate, gop=out.gop)
        if encoding not in encoders:
            name = "encoder" if not encoders else f"encoder-{encoding.label}"
            encoders[encoding] = EncodedVideo(encoding, media=media, codec=choose_encoder(), name=name)
        error = None
        if out.hls is not None:
            check_hls_dir(out.hls)
            target = hls_target(out.hls, gop=out.gop)
        else:
            assert out.publish is not None
            try:
                target = network_target(out.publish, stall_timeout=settings.stall_timeout)
            except PermanentError as exc:
                target, error = Target(out.publish, "", retry=False), str(exc)
        # Started by the encoder with its first frame; one that cannot work says so now.
        Publisher(target, encoders[encoding], camera=camera, publish=publish, error=error,
                  stall_timeout=settings.stall_timeout, connect_timeout=settings.open_timeout, index=i)
    return list(encoders.values())


def shared_encoder(outputs: Sequence[Output]) -> EncodedVideo | None:
    """The camera's (first) live encoder, whose packets event clips and publishers share."""
    return next((o for o in outputs if isinstance(o, EncodedVideo)), None)


def describe_outputs(outputs: Sequence[Output]) -> str | None:
    """The start-up words on the live encoder (which one and why), when there is one."""
    encoders = [o for o in outputs if isinstance(o, EncodedVideo)]
    if not encoders:
        return None
    targets = sum(len(e.sinks) for e in encoders)
    used = f"{targets} network output{'s' if targets > 1 else ''}" if targets else "event clips"
    return f"{encoders[0].codec.describe()}, {len(encoders)} encode{'s' if len(encoders) > 1 else ''} for {used}"
