"""tests/kernel_cache.py: when the controller compiles the kernels before the workers start."""

from __future__ import annotations

from pathlib import Path

from kernel_cache import cache_is_cold


def test_cache_is_cold_until_every_cached_module_has_an_index(tmp_path: Path) -> None:
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "_blur.py").write_text('@njit(cache=True, nogil=True)\ndef _band(): ...\n')
    (tmp_path / "_rows.py").write_text('@njit(cache=True, nogil=True, inline="always")\ndef copy_row(): ...\n')
    (tmp_path / "_plain.py").write_text("def check(): ...  # '@njit' in a comment does not count\n")
    assert cache_is_cold(tmp_path)  # nothing compiled yet
    (tmp_path / "__pycache__" / "_blur._band-1.py311.nbi").write_bytes(b"")
    # Inlined functions are cached with their callers; _plain has no Numba function.
    assert not cache_is_cold(tmp_path)


def test_the_repository_kernels_are_what_it_reads() -> None:
    from kernel_cache import _kernel_folder

    folder = _kernel_folder()
    assert folder is not None and (folder / "_warmup.py").is_file()
