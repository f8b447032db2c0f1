import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from avesa.runtime.priority_slots import PrioritySlots


def test_waiters_are_served_biggest_first_and_never_more_than_the_slots() -> None:
    async def scenario() -> tuple[list[int], int]:
        slots = PrioritySlots(2)
        order: list[int] = []
        running = peak = 0
        gate = asyncio.Event()

        async def job(size: int) -> None:
            nonlocal running, peak
            async with slots.hold(size):
                running += 1
                peak = max(peak, running)
                order.append(size)
                await gate.wait()
                running -= 1

        blockers = [asyncio.create_task(job(0)) for _ in range(2)]
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(job(size)) for size in (5, 50, 1, 20)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*blockers, *waiters)
        return order, peak

    order, peak = asyncio.run(scenario())
    assert order[:2] == [0, 0] and order[2:] == [50, 20, 5, 1]
    assert peak == 2


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.lists(st.integers(min_value=0, max_value=100), max_size=30),
       st.sets(st.integers(min_value=0, max_value=29)))
def test_cancelled_waiters_never_leak_a_slot(slots_n: int, sizes: list[int], cancelled: set[int]) -> None:
    async def scenario() -> int:
        slots = PrioritySlots(slots_n)
        done = 0

        async def job(size: int) -> None:
            nonlocal done
            async with slots.hold(size):
                await asyncio.sleep(0)
                done += 1

        tasks = [asyncio.create_task(job(size)) for size in sizes]
        await asyncio.sleep(0)
        for i in cancelled:
            if i < len(tasks):
                tasks[i].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # every slot is free again: as many holders as slots can enter at once
        entered = 0

        async def probe() -> None:
            nonlocal entered
            async with slots.hold(0):
                entered += 1
                await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.gather(*(probe() for _ in range(slots_n))), timeout=1)
        return entered

    assert asyncio.run(scenario()) == slots_n
