"""PyTorch DistributedDataParallel for zoo_core.training under torchrun.

One process per device. The process group uses nccl on CUDA and gloo on CPU, with a bounded timeout
($ZOO_DIST_TIMEOUT, see zoo_core.distributed), so a collective waiting for a dead rank fails instead of hanging.
``--batch-size`` is per process: the global batch is batch_size x world size. The data order is the
single-process one: :class:`GlobalOrderSampler` shuffles exactly as ``torch_loader(shuffle=True)`` does for the
same seed and deals the permutation out strided (as DistributedSampler does), so the union of the ranks' batches
at step s is the single-process run's step-s batch with batch_size x world size. Gradients are averaged by DDP,
epoch metrics are summed over ranks, and DDP broadcasts rank 0's buffers (BatchNorm running statistics) every
forward. BatchNorm batch statistics are per process (DDP's default; SyncBatchNorm needs CUDA).
"""

from __future__ import annotations

import atexit
import logging
from datetime import timedelta
from typing import Any

from ..errors import DistributedError
from ..frameworks import import_torch
from .env import TorchEnv, debug_record, timeout_seconds

log = logging.getLogger("zoo.torch.dist")
torch = import_torch()
dist = torch.distributed


def single_process_order(n: int, seed: int) -> list[int]:
    """The sample order of ``torch_loader(split, shuffle=True, seed=seed)`` for a split of n samples. Built by
    running a DataLoader over ``range(n)`` with the same seeded generator, so it consumes the generator exactly
    as that loader does (base seed first, then RandomSampler's randperm)."""
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    loader = torch.utils.data.DataLoader(range(n), batch_size=n, shuffle=True, generator=gen)
    return next(iter(loader)).tolist()


class GlobalOrderSampler(torch.utils.data.DistributedSampler):
    """A DistributedSampler (``set_epoch`` each epoch) whose shuffled order is the single-process loader's, padded
    with its first samples to a multiple of the world size (so every rank takes the same number of steps) and
    dealt out strided: rank r takes positions r, r + W, r + 2W, ..."""

    def __iter__(self):
        order = single_process_order(len(self.dataset), self.seed + self.epoch)
        pad = self.total_size - len(order)
        order += (order * (pad // max(len(order), 1) + 1))[:pad]
        return iter(order[self.rank:self.total_size:self.num_replicas])


def _device(env: TorchEnv, requested: str | None) -> Any:
    if requested in (None, "auto"):
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DistributedError(f"device {requested!r} asked for but CUDA is not available; use --device cpu")
        device = torch.device("cuda", env.local_rank)  # one process per GPU: LOCAL_RANK picks it
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise DistributedError(f"distributed training runs on cuda (nccl) or cpu (gloo), not {requested!r}")
    return device


class DDP:
    """This process's share of a DDP job: device, process group, data, metric reduction."""

    def __init__(self, env: TorchEnv, requested_device: str | None):
        self.env = env
        self.rank, self.world_size = env.rank, env.world_size
        self.is_main = env.rank == 0
        self.device = _device(env, requested_device)
        self.backend = "nccl" if self.device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            timeout = timeout_seconds()
            try:
                dist.init_process_group(self.backend, rank=env.rank, world_size=env.world_size,
                                        timeout=timedelta(seconds=timeout))
            except Exception as exc:  # the store raises several types when peers never show up
                raise DistributedError(f"rank {env.rank} could not join the {env.world_size}-process group at "
                                       f"{env.master_addr}:{env.master_port} within {timeout:.0f} s "
                                       f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                                       "check that every rank was started with the same MASTER_ADDR/PORT") from exc
            atexit.register(close)
        elif dist.get_world_size() != env.world_size:
            raise DistributedError(f"the process group has {dist.get_world_size()} ranks but WORLD_SIZE is "
                                   f"{env.world_size}")
        log.info("rank %d/%d joined (%s on %s)", env.rank, env.world_size, self.backend, self.device)
        debug_record(env.rank, world_size=env.world_size, backend=self.backend)

    def wrap(self, model: Any) -> Any:
        """The DDP module to run forward/backward through; ``model`` itself keeps the (shared) weights."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)  # syncs buffers every forward

    def sync_buffers(self, model: Any) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics), as DDP's next forward would: after an
        epoch's last step each rank has updated them from its own batch."""
        with torch.no_grad():
            for buf in model.buffers():
                dist.broadcast(buf, src=0)

    def distribute(self, loader: Any, seed: int, epoch: int) -> Any:
        """This rank's share of a single-process loader (``torch_loader(shuffle=True, seed=seed + epoch)``): the
        same dataset (and augmentation), batch size per rank, the shuffled order dealt out by
        :class:`GlobalOrderSampler` with ``set_epoch(epoch)``."""
        sampler = GlobalOrderSampler(loader.dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=seed)
        sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(
            loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
            generator=loader.generator, persistent_workers=False)

    def sum(self, *values: float) -> list[float]:
        """Each value summed over all ranks (float64)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                         device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def same_on_all_ranks(self, value: int) -> bool:
        """True when every rank passed the same integer (one MAX all-reduce of [v, -v])."""
        t = torch.tensor([int(value), -int(value)], dtype=torch.int64,
                         device=self.device if self.backend == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t[0]) == -int(t[1])

    def barrier(self) -> None:
        dist.barrier()


def from_env(requested_device: str | None) -> DDP | None:
    """The DDP context when this process runs under torchrun with more than one process, else None (the
    single-process path is left exactly as it is)."""
    env = TorchEnv.from_env()
    if env is None or env.world_size == 1:
        return None
    return DDP(env, requested_device)


def close() -> None:
    """Leave the process group (registered at exit)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
