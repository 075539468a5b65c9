"""Dynamic batching: concurrent requests are stacked into one forward pass, up to a size and a delay limit.

Each request puts its rows (a float batch in the model's layout) on an asyncio queue and awaits its future. One
task takes the first waiting request, then every request that arrives within ``max_delay`` (or is already waiting)
while the batch stays within ``max_batch_size`` rows, runs the model once in a worker thread (so the event loop
keeps accepting requests meanwhile) and hands each request its rows of the logits. ``max_batch_size=1`` is
one-request-one-forward.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("zoo.serve")


class QueueFull(Exception):
    """More rows are waiting than ``max_queue``: the caller answers 503."""


@dataclass
class _Job:
    x: np.ndarray
    future: asyncio.Future

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


@dataclass
class BatchStats:
    """What the batcher did: requests and rows in, forward passes run, rows per forward pass."""

    requests: int = 0
    inference_count: int = 0  # rows predicted
    execution_count: int = 0  # forward passes
    compute_ns: int = 0
    last_inference_ms: int = 0
    batch_sizes: Counter = field(default_factory=Counter)


class DynamicBatcher:
    """Batches concurrent ``submit`` calls into calls of ``forward`` (numpy batch -> numpy outputs)."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], max_batch_size: int = 32,
                 max_delay_ms: float = 5.0, max_queue: int = 1024):
        if max_batch_size < 1 or max_delay_ms < 0 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be >= 1 and max_delay_ms >= 0")
        self.forward = forward
        self.max_batch_size = int(max_batch_size)
        self.max_delay = float(max_delay_ms) / 1000.0
        self.max_queue = int(max_queue)
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._waiting_rows = 0
        self._carry: _Job | None = None
        self.stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self.stopping

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="zoo-forward")
        self.stopping = False
        self._task = asyncio.create_task(self._run(), name="zoo-batcher")

    async def stop(self) -> None:
        """Finish every request already queued, then stop."""
        if self._task is None:
            return
        self.stopping = True
        self._queue.put_nowait(None)
        await self._task
        self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """The model's outputs for the rows of ``x`` (computed in a batch with other requests' rows)."""
        if self._queue is None or self.stopping:
            raise RuntimeError("the batcher is not running")
        rows = int(x.shape[0])
        if self._waiting_rows + rows > self.max_queue:
            raise QueueFull(f"{self._waiting_rows} rows are waiting (limit {self.max_queue})")
        self._waiting_rows += rows
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(x, future))
        return await future

    async def _next(self, timeout: float | None) -> _Job | None:
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        if timeout is None:
            return await self._queue.get()
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            if timeout <= 0:
                raise TimeoutError from None
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            first = await self._next(None)
            if first is None:
                break
            batch, rows = [first], first.rows
            deadline = loop.time() + self.max_delay
            while rows < self.max_batch_size:
                try:
                    job = await self._next(deadline - loop.time())
                except TimeoutError:
                    break
                if job is None:  # stop requested: run what is gathered, then end
                    done = True
                    break
                if rows + job.rows > self.max_batch_size:
                    self._carry = job  # first in the next batch
                    break
                batch.append(job)
                rows += job.rows
            await self._execute(loop, batch, rows)
        if self._carry is not None:  # a carried job when stop arrived
            job, self._carry = self._carry, None
            await self._execute(loop, [job], job.rows)

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Job], rows: int) -> None:
        self._waiting_rows -= rows
        x = batch[0].x if len(batch) == 1 else np.concatenate([j.x for j in batch])
        t0 = time.perf_counter_ns()
        try:
            y = await loop.run_in_executor(self._executor, self.forward, x)
        except Exception as exc:
            log.exception("forward pass of %d rows failed", rows)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        s = self.stats
        s.compute_ns += time.perf_counter_ns() - t0
        s.requests += len(batch)
        s.inference_count += rows
        s.execution_count += 1
        s.batch_sizes[rows] += 1
        s.last_inference_ms = int(time.time() * 1000)
        start = 0
        for job in batch:
            if not job.future.done():  # a client that went away leaves a cancelled future
                job.future.set_result(y[start:start + job.rows])
            start += job.rows
