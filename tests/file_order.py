"""A pytest plugin: under pytest-xdist, the test files that take longest are handed out first.

With ``--dist loadfile`` each file goes whole to one worker, in the order of the collection
(``--no-loadscope-reorder``). pytest-xdist's own reordering puts the files with the most tests
first, which left the few-test, long files (a Ray cluster, CLI runs, a hang-guard run) to the
end, where one worker ran on alone. Back to back on the same tree (load ~5), the three workers
ended at 188/193/197 s in pytest-xdist's order and at 187/190/188 s longest first; a simulation
from a loaded run's per-test times puts the last worker 15 s and 0.1 s after the mean. Each
worker collects the same list, so every worker reorders it the same way. Files not listed keep
pytest-xdist's order (most tests first) after the listed ones; the doctests of kernels/ (a few
each, quick) come last and fill the end. A new file that takes more than ~8 s belongs in
:data:`LONGEST`. Without xdist (``-n 0``) nothing is reordered.
"""

from __future__ import annotations

from collections import Counter

import pytest

#: Wall seconds per file, measured with the whole suite on 3 workers (2 cores, quiet machine,
#: 1357 tests, 2026-12-01); only their order matters. A file's entry is its path from the rootdir.
LONGEST: dict[str, float] = {
    "tests/test_ray.py": 49,  # 3 runs on one Ray head node, the node's start included
    "tests/test_cli.py": 47,
    "tests/test_outputs.py": 32,
    "tests/test_live.py": 30,
    "tests/test_pipes.py": 25,
    "tests/test_live_feedback.py": 24,
    "tests/test_rtsp_server.py": 18,
    "tests/test_cli_errors.py": 17,
    "tests/test_audio_formats.py": 15,
    "tests/test_first_use.py": 14,
    "tests/test_bites.py": 14,
    "tests/test_api.py": 12,
    "tests/test_counting_real.py": 12,
    "tests/test_service.py": 12,
    "tests/test_output_safety.py": 12,
    "tests/test_kernels_suite.py": 11,
    "tests/test_bundled_models.py": 9,
    "tests/test_publish.py": 8,
    "tests/test_live_options.py": 8,
    "tests/test_decode_stress.py": 8,
    "tests/test_serve_run.py": 8,
    "tests/test_video_sink.py": 8,
    "tests/test_snapshot.py": 7,
    "tests/test_live_give_up.py": 7,
    "tests/test_hang_guard.py": 7,
    "tests/test_live_units.py": 6,
    "tests/test_damaged_input.py": 6,
    "tests/test_mutants_live.py": 6,
    "tests/test_int8.py": 6,
    "tests/test_mutants.py": 5,
    "tests/test_notify.py": 5,
    "tests/test_monitoring.py": 5,
    "tests/test_sources.py": 4,
    "tests/test_mutants_sources.py": 4,
    "tests/test_detection.py": 4,
}


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not a pytest-xdist worker
        return
    tests = Counter(_file(item) for item in items)
    # sorted() is stable: a file's tests keep their order.
    items.sort(key=lambda item: (-LONGEST.get(_file(item), 0.0), -tests[_file(item)]))
