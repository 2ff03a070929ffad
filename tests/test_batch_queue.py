"""The serving batch queue (no Ray): batches follow the load, items fail alone, dead items stop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving.batching import BatchQueue
from serving.models import batch_settings


class Model:
    """A stand-in model: records each batch, can be held busy, fails items whose value is 'bad'."""

    def __init__(self):
        self.batches: list[list] = []
        self.release = threading.Event()
        self.release.set()
        self.seen_wanted: list[list[bool]] = []

    def __call__(self, batch):
        self.release.wait(5)
        self.batches.append([w.item for w in batch])
        self.seen_wanted.append([w.wanted() for w in batch])
        return [ValueError(f"bad item {w.item}") if w.item == "bad" else w.item * 2 for w in batch]


def test_batch_takes_everything_that_waited_while_the_model_was_busy():
    model = Model()

    async def scenario():
        queue = BatchQueue(model, max_batch_size=32)
        model.release.clear()  # the first batch is held busy
        first = asyncio.ensure_future(queue.submit(1, timeout_s=10))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(queue.submit(i, timeout_s=10)) for i in range(2, 12)]
        await asyncio.sleep(0.05)
        model.release.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(scenario())
    assert first == 2 and rest == [2 * i for i in range(2, 12)]
    assert model.batches == [[1], list(range(2, 12))]  # one batch for all ten, formed when the model was free


def test_a_lone_request_starts_at_once_and_size_and_cost_caps_hold():
    model = Model()

    async def scenario():
        queue = BatchQueue(model, max_batch_size=4, max_batch_cost=10)
        started = time.monotonic()
        assert await queue.submit(5, timeout_s=10) == 10
        alone = time.monotonic() - started
        model.release.clear()
        held = asyncio.ensure_future(queue.submit(0, timeout_s=10))
        await asyncio.sleep(0.05)
        costs = [3, 3, 3, 3, 9, 1]
        futures = [asyncio.ensure_future(queue.submit(i, timeout_s=10, cost=c)) for i, c in enumerate(costs, 1)]
        await asyncio.sleep(0.05)
        model.release.set()
        await held
        await asyncio.gather(*futures)
        return alone

    alone = asyncio.run(scenario())
    assert alone < 0.05  # no batching timer on an idle model
    # Cost 3+3+3 = 9 ≤ 10, the fourth (3) would pass it; then 3 alone (3+9 > 10); then 9+1.
    assert model.batches == [[5], [0], [1, 2, 3], [4], [5, 6]]


def test_a_bad_item_fails_alone():
    model = Model()

    async def scenario():
        queue = BatchQueue(model, max_batch_size=8)
        model.release.clear()
        held = asyncio.ensure_future(queue.submit(0, timeout_s=10))
        await asyncio.sleep(0.05)
        items = [1, 2, "bad", 3]
        futures = [asyncio.ensure_future(queue.submit(i, timeout_s=10)) for i in items]
        await asyncio.sleep(0.05)
        model.release.set()
        await held
        return await asyncio.gather(*futures, return_exceptions=True), queue

    results, queue = asyncio.run(scenario())
    assert results[:2] == [2, 4] and results[3] == 6
    assert isinstance(results[2], ValueError)
    assert model.batches[-1] == [1, 2, "bad", 3]  # decoded in the same batch as its batch-mates
    assert queue.stats.failed_items == 1


def test_a_fault_of_the_batch_function_fails_that_batch_only():
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [w.item for w in batch]

    async def scenario():
        queue = BatchQueue(flaky)
        with pytest.raises(RuntimeError):
            await queue.submit("a", timeout_s=5)
        return await queue.submit("b", timeout_s=5)  # the consumer survived

    assert asyncio.run(scenario()) == "b"


def test_cancelled_and_expired_items_never_reach_the_model_or_stop_being_wanted():
    model = Model()

    async def scenario():
        queue = BatchQueue(model, max_batch_size=8)
        model.release.clear()
        held = asyncio.ensure_future(queue.submit(0, timeout_s=0.3))  # expires while being decoded
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(queue.submit(1, timeout_s=10))
        expired = asyncio.ensure_future(queue.submit(2, timeout_s=0.01))
        kept = asyncio.ensure_future(queue.submit(3, timeout_s=10))
        await asyncio.sleep(0.05)
        gone.cancel()  # its caller went away while it waited
        await asyncio.sleep(0.4)
        model.release.set()
        await asyncio.gather(held, gone, expired, kept, return_exceptions=True)
        return queue, await kept

    queue, kept = asyncio.run(scenario())
    assert kept == 6
    assert model.batches == [[0], [3]]  # 1 (cancelled) and 2 (expired) were dropped before any batch
    assert model.seen_wanted[0] == [False]  # the held batch's item expired mid-decode: the search sees it
    assert queue.stats.dropped_waiting == 2 and queue.stats.dropped_decoding == 1


def test_user_config_keys_are_checked():
    assert batch_settings({"max_batch_size": 16}) == {"max_batch_size": 16, "max_batch_cost": None, "wait_s": 0.0}
    with pytest.raises(ValueError, match="unknown user_config"):
        batch_settings({"max_batchsize": 16})
    with pytest.raises(ValueError):
        BatchQueue(Model(), max_batch_size=0)
