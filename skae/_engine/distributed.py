"""Data-parallel training over a ``torch.distributed`` process group.

Every rank holds the same rows and draws the same shuffled order from a
generator seeded alike on every rank; each rank trains on its part of every
global batch (:meth:`Shard.part`), and the gradients of the parts are summed
across ranks with one all-reduce per step, weighted by the part's size,
so that a step equals the single-process step on the whole global batch. The
ranks start from the same weights (rank 0's are broadcast) and so stay equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel run: ``rank`` of ``world``."""

    rank: int
    world: int
    group: object = None

    def part(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch's row ``index``."""
        return torch.tensor_split(index, self.world)[self.rank]

    def average_gradients(
        self, parameters: list[torch.Tensor], n_local: int, n_global: int
    ) -> None:
        """Turn each rank's mean gradient over its part into the global mean.

        All gradients travel in one flat buffer: one all-reduce per step.
        """
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads]).mul_(n_local / n_global)
        dist.all_reduce(flat, group=self.group)
        for parameter, part in zip(parameters, flat.split([g.numel() for g in grads])):
            parameter.grad = part.view_as(parameter)

    def total(self, value: float) -> float:
        """``value`` summed over the ranks."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self._device())
        dist.all_reduce(tensor, group=self.group)
        return float(tensor.item())

    def broadcast(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's weights and buffers."""
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0, group=self.group)

    def check_agree(self, values: tuple[int, ...], what: str) -> None:
        """Raise ``ValueError`` on every rank unless all ranks give ``values``."""
        gathered: list[object] = [None] * self.world
        dist.all_gather_object(gathered, values, group=self.group)
        if any(other != values for other in gathered):
            raise ValueError(
                f"The ranks disagree on {what}: {gathered} (one entry per rank). "
                "Every rank must fit the same data; each trains on its own "
                "part of every batch."
            )

    def _device(self) -> torch.device:
        backend = dist.get_backend(self.group)
        if backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
