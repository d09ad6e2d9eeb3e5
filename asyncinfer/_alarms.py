"""One loop timer for the deadlines of all of a client's calls."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

__all__ = ["Alarm", "Alarms"]

# [when, order, callback]; callback None once cancelled or run. A list, so that cancelling
# is a store, not a search of the heap.
Alarm = list[Any]

# Cancelled alarms are dropped all at once when they outnumber the live ones (and past this
# many): the heap stays within twice what is live.
_COMPACT_AFTER = 64


class Alarms:
    """Runs each callback at its time, with one loop timer armed at the nearest.

    A loop timer per call costs a handle, a context copy and a heap push, then a cancel, on
    every request: ~5 µs of a ~270 µs time to first token on a kept-alive connection. Here
    setting an alarm is a push onto a heap of lists, and cancelling one clears it.
    """

    __slots__ = ("_cancelled", "_heap", "_order", "_timer", "_timer_at")

    def __init__(self) -> None:
        self._heap: list[Alarm] = []
        self._order = itertools.count()  # equal times run in the order set, never compared
        self._cancelled = 0  # cancelled alarms still in the heap
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def set(self, when: float, callback: Callable[[], None]) -> Alarm:
        """Run ``callback`` at ``when`` (the running loop's clock); :meth:`cancel` takes it back."""
        alarm: Alarm = [when, next(self._order), callback]
        heapq.heappush(self._heap, alarm)
        if when < self._timer_at:
            self._arm(when)
        return alarm

    def cancel(self, alarm: Alarm) -> None:
        """Take back an alarm that has not run (a no-op once it has)."""
        if alarm[2] is None:
            return
        alarm[2] = None
        self._cancelled += 1
        if self._cancelled > _COMPACT_AFTER and 2 * self._cancelled > len(self._heap):
            self._heap = [a for a in self._heap if a[2] is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def pending(self) -> int:
        """Alarms set and neither run nor cancelled."""
        return len(self._heap) - self._cancelled

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        # What is due is what the loop timer was armed for (the loop runs timers up to its
        # clock resolution early, so the clock is not compared).
        due, self._timer, self._timer_at = self._timer_at, None, math.inf
        while self._heap:  # re-read: a callback may set or cancel alarms (and compact)
            alarm = self._heap[0]
            if alarm[0] > due and alarm[2] is not None:
                break
            heapq.heappop(self._heap)
            callback, alarm[2] = alarm[2], None
            if callback is None:
                self._cancelled -= 1
            else:
                callback()
        if self._heap and self._heap[0][0] < self._timer_at:
            self._arm(self._heap[0][0])
