"""A pytest plugin: every test gets a hard deadline that also holds for hangs inside C code.

pytest-timeout's "signal" method fails a test that hangs in Python code and lets the run go
on; but a deadlock inside C code that holds the GIL (issue 12: FFmpeg freeing a decoder while
its worker waits for the GIL) never lets the SIGALRM handler run. faulthandler's watchdog is a
C thread: ``HANG_GRACE`` seconds after the test's timeout it dumps every thread's stack and
ends the process (under pytest-xdist, that worker: the test is reported as crashed and the run
goes on). ``STREAMER_TEST_HANG_GRACE`` overrides the grace (tests of this guard use 1 s).
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator

import pytest

HANG_GRACE = float(os.environ.get("STREAMER_TEST_HANG_GRACE", "30"))


def _timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    value = item.config.getoption("timeout", None)
    if value is None:
        value = item.config.getini("timeout")
    return float(value or 0)


@pytest.fixture(autouse=True)
def _hard_deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    timeout = _timeout(request.node)
    if timeout > 0:
        faulthandler.dump_traceback_later(timeout + HANG_GRACE, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
