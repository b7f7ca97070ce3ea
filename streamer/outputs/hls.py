"""``--hls DIR``: a live HLS playlist and segments from the shared encoder's packets.

FFmpeg's ``hls`` muxer (through PyAV) writes ``DIR/index.m3u8`` and MPEG-TS segments
``DIR/segment-NNNNN.ts``: a rolling window of ``LIST_SIZE`` segments (older ones are deleted,
``delete_segments``), each one key-frame interval (``--gop``) long, since the live encoder
puts a key frame exactly every ``gop`` seconds. The playlist is replaced atomically
(``temp_file``), so a server reading it never sees half of one. Audio (AAC) is carried.

DIR is the output's alone: it is created, or it must be empty, or hold an earlier run's HLS
output (marked by :data:`MARKER`); anything else is refused before the run starts, so a user's
files are never overwritten or deleted. It is served over HTTP by ``--serve``.
"""

from __future__ import annotations

from pathlib import Path

from streamer.errors import SinkError
from streamer.outputs.paths import os_reason
from streamer.outputs.publish import Target

#: Segments in the playlist: 6 x ~1 s keeps a player a few seconds behind at most.
LIST_SIZE = 6
#: A file that marks DIR as streamer's HLS output, so a re-run may replace its contents.
MARKER = ".streamer-hls"
PLAYLIST = "index.m3u8"


def check_hls_dir(folder: Path) -> None:
    """Refuse a folder that holds anything but an earlier streamer HLS output; create and mark it.

    Raises
    ------
    SinkError
        ``DIR: is a file``, ``DIR: holds files that streamer did not write ...``, or the
        reason it cannot be created.
    """
    if folder.exists() and not folder.is_dir():
        raise SinkError(f"{folder}: is a file, not a folder for HLS segments")
    try:
        if folder.is_dir():
            entries = [p.name for p in folder.iterdir()]
            if entries and MARKER not in entries:
                raise SinkError(f"{folder}: holds files that streamer did not write; not writing HLS there "
                                "(give an empty or new folder)")
            for name in entries:  # an earlier run's segments and playlist: ours to replace
                if name.endswith((".ts", ".m3u8", ".tmp")):
                    (folder / name).unlink()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("HLS output of streamer; the folder's contents are replaced by each run\n")
    except OSError as exc:
        raise SinkError(f"{folder}: cannot prepare the HLS folder ({os_reason(exc)})") from None


def hls_target(folder: Path, *, gop: float) -> Target:
    """The publisher target that writes ``folder``'s playlist and segments (no retries)."""
    return Target(
        str(folder / PLAYLIST), "hls",
        {
            "hls_time": f"{gop:g}",
            "hls_list_size": str(LIST_SIZE),
            "hls_flags": "delete_segments+temp_file+independent_segments",
            "hls_segment_filename": str(folder / "segment-%05d.ts"),
            "hls_allow_cache": "0",
        },
        audio=True, retry=False, name=f"hls:{folder}",
    )
