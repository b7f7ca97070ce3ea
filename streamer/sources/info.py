"""What a source holds: container, streams, sizes, rates (``streamer info``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream of a container, as the demuxer and decoder describe it."""

    index: int
    kind: str
    codec: str
    time_base: Fraction | None
    duration: float | None
    frames: int | None
    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    pix_fmt: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A probed source."""

    uri: str
    container: str
    duration: float | None
    size_bytes: int | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return float(v) if isinstance(v, Fraction) else v

        out = asdict(self)
        out["streams"] = [{k: plain(v) for k, v in asdict(s).items()} for s in self.streams]
        return out

    def format(self) -> str:
        """Human-readable, one line per stream."""
        lines = [
            f"{self.uri}",
            f"  container: {self.container}"
            + (f", {self.size_bytes / 1e6:.1f} MB" if self.size_bytes is not None else "")
            + (f", duration {self.duration:.3f} s" if self.duration is not None else ""),
        ]
        for s in self.streams:
            parts = [f"#{s.index} {s.kind}: {s.codec}"]
            if s.profile:
                parts[0] += f" ({s.profile})"
            if s.kind == "video" and s.width is not None:
                parts.append(f"{s.width}x{s.height}")
                if s.pix_fmt:
                    parts.append(s.pix_fmt)
                if s.fps:
                    parts.append(f"{float(s.fps):.3f} fps")
            if s.kind == "audio":
                parts.append(f"{s.sample_rate} Hz")
                if s.channels:
                    parts.append(f"{s.channels} ch")
            if s.duration is not None:
                parts.append(f"{s.duration:.3f} s")
            parts.append(f"{s.frames} frames" if s.frames else "frame count unknown")
            if s.bit_rate:
                parts.append(f"{s.bit_rate / 1000:.0f} kb/s")
            lines.append("  " + ", ".join(parts))
        return "\n".join(lines)


def stream_info(stream: av.stream.Stream) -> StreamInfo:
    """Describe one PyAV stream."""
    tb = stream.time_base
    duration = float(stream.duration * tb) if stream.duration is not None and tb else None
    ctx = stream.codec_context
    common: dict[str, Any] = dict(
        index=stream.index,
        kind=stream.type,
        codec=ctx.name if ctx is not None else "unknown",
        time_base=Fraction(tb) if tb else None,
        duration=duration,
        frames=int(stream.frames) or None,
        bit_rate=(ctx.bit_rate or None) if ctx is not None else None,
        profile=getattr(ctx, "profile", None) or None,
    )
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return StreamInfo(
            **common,
            width=ctx.width if ctx is not None else None,
            height=ctx.height if ctx is not None else None,
            fps=Fraction(rate) if rate else None,
            pix_fmt=ctx.format.name if ctx is not None and ctx.format is not None else None,
        )
    if stream.type == "audio":
        layout = getattr(ctx, "layout", None)
        return StreamInfo(
            **common,
            sample_rate=ctx.sample_rate,
            channels=len(layout.channels) if layout is not None else None,
        )
    return StreamInfo(**common)


def container_info(uri: str, container: av.container.InputContainer, size: int | None) -> SourceInfo:
    """Describe an open input container."""
    duration = container.duration / av.time_base if container.duration is not None else None
    return SourceInfo(
        uri=uri,
        container=container.format.long_name or container.format.name,
        duration=duration,
        size_bytes=size,
        streams=tuple(stream_info(s) for s in container.streams),
    )
