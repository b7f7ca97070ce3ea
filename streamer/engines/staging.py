"""Outputs of work that may run more than once: a retried file job, a restarted camera.

A worker process can die at any moment (its machine lost, the OOM killer, a crash in native
code), so nothing it leaves behind may pass for a finished output, and a second attempt must
neither duplicate nor mix with the first:

* **File jobs** write under staging names beside the final ones (``clip.annotated.ray-attempt.mp4``,
  ``clip.detections.ray-attempt.jsonl``; the video sink's own temporary file is
  ``clip.annotated.ray-attempt.part.mp4``) and :func:`publish` renames them over the final
  names once the run ended and closed them. An attempt first removes what an earlier, dead
  attempt staged (:func:`clear_staged`): only files that are streamer's own (see
  :func:`streamer.outputs.paths.is_streamer_output`), never a user's file of the same name.
* **Live cameras** cannot be re-run: a restarted camera keeps what its dead incarnation wrote
  and goes on in new files (``cam.annotated.restart-1.mp4``, ``cam.detections.restart-1.jsonl``,
  :func:`restart_outputs`). What the dead incarnation was writing is made whole first
  (:func:`salvage`): its video's temporary file is cut after the last complete fragment and
  renamed to its final name, its JSONL cut after the last whole line.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from streamer.outputs.paths import is_streamer_output, remove_quietly

log = logging.getLogger("streamer")

STAGE_TAG = ".ray-attempt"
RESTART_TAG = ".restart-"


def _kind(path: Path) -> str:
    return "detections" if path.suffix == ".jsonl" else "video"


def staged(final: Path) -> Path:
    """Where an attempt writes the output that ends up at ``final``."""
    return final.with_name(f"{final.stem}{STAGE_TAG}{final.suffix}")


def clear_staged(finals: Iterable[Path | None]) -> list[Path]:
    """Remove what earlier attempts staged for ``finals`` (and their temporary files).

    Returns the removed paths. A file that matches the pattern but is not streamer's own is
    left alone (and the next staging name is used beside it by the video sink).
    """
    removed = []
    for final in finals:
        if final is None:
            continue
        pattern = f"{glob.escape(final.stem)}{STAGE_TAG}*{glob.escape(final.suffix)}"
        for p in sorted(final.parent.glob(pattern)):
            if p.is_file() and is_streamer_output(p, _kind(final)):
                remove_quietly([p])
                removed.append(p)
    return removed


def publish(pairs: Iterable[tuple[Path | None, Path | None]]) -> None:
    """Rename each finished staged output over its final name (``os.replace``: atomic)."""
    for stage, final in pairs:
        if stage is not None and final is not None and stage.exists():
            os.replace(stage, final)


def segment(final: Path, n: int) -> Path:
    """The ``n``-th restart's file for ``final``: ``cam.annotated.restart-2.mp4``."""
    return final if n == 0 else final.with_name(f"{final.stem}{RESTART_TAG}{n}{final.suffix}")


def _taken(final: Path, n: int) -> bool:
    seg = segment(final, n)
    return seg.exists() or any(seg.parent.glob(f"{glob.escape(seg.stem)}.part*{glob.escape(seg.suffix)}"))


def restart_outputs(finals: tuple[Path | None, Path | None]) -> tuple[tuple[Path | None, Path | None], int]:
    """The outputs of a restarted camera: the first restart number whose files are all free.

    Earlier segments are salvaged first (:func:`salvage`). Returns ``((video, jsonl), n)``.
    """
    present = [f for f in finals if f is not None]
    n = 1
    while any(_taken(f, n) for f in present):
        n += 1
    for k in range(n):
        for f in present:
            salvage(segment(f, k))
    video, jsonl = finals
    return (segment(video, n) if video else None, segment(jsonl, n) if jsonl else None), n


def salvage(final: Path) -> None:
    """Make whole what a dead writer of ``final`` left: a video's ``.part`` file, a cut JSONL line."""
    try:
        if final.suffix == ".jsonl":
            if final.exists():
                _whole_lines(final)
            return
        part = final.with_name(f"{final.stem}.part{final.suffix}")
        if final.exists() or not part.exists():
            return
        from streamer.outputs.video import MP4_LIKE, _playable_end

        if final.suffix.lower() in MP4_LIKE:
            end = _playable_end(part)
            if end == 0:
                remove_quietly([part])
                return
            os.truncate(part, end)
        os.replace(part, final)
        log.info("%s: kept the frames written before the camera's worker died", final)
    except OSError as exc:  # what could not be kept stays where it is, under its temporary name
        log.warning("%s: could not keep what the dead worker wrote (%s)", final, exc)


def _whole_lines(path: Path) -> None:
    """Cut ``path`` after its last newline (a writer killed mid-line leaves half a record)."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb+") as fh:
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                end = pos - step + nl + 1
                if end != size:
                    fh.truncate(end)
                return
            pos -= step
        fh.truncate(0)
