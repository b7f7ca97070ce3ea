"""Tests that kill mutants mutmut found alive (issue 11; docs/testing.md lists each one).

Each test names the module and the behaviour the surviving mutant changed. Everything runs
on real parts: the real queues and pipeline threads, real PyAV files, the real ONNX Runtime
on tiny models written with ``onnx.helper``.
"""

from __future__ import annotations

import pytest

from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed


# -- streamer/queues.py ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [Policy.BLOCK, Policy.LATEST])
def test_queue_counts_every_accepted_item(policy: Policy) -> None:
    """``put_count`` counts every item queued, also those a LATEST queue later drops.

    Kills ``self.put_count += 1`` -> ``= 1`` and ``-= 1`` (queues.put).
    """
    q: FrameQueue[int] = FrameQueue(2, policy, name="decode->kernels")
    for i in range(2):
        q.put(i)
    assert q.get() == 0
    q.put(2)
    if policy is Policy.LATEST:
        q.put(3)  # full: drops 1
    assert q.put_count == (4 if policy is Policy.LATEST else 3)
    assert q.high_water == 2


def test_queue_errors_name_the_queue() -> None:
    """A closed or aborted queue says which link it is (``decode->kernels``).

    Kills ``QueueClosed(self.name)`` / ``QueueAborted(self.name)`` -> ``(None)`` in put and get.
    """
    q: FrameQueue[int] = FrameQueue(1, Policy.BLOCK, name="decode->kernels")
    q.close()
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.get()
    q.abort()
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.get()
    with pytest.raises(TimeoutError, match=r"^kernels->detect$"):
        FrameQueue(1, Policy.LATEST, name="kernels->detect").get(timeout=0.01)
