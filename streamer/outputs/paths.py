"""Output paths: what a run may write, checked before anything is opened for writing.

The rule (also in the README's *Outputs*):

* no output may be an input of the run (any camera's source) or another output of it,
  compared by resolved path and, for files that exist, by identity (``os.path.samefile``:
  symbolic and hard links to the same file count as the same file);
* an existing file is overwritten only when it is an earlier output of streamer: an MP4
  (or other container) whose ``comment`` tag is :data:`WRITTEN_BY`, a JSONL file whose
  first line is a streamer record (it has ``frame`` or ``event``), or an empty file.
  Anything else is refused, so re-running a command replaces its own results while a
  user's own file is never lost;
* a video is written under a temporary name beside the final one (:func:`reserve_part`)
  and renamed over it only once it is complete.

Every refusal is a :class:`~streamer.errors.SinkError` whose message starts with the path.
"""

from __future__ import annotations

import errno
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from streamer.errors import SinkError

#: Container ``comment`` tag that marks a video as written by streamer (so a re-run may replace it).
WRITTEN_BY = "streamer"


@dataclass(frozen=True)
class PlannedOutputs:
    """What one camera of a run reads and writes.

    Parameters
    ----------
    camera : str
        Camera name, used in messages when a run has several.
    source : str
        The input as given (a path, a URL or a device).
    video, jsonl : Path or None
        The outputs, None for none.
    events : Path or None
        The events JSONL (:mod:`streamer.events.file`), None for none.
    """

    camera: str
    source: str
    video: Path | None
    jsonl: Path | None
    events: Path | None = None

    def outputs(self) -> list[tuple[str, Path]]:
        return [(kind, p) for kind, p in (("video", self.video), ("detections", self.jsonl), ("events", self.events))
                if p is not None]


def os_reason(exc: BaseException) -> str:
    """``no space left on device`` for ENOSPC: the system's message, lower case, no path."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0 and code in errno.errorcode:
        text = os.strerror(code)
    else:
        text = getattr(exc, "strerror", None) or str(exc)
    return text[:1].lower() + text[1:]


def _real(path: Path) -> str:
    return os.path.realpath(os.path.abspath(path))


def _same(a: Path, b: Path) -> bool:
    """Same file: same resolved path, or (both existing) the same inode (hard links)."""
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _local_input(source: str) -> Path | None:
    """The source as a path when it is a local file (URLs and devices are never outputs' business)."""
    from streamer.sources.urls import is_live

    return None if is_live(source) else Path(source)


def is_streamer_output(path: Path, kind: str) -> bool:
    """Whether an existing ``path`` is an earlier streamer output of ``kind`` (or empty)."""
    try:
        if path.stat().st_size == 0:
            return True
        if kind in ("detections", "events"):
            with path.open("rb") as fh:
                first = fh.readline(1 << 16)
            record = json.loads(first)
            return isinstance(record, dict) and ("frame" in record or "event" in record)
        with av.open(str(path)) as container:  # Matroska keeps tag names upper-case: COMMENT
            return any(k.lower() == "comment" and v == WRITTEN_BY for k, v in container.metadata.items())
    except (OSError, ValueError, av.error.FFmpegError):  # unreadable or not ours: not overwritten
        return False


def plan_outputs(settings: Any) -> PlannedOutputs:
    """What a camera's settings (:class:`~streamer.config.RunSettings`, with a source) will read
    and write."""
    from streamer.sources.urls import output_stem

    source = str(settings.source)
    video, jsonl = settings.outputs_for(source)
    events = settings.events_for(source)
    return PlannedOutputs(settings.name or output_stem(source), source, video, jsonl, events[0] if events else None)


def check_outputs(plans: Sequence[PlannedOutputs]) -> None:
    """Refuse outputs that would destroy an input, another output or a user's file.

    Parameters
    ----------
    plans : sequence of PlannedOutputs
        Every camera of the run (one for ``streamer run FILE``).

    Raises
    ------
    SinkError
        ``<output>: <why>`` for the first conflict found; nothing has been written.
    """
    several = len(plans) > 1
    inputs = [(p, src) for p in plans if (src := _local_input(p.source)) is not None]
    seen: list[tuple[PlannedOutputs, str, Path]] = []
    for plan in plans:
        for kind, out in plan.outputs():
            if out.is_dir():
                raise SinkError(f"{out}: is a directory (give a file name for the {kind})")
            for owner, src in inputs:
                if _same(out, src):
                    whose = f" of camera {owner.camera}" if several and owner is not plan else ""
                    raise SinkError(f"{out}: would overwrite the input{whose} {src}; choose another output name")
            for other, other_kind, other_out in seen:
                if _same(out, other_out):
                    if other is plan:
                        raise SinkError(f"{out}: both the {other_kind} and the {kind} would be written to this file")
                    raise SinkError(f"{out}: cameras {other.camera} and {plan.camera} would both write this file "
                                    "(give them different names or outputs)")
            seen.append((plan, kind, out))
            if kind == "video" and (problem := video_container_problem(out)):
                raise SinkError(f"{out}: {problem}")
            if out.exists() and not is_streamer_output(out, kind):
                raise SinkError(f"{out}: exists and was not written by streamer; not overwriting it "
                                "(remove it or choose another name)")


class _Named(io.BytesIO):
    """A memory file with a name: FFmpeg guesses the container from it, nothing touches the disk."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def video_container_problem(path: Path) -> str | None:
    """Why the container FFmpeg picks for ``path`` cannot hold the annotated H.264 video, or
    None: checked in memory (a few ms), before the model loads and the source opens, not
    at the first frame (``--out clip.webm``: WebM holds VP8/VP9/AV1 only)."""
    use = "use .mp4, .mkv or .mov"
    try:
        with av.open(_Named(path.name), "w") as container:
            try:
                container.add_stream("libx264")
            except (av.error.FFmpegError, ValueError):
                return f"a {path.suffix or container.format.name} file cannot hold the H.264 video streamer writes ({use})"
    except (av.error.FFmpegError, ValueError):
        if not path.suffix:
            return f"has no extension to choose the container by ({use})"
        return f"no container goes by the extension {path.suffix} ({use})"
    return None


def reserve_part(final: Path) -> Path:
    """Create and return a fresh temporary file beside ``final``: ``a.annotated.part.mp4``.

    The temporary name keeps the extension, so FFmpeg picks the same container and a file
    left by a crash still opens in a player; ``.part-2``, ``.part-3``... are used when the
    name is taken (it may hold what a crashed run saved), so nothing is overwritten.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        tag = ".part" if n == 1 else f".part-{n}"
        part = final.with_name(f"{final.stem}{tag}{final.suffix}")
        try:
            os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return part
    raise SinkError(f"{final}: no free temporary name beside it (remove the old *.part files)")


def remove_quietly(paths: Iterable[Path | None]) -> None:
    """Delete temporary files, ignoring ones already gone."""
    for p in paths:
        if p is not None:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
