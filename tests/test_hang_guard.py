"""The suite's own guard against hangs (issue 12): a test stuck in C code that holds the GIL —
which pytest-timeout's signal cannot interrupt — ends with a stack dump, and the other tests
still run and pass."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HANGS = textwrap.dedent('''
    import ctypes

    def test_hangs_in_c_holding_the_gil():
        # A deadlock in C with the GIL held, as in issue 12: PyDLL keeps the GIL across the
        # call, and locking a (glibc, default-type) mutex this thread holds waits for ever;
        # signals do not interrupt it, so SIGALRM's Python handler never runs.
        libc = ctypes.PyDLL(None)
        mutex = ctypes.create_string_buffer(64)  # zeroed: PTHREAD_MUTEX_INITIALIZER
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)

    def test_python_hang_fails_alone():
        import time
        time.sleep(120)

    def test_others_still_run():
        assert True
''')


def test_a_hang_in_c_fails_one_test_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(HANGS)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["hang_guard"]\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "STREAMER_TEST_HANG_GRACE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--timeout", "2",
         "--timeout-method", "signal", "-o", "addopts=", str(tmp_path)],
        capture_output=True, text=True, timeout=50, env=env, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "test_hangs_in_c_holding_the_gil" in out and "crashed" in out  # the watchdog ended that worker
    assert "Timeout" in out and "test_python_hang_fails_alone" in out     # pytest-timeout's own failure
    assert "2 failed, 1 passed" in out
