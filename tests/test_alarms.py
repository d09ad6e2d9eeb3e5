"""The client's one loop timer for all its deadlines (asyncinfer/_alarms.py)."""

from __future__ import annotations

import asyncio

from asyncinfer._alarms import Alarms


async def test_alarms_ring_in_time_order_and_cancelled_ones_do_not() -> None:
    alarms = Alarms()
    loop = asyncio.get_running_loop()
    now = loop.time()
    rang: list[str] = []
    alarms.set(now + 0.03, lambda: rang.append("c"))
    late = alarms.set(now + 0.02, lambda: rang.append("cancelled"))
    alarms.set(now + 0.01, lambda: rang.append("a"))
    alarms.set(now + 0.01, lambda: rang.append("b"))  # same time: in the order set
    alarms.cancel(late)
    assert alarms.pending() == 3
    await asyncio.sleep(0.06)
    assert rang == ["a", "b", "c"]
    assert alarms.pending() == 0
    alarms.cancel(late)  # cancelling twice, or after ringing, is a no-op
    assert alarms.pending() == 0


async def test_an_alarm_sooner_than_the_timer_moves_it() -> None:
    alarms = Alarms()
    now = asyncio.get_running_loop().time()
    rang = asyncio.Event()
    alarms.set(now + 60, lambda: None)
    alarms.set(now + 0.01, rang.set)
    await asyncio.wait_for(rang.wait(), 1)  # not held behind the 60 s one
    assert alarms.pending() == 1


async def test_a_callback_may_set_the_next_alarm() -> None:
    alarms = Alarms()
    loop = asyncio.get_running_loop()
    rang: list[int] = []
    done = asyncio.Event()

    def ring() -> None:
        rang.append(len(rang))
        if len(rang) < 3:
            alarms.set(loop.time() + 0.005, ring)
        else:
            done.set()

    alarms.set(loop.time() + 0.005, ring)
    await asyncio.wait_for(done.wait(), 1)
    assert rang == [0, 1, 2]


async def test_cancelled_alarms_do_not_pile_up() -> None:
    alarms = Alarms()
    now = asyncio.get_running_loop().time()
    kept = [alarms.set(now + 60 + i, lambda: None) for i in range(10)]
    for i in range(10_000):
        alarms.cancel(alarms.set(now + 100 + i, lambda: None))
    assert alarms.pending() == len(kept)
    # Compacted whenever the cancelled ones outnumber the live ones (past a small floor).
    assert len(alarms._heap) <= 2 * len(kept) + 70
