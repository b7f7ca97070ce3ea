"""Open -> decode -> close cycles of streamer's sources, for ``test_decode_stress.py``.

Not a test module: the test runs it in a subprocess with a hard time limit, because the
failure it looks for (issue 12) is a process that never returns, inside FFmpeg, with the
GIL held. Usage::

    python decode_stress.py file CLIP CYCLES
    python decode_stress.py live URL CYCLES

Each cycle is one of the ways the product ends decoding: the whole file; a consumer that
stops after a few frames and drops the generator unclosed (garbage collection closes it);
a decode thread stopped early whose source is then dropped by the main thread (the
pipeline's shape, and ``--max-frames``/``--duration``/Ctrl-C/``streamer.stream()`` with a
``break``). Before the first cycle PyAV's Python logging is switched on, as the product
itself did before the fix, so that a source that leaves it on would deadlock here.

Prints ``cycle N`` after each cycle and ``done N`` at the end; faulthandler dumps every
thread's stack and exits 1 if one cycle takes longer than ``STALL_S``.
"""

from __future__ import annotations

import faulthandler
import gc
import random
import sys
import threading

import av.logging

from streamer.sources.file import FileSource
from streamer.sources.live import Backoff, LiveSource

STALL_S = 30.0


def file_cycle(clip: str, variant: int, rng: random.Random) -> None:
    source = FileSource(clip)
    source.open()
    if variant == 0:  # the whole file
        for _ in source.frames():
            pass
    elif variant == 1:  # stop early, drop the generator without closing it
        frames = source.frames()
        for _ in range(rng.randint(1, 12)):
            next(frames)
        del frames
    else:  # a decode thread stops early; the main thread drops the source
        stop_after = rng.randint(1, 12)

        def decode() -> None:
            for i, _ in enumerate(source.frames()):
                if i + 1 >= stop_after:
                    break

        worker = threading.Thread(target=decode, name="streamer-stress-decode")
        worker.start()
        worker.join()
    del source
    gc.collect()


def live_cycle(url: str, variant: int, rng: random.Random) -> None:
    source = LiveSource(url, open_timeout=5.0, stall_timeout=5.0, retries=3, backoff=Backoff(0.1, 0.5),
                        max_frames=rng.randint(1, 8))
    if variant == 0:  # to max_frames on this thread
        for _ in source.frames():
            pass
    else:  # a decode thread, stopped from here after its first frame
        got_one = threading.Event()

        def decode() -> None:
            for _ in source.frames():
                got_one.set()

        worker = threading.Thread(target=decode, name="streamer-stress-live")
        worker.start()
        got_one.wait(STALL_S / 2)
        source.stop()
        worker.join()
    del source
    gc.collect()


def main(argv: list[str]) -> int:
    kind, target, cycles = argv[0], argv[1], int(argv[2])
    av.logging.set_level(av.logging.ERROR)
    run = file_cycle if kind == "file" else live_cycle
    rng = random.Random(12)
    for n in range(cycles):
        faulthandler.dump_traceback_later(STALL_S, exit=True)
        run(target, n % (3 if kind == "file" else 2), rng)
        faulthandler.cancel_dump_traceback_later()
        print(f"cycle {n}", flush=True)
    print(f"done {cycles}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
