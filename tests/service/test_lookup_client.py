"""Coalescing of concurrent lookups: shared calls, each caller its own answer, failures shared
only by the callers of the failed call."""

from __future__ import annotations

import asyncio

import pytest

from service.lookup_client import CoalescingLookup
from service.schemas import VehicleFeatures

UNKNOWN = 0


class Store:
    """A lookup answering [id, id * 2] for known ids, after a real await, counting its calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[list[int]] = []
        self.fail_first = fail_first

    async def fetch(self, ids: list[int]) -> VehicleFeatures:
        self.calls.append(ids)
        await asyncio.sleep(0.01)
        if len(self.calls) <= self.fail_first:
            raise ConnectionRefusedError("store down")
        return VehicleFeatures(
            snapshot_id="s", features=[None if i == UNKNOWN else [i, i * 2.0] for i in ids]
        )


async def _ask(lookup: CoalescingLookup, ids: list[int]) -> list[list[float] | Exception | None]:
    return await asyncio.gather(*(lookup.features(i) for i in ids), return_exceptions=True)


def test_a_lone_lookup_is_one_call_with_its_id() -> None:
    store = Store()
    assert asyncio.run(_ask(CoalescingLookup(store.fetch), [7])) == [[7, 14.0]]
    assert store.calls == [[7]]


def test_concurrent_lookups_share_calls_and_each_gets_its_own_answer() -> None:
    store = Store()
    ids = [*range(1, 101), 5, 5, UNKNOWN]
    answers = asyncio.run(_ask(CoalescingLookup(store.fetch, max_ids=40), ids))
    assert answers == [None if i == UNKNOWN else [i, i * 2.0] for i in ids]
    assert [len(call) for call in store.calls] == [40, 40, 21]  # 101 distinct ids, one tick
    assert sorted(i for call in store.calls for i in call) == sorted({*ids})


def test_a_failed_call_fails_its_callers_only_and_the_next_call_works() -> None:
    store = Store(fail_first=1)
    lookup = CoalescingLookup(store.fetch)

    async def scenario() -> tuple[list[object], list[object]]:
        first = await _ask(lookup, [1])
        return first, await _ask(lookup, [2, 3])

    first, then = asyncio.run(scenario())
    assert isinstance(first[0], ConnectionRefusedError)
    assert then == [[2, 4.0], [3, 6.0]]


def test_a_cancelled_caller_does_not_disturb_the_others_in_its_call() -> None:
    store = Store()
    lookup = CoalescingLookup(store.fetch)

    async def scenario() -> list[float] | None:
        await lookup.features(1)  # warm: the next two wait for one call together
        blocker = asyncio.create_task(lookup.features(2))
        gone = asyncio.create_task(lookup.features(3))
        kept = asyncio.create_task(lookup.features(4))
        await asyncio.sleep(0)
        gone.cancel()
        await blocker
        return await kept

    assert asyncio.run(scenario()) == [4, 8.0]


@pytest.mark.parametrize("max_ids", [0, -1])
def test_a_call_needs_room_for_one_id(max_ids: int) -> None:
    with pytest.raises(ValueError, match="max_ids"):
        CoalescingLookup(Store().fetch, max_ids=max_ids)
