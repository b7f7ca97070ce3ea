"""Retention: a camera's snapshots and clips stay within a total size and an age.

Only files this tool wrote are counted and deleted (:func:`streamer.events.names.is_ours`),
oldest (by modification time) first. Clips being written count toward the size but are
never deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from streamer.events.names import is_ours
from streamer.outputs.paths import os_reason

log = logging.getLogger("streamer")

#: Files retention looks at; anything else in the folder is left alone.
SUFFIXES = (".jpg", ".mp4")


class Retention:
    """The index of one folder's files of ours, and the sweep that keeps it within limits.

    Parameters
    ----------
    folder : Path
    max_bytes : int
        Most bytes the files (and the clips in progress) may take together.
    max_age : float
        Seconds; older files are deleted.
    growing : callable, optional
        Bytes written so far by files in progress (clips), counted toward ``max_bytes``.
    clock : callable
        Epoch seconds (``time.time``; tests pass their own).

    Notes
    -----
    Thread-safe: snapshots are added from the snapshot output's thread, clips from the
    encoder's. A sweep runs on every :meth:`add` and costs one ``stat`` per new file.
    """

    def __init__(self, folder: Path, max_bytes: int, max_age: float, *,
                 growing: Callable[[], int] = lambda: 0, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.max_bytes, self.max_age = int(max_bytes), float(max_age)
        self._growing, self._clock = growing, clock
        self._files: dict[Path, tuple[float, int]] = {}
        self._total = 0
        self._lock = threading.Lock()
        self.deleted = 0
        self._warned = False

    @property
    def total(self) -> int:
        """Bytes of the finished files in the index."""
        return self._total

    def scan(self) -> None:
        """Index the files of ours already in the folder (an earlier run's), then sweep."""
        if self.folder.is_dir():
            for path in sorted(self.folder.iterdir()):
                if path.suffix.lower() in SUFFIXES and path.is_file() and is_ours(path):
                    self._index(path)
        self.sweep()

    def add(self, path: Path) -> None:
        """A file just finished: index it, then sweep."""
        self._index(path)
        self.sweep()

    def _index(self, path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            return
        with self._lock:
            old = self._files.pop(path, None)
            self._total += st.st_size - (old[1] if old else 0)
            self._files[path] = (st.st_mtime, st.st_size)

    def sweep(self) -> list[Path]:
        """Delete files older than ``max_age``, then the oldest until the total fits.

        Returns
        -------
        list of Path
            The files deleted.
        """
        deleted = []
        with self._lock:
            limit = self._clock() - self.max_age
            by_age = sorted(self._files.items(), key=lambda kv: kv[1][0])
            budget = self.max_bytes - self._growing()
            for path, (mtime, size) in by_age:
                if mtime >= limit and self._total <= budget:
                    break
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    if not self._warned:
                        self._warned = True
                        log.warning("%s: cannot delete an old event file (%s)", path, os_reason(exc))
                    continue
                del self._files[path]
                self._total -= size
                deleted.append(path)
            self.deleted += len(deleted)
        return deleted
