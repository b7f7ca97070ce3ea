"""Bounded queues between pipeline stages, each with a declared overflow policy."""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Policy(enum.Enum):
    """What a full queue does with a new item.

    BLOCK
        Back-pressure: the producer waits. Nothing is ever dropped (recorded files).
    LATEST
        Newest frame wins: the oldest queued item is dropped and counted (live sources,
        where a late frame is worth less than a fresh one).
    """

    BLOCK = "block"
    LATEST = "latest"


class QueueClosed(Exception):
    """Raised by :meth:`FrameQueue.get` once the producer closed the queue and it is empty."""


class QueueAborted(Exception):
    """Raised by every waiting or later call once the pipeline aborted (a worker failed)."""


class FrameQueue(Generic[T]):
    """A bounded FIFO with a policy, end-of-stream and abort.

    Parameters
    ----------
    maxsize : int
        Capacity, at least 1.
    policy : Policy
        Behaviour when full; see :class:`Policy`.
    name : str
        Shown in statistics ("decode->kernels").

    Notes
    -----
    ``close`` marks end-of-stream: consumers drain what is queued, then get
    :class:`QueueClosed`. ``abort`` wakes every waiter at once with :class:`QueueAborted`,
    so a failure anywhere never leaves a thread blocked on a full or empty queue.
    """

    def __init__(self, maxsize: int, policy: Policy, *, name: str = "") -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self.policy = policy
        self.name = name
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._aborted = False
        self.dropped = 0
        self.put_count = 0
        self.high_water = 0

    def put(self, item: T) -> T | None:
        """Queue ``item``; return the item dropped to make room (LATEST), else None."""
        with self._cond:
            dropped: T | None = None
            if self.policy is Policy.BLOCK:
                while len(self._items) >= self.maxsize and not self._aborted:
                    self._cond.wait()
            elif len(self._items) >= self.maxsize:
                dropped = self._items.popleft()
                self.dropped += 1
            if self._aborted:
                raise QueueAborted(self.name)
            if self._closed:
                # The consumer side closed it (a live pipeline stopping without waiting
                # for a source blocked in a connect): the producer should just end.
                raise QueueClosed(self.name)
            self._items.append(item)
            self.put_count += 1
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float | None = None) -> T:
        """Take the oldest item, waiting for one.

        Raises
        ------
        QueueClosed
            The producer closed the queue and everything was taken.
        QueueAborted
            The pipeline aborted.
        TimeoutError
            ``timeout`` seconds passed with nothing to take.
        """
        with self._cond:
            while not self._items and not self._closed and not self._aborted:
                if not self._cond.wait(timeout):
                    raise TimeoutError(self.name)
            if self._aborted:
                raise QueueAborted(self.name)
            if not self._items:
                raise QueueClosed(self.name)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Mark end-of-stream; queued items stay available to the consumer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Wake every waiter with :class:`QueueAborted`; queued items are discarded."""
        with self._cond:
            self._aborted = True
            self._items.clear()
            self._cond.notify_all()

    @property
    def aborted(self) -> bool:
        return self._aborted

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
