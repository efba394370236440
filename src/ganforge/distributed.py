"""torch.distributed for ganforge: torchrun detection, rank-0 IO, reductions and sharding.

ganforge runs one process per device under ``torchrun``. Every rank holds the
same G, D, G_ema and optimizer state; each step it takes its slice of the
global batch, and the gradients are averaged with ``all_reduce`` before every
optimizer step (the gradient synchronization DDP does, done explicitly so that
the D and G steps, the gradient penalty and R1 stay correct, as in the StyleGAN2-ADA
code). Only rank 0 writes files. Outside torchrun every helper here is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

from .errors import AlreadyReported, GanforgeError

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job.

    Args:
        rank: global rank (0 writes files).
        world_size: number of processes.
        local_rank: rank on this machine (picks the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that writes logs, samples and checkpoints."""
        return self.rank == 0

    def shard(self, total: int) -> tuple[int, int]:
        """This rank's [start, stop) of ``total`` items split as evenly as possible."""
        per, extra = divmod(total, self.world_size)
        start = self.rank * per + min(self.rank, extra)
        return start, start + per + (1 if self.rank < extra else 0)


def rank_rows(full: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s equal slice of something drawn for the whole global batch (along dim 0)."""
    n = len(full) // world_size
    return full[rank * n:(rank + 1) * n]


def from_env() -> DistEnv:
    """The job layout that torchrun (or SLURM through torchrun) put in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(env: DistEnv, device: torch.device) -> None:
    """Join the process group: NCCL for CUDA devices, gloo for the CPU."""
    if not env.enabled or dist.is_initialized():
        return
    # torch.optim imports torch._dynamo on first use, which imports torch.distributed.nn.functional,
    # whose functions take ``group=group.WORLD`` as a default argument: imported after this join,
    # they would hold the default group, so destroy_process_group could not free it and its gloo
    # threads would live on into interpreter shutdown, where one rank now and then aborted
    # ("terminate called without an active exception"). Imported first, they hold None.
    import torch._dynamo  # noqa: F401

    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)


def shutdown(wait_for_others: bool = False) -> None:
    """Leave the process group (safe to call when none was joined).

    ``wait_for_others``: meet every rank at a barrier first, so that no rank tears down its
    connections while another is still finishing (rank 0 writes the last checkpoint after the
    last collective). Only on the normal path: after an error the other ranks may never come.
    """
    if dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def agreed(build: Callable[[], T], env: DistEnv) -> T:
    """``build()`` on every rank, which then agree on how it went: where any rank met a :class:`GanforgeError`
    (a data folder it cannot read), every rank stops with it, and each distinct message is printed by the lowest
    rank that met it alone. Ranks read the same files, so 8 processes printed one message 8 times, run together
    on one line. ``build`` must run no collective: a rank that failed in it would never join that one."""
    error: GanforgeError | None = None
    try:
        result = build()
    except GanforgeError as e:
        if not env.enabled:
            raise
        error = e
    if not env.enabled:
        return result
    said: list[str | None] = [None] * env.world_size
    dist.all_gather_object(said, None if error is None else str(error))
    if error is not None and said.index(str(error)) == env.rank:
        raise error
    failed = next((message for message in said if message is not None), None)
    if failed is not None:  # printed by a lower rank (the same message) or by the rank that met it
        raise AlreadyReported(failed)
    return result


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's ``obj`` on every rank (configs, checkpoint payloads, errors)."""
    if not env.enabled:
        return obj
    box = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@torch.no_grad()
def broadcast_module(module: nn.Module, env: DistEnv, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters and buffers (BatchNorm statistics) to every rank."""
    if not env.enabled:
        return
    tensors = list(module.buffers()) + ([] if buffers_only else list(module.parameters()))
    for t in tensors:
        dist.broadcast(t.data, src=0)


def average_gradients(params: Iterable[nn.Parameter], env: DistEnv) -> None:
    """Average ``.grad`` over ranks in one flat all_reduce (what DDP's reducer does in buckets)."""
    if not env.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= env.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_logs(logs: dict[str, torch.Tensor], env: DistEnv) -> dict[str, torch.Tensor]:
    """Mean of each logged scalar over ranks (one all_reduce for all of them)."""
    if not env.enabled or not logs:
        return logs
    keys = sorted(logs)
    flat = torch.stack([logs[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(flat)
    return dict(zip(keys, (flat / env.world_size).unbind()))


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (a signal or a time bound on one of them)."""
    if not env.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_to_main(obj: Any, env: DistEnv) -> list[Any] | None:
    """Every rank's ``obj`` as a list on rank 0 (in rank order); None elsewhere."""
    if not env.enabled:
        return [obj]
    out = [None] * env.world_size if env.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def convert_sync_bn(module: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """BatchNorm layers synchronized across ranks (``train.sync_bn``); needs CUDA, as torch's SyncBatchNorm does."""
    if not env.enabled:
        return module
    if device.type != "cuda":
        raise GanforgeError("train.sync_bn needs CUDA devices (torch's SyncBatchNorm runs on GPUs only); "
                            "on the CPU set train.sync_bn=false, or use a network without BatchNorm.")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
