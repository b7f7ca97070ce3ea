"""Settings of network outputs: ``--publish``, ``--hls``, ``--bitrate``, ``--gop`` and the
per-camera ``outputs:`` list.

In the YAML (each entry its own output, with its own encoder settings; entries with equal
settings share one encode)::

    bitrate: 2M              # default of every live encoder
    gop: 1                   # seconds between key frames
    publish: [rtsp://127.0.0.1:8554/annotated]
    outputs:
      - {publish: "rtmp://live.example/app/KEY", bitrate: 4M, gop: 2}
      - {hls: /srv/hls/door}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def parse_bitrate(value: Any) -> int:
    """``"2M"`` -> 2_000_000, ``"800k"`` -> 800_000, ``1500000`` -> 1_500_000 (bits per second).

    Raises
    ------
    ValueError
        Not a number with an optional k/M suffix, or outside 10k..1000M.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*", str(value))
    if match is None:
        raise ValueError(f"expected a bitrate such as 2M, 800k or 1500000, got {value!r}")
    bits = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if not 10_000 <= bits <= 1_000_000_000:
        raise ValueError(f"bitrate {value!r} is out of range (10k to 1000M)")
    return int(bits)


class OutputConfig(BaseModel):
    """One entry of ``outputs:``: a publish URL or an HLS folder, with optional encoder settings."""

    model_config = ConfigDict(extra="forbid")

    publish: str | None = Field(None, description="rtsp://, rtmp://, udp:// or srt:// URL to push to")
    hls: Path | None = Field(None, description="folder for a live HLS playlist (index.m3u8) and segments")
    bitrate: str | None = Field(None, description="this output's encoder bitrate (default: the camera's)")
    gop: float | None = Field(None, gt=0.0, le=60.0, description="seconds between key frames (default: the camera's)")

    @field_validator("bitrate")
    @classmethod
    def _bitrate(cls, v: str | None) -> str | None:
        if v is not None:
            parse_bitrate(v)
        return v

    @model_validator(mode="after")
    def _one_target(self) -> OutputConfig:
        if (self.publish is None) == (self.hls is None):
            raise ValueError("give exactly one of publish: URL or hls: DIR")
        return self


@dataclass(frozen=True)
class NetworkOutput:
    """One network output resolved from the settings: (publish URL or HLS folder, encoder settings)."""

    publish: str | None
    hls: Path | None
    bitrate: int
    gop: float


def network_outputs(publish: list[str], hls: Path | None, outputs: list[OutputConfig], *,
                    bitrate: str, gop: float) -> list[NetworkOutput]:
    """Every network output of a camera: ``--publish`` URLs and ``--hls`` with the camera's
    encoder settings, then the ``outputs:`` entries with their own."""
    rate = parse_bitrate(bitrate)
    found = [NetworkOutput(url, None, rate, gop) for url in publish]
    if hls is not None:
        found.append(NetworkOutput(None, hls, rate, gop))
    for entry in outputs:
        found.append(NetworkOutput(entry.publish, entry.hls,
                                   parse_bitrate(entry.bitrate) if entry.bitrate else rate, entry.gop or gop))
    return found
