"""Compile the image kernels once, before the test workers start, when Numba's cache is empty.

A fresh clone (what CI runs) has no compiled kernels. Left to the tests, each worker compiled
the kernels its tests met first, often the same ones at the same time, and inside tests that
run a pipeline against the clock: a live camera test spent 15-20 of its 60 s compiling, and a
Ray camera fell 13 s behind (the CI failure that led here). Two processes (the machine's two
cores) now compile the families the pipeline warms up while the workers have not started yet;
the tests then load them from the cache, as on a developer's machine. The kernel tests still
compile the parallel drivers they check (``threads=2``), once.

Skipped when the cache looks warm (every kernel module has an index file: a warm run pays
one directory listing), when ``NUMBA_CACHE_DIR`` puts the cache elsewhere, and in the xdist
workers (the controller does it once).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Longest the two compiling processes may take (a quiet 2-core machine: ~20 s each).
COMPILE_TIMEOUT_S = 300


def _kernel_folder() -> Path | None:
    spec = importlib.util.find_spec("streamer.kernels")  # imports streamer (light), not Numba
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def cache_is_cold(folder: Path) -> bool:
    """True when a module of ``folder`` with cached Numba functions has no cache index yet
    (functions inlined into their callers, ``inline="always"``, are cached with those)."""
    jitted = {p.stem for p in folder.glob("_*.py")
              if any(line.startswith("@njit") and 'inline="always"' not in line for line in p.read_text().splitlines())}
    indexed = {p.name.split(".")[0] for p in (folder / "__pycache__").glob("*.nbi")}
    return bool(jitted - indexed)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts its workers (its hook is trylast)
def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput") or os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = _kernel_folder()
    if folder is None or not cache_is_cold(folder):
        return
    write = session.config.get_terminal_writer().line
    write("Numba's cache is empty: compiling the image kernels in two processes before the tests start")
    t0 = time.monotonic()
    code = "import sys; from streamer.kernels._warmup import FAMILIES, warmup; warmup(FAMILIES[int(sys.argv[1])::2])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, COMPILE_TIMEOUT_S - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            err = f"not done in {COMPILE_TIMEOUT_S} s"
        if proc.returncode != 0:  # the tests compile what is missing, and fail where it cannot compile
            write(f"compiling the kernels failed ({(err.strip().splitlines() or ['?'])[-1]}); the tests will compile them")
    write(f"image kernels compiled in {time.monotonic() - t0:.0f} s")
