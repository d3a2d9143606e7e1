"""The training engine: plain functions over torch tensors, no scikit-learn.

Training data sits on the device as one float32 tensor; each epoch draws a
shuffled permutation and slices whole batches out of it, so a step costs one
gather, one forward and one backward pass, with no per-sample Python and no
host-device synchronisation. The loss is read back once per epoch.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from tqdm.auto import tqdm

# Inference runs in blocks of exactly this many rows (see predict).
INFERENCE_BATCH_SIZE = 512

Corrupt = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def to_tensor(rows, device: torch.device, *, share: bool = False) -> torch.Tensor:
    """A float32 tensor on ``device`` from a numpy array or sparse matrix.

    With ``share=True`` a writeable, C-contiguous float32 array is shared, not
    copied: only for tensors that no module ever sees as such (training rows
    reach modules through gathers, which copy). Anything else is converted
    into a new array, so a module that works in place on its input cannot
    change the caller's data.
    """
    if sp.issparse(rows):
        rows = rows.toarray()
    shareable = (
        share
        and isinstance(rows, np.ndarray)
        and rows.dtype == np.float32
        and rows.flags.c_contiguous
        and rows.flags.writeable
    )
    if not shareable:
        rows = np.array(rows, dtype=np.float32, order="C")
    return torch.from_numpy(rows).to(device)


class Rows:
    """Training rows: a dense tensor on the device, or a sparse matrix on the host.

    Sparse rows are densified one batch at a time, never whole.
    """

    def __init__(self, X, device: torch.device) -> None:
        self.device = device
        if sp.issparse(X):
            self.sparse, self.dense = sp.csr_matrix(X), None
        else:
            self.sparse, self.dense = None, to_tensor(X, device, share=True)

    def __len__(self) -> int:
        return self.dense.shape[0] if self.sparse is None else self.sparse.shape[0]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (a tensor on the device), as a dense batch."""
        if self.sparse is None:
            return self.dense[index]
        return to_tensor(self.sparse[index.cpu().numpy()], self.device)

    def split(self, index: torch.Tensor) -> Rows:
        """The subset of rows at ``index``, as new :class:`Rows`."""
        subset = Rows.__new__(Rows)
        subset.device = self.device
        if self.sparse is None:
            subset.sparse, subset.dense = None, self.dense[index]
        else:
            subset.sparse, subset.dense = self.sparse[index.cpu().numpy()], None
        return subset

    def sample(self, n_max: int, generator: torch.Generator) -> Rows:
        """These rows if there are at most ``n_max``, else ``n_max`` at random."""
        if len(self) <= n_max:
            return self
        index = torch.randperm(len(self), generator=generator, device=self.device)
        return self.split(index[:n_max])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All rows in order, ``batch_size`` at a time, as copies."""
        for start in range(0, len(self), batch_size):
            stop = start + batch_size
            if self.sparse is None:
                yield self.dense[start:stop].clone()
            else:
                yield to_tensor(self.sparse[start:stop], self.device)


@dataclass
class History:
    """What happened during training."""

    loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    converged: bool = False
    interrupted: bool = False


def autocast(device_type: str, precision: torch.dtype | None):
    """``torch.autocast`` to ``precision``, or no context at all for float32."""
    if precision is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=precision)


Step = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def make_step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    precision: torch.dtype | None = None,
    compile: bool = False,
) -> Step:
    """One optimisation step, ``step(inputs, targets, generator) -> loss``.

    ``precision`` runs the forward pass under ``torch.autocast`` with that
    dtype (float16 also scales the loss against underflow); ``compile`` hands
    the loss to ``torch.compile``. Both pay off on GPUs, rarely on CPUs.
    """
    loss_fn = torch.compile(module.loss) if compile else module.loss
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    device_type = next(module.parameters()).device.type
    scaler = torch.amp.GradScaler(device_type) if precision == torch.float16 else None

    def step(inputs, targets, generator):
        with autocast(device_type, precision):
            loss = loss_fn(inputs, targets, generator)
        for parameter in parameters:  # zero_grad(set_to_none=True), minus its
            parameter.grad = None  # profiler and foreach bookkeeping
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return loss.detach()

    return step


def make_optimizer(module: nn.Module, lr: float, device: torch.device):
    """Adam, with torch's fused kernel where the device has one (CPU, CUDA)."""
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(module.parameters(), lr=lr, fused=fused)


def _mean_eval_loss(module: nn.Module, rows: Rows) -> float:
    module.eval()
    total = 0.0  # summed on the host in float64 (MPS has no float64)
    with torch.inference_mode():
        for batch in rows.batches(INFERENCE_BATCH_SIZE):
            total += module.eval_loss(batch).sum().item()
    return total / len(rows)


def _check_finite(value: float, what: str, epoch: int, lr: float) -> None:
    if not math.isfinite(value):
        raise ValueError(
            f"Training diverged at epoch {epoch}: the {what} became {value}. "
            f"Lower learning_rate (it is {lr:g}) or scale X, for example with "
            "StandardScaler or MinMaxScaler."
        )


def train(
    module: nn.Module,
    rows: Rows,
    *,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    max_iter: int,
    generator: torch.Generator,
    corrupt: Corrupt | None = None,
    validation: Rows | None = None,
    tol: float = 1e-4,
    n_iter_no_change: int | None = 10,
    lr_schedule: Callable[[int], float] | None = None,
    precision: torch.dtype | None = None,
    compile: bool = False,
    progress: str | None = None,
) -> History:
    """Train ``module`` in place and return its :class:`History`.

    Training stops after ``max_iter`` epochs, or once the monitored loss (the
    validation loss when ``validation`` is given, else the training loss) has
    not fallen by ``tol`` times its best value for ``n_iter_no_change`` epochs
    (never, when ``n_iter_no_change`` is None).
    With a validation set, the weights of the best validation epoch are
    restored at the end. A non-finite loss raises ``ValueError`` at once; the
    caller discards the module. ``KeyboardInterrupt`` ends training with a
    warning and keeps the weights reached so far. ``lr_schedule``, when given,
    maps the epoch number (from 1) to the learning rate of that epoch.
    ``precision`` and ``compile`` are as in :func:`make_step`. ``progress``,
    when given, is the label of a progress bar over epochs.
    """
    history = History()
    n = len(rows)
    step = make_step(module, optimizer, precision=precision, compile=compile)
    lr = optimizer.param_groups[0]["lr"]
    best, stale = math.inf, 0  # the loss that counts as progress, and since when
    best_validation, best_state = math.inf, None  # the weights that are kept
    bar = tqdm(total=max_iter, desc=progress, unit="epoch", disable=progress is None)
    try:
        for epoch in range(1, max_iter + 1):
            module.train()
            if lr_schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_schedule(epoch)
            order = torch.randperm(n, generator=generator, device=rows.device)
            total = torch.zeros((), device=rows.device)
            for start in range(0, n, batch_size):
                batch = rows.take(order[start : start + batch_size])
                inputs = batch if corrupt is None else corrupt(batch, generator)
                loss = step(inputs, batch, generator)
                total.add_(loss, alpha=batch.shape[0])
            history.loss.append(total.item() / n)  # the one sync of the epoch
            _check_finite(history.loss[-1], "training loss", epoch, lr)
            monitored = history.loss[-1]
            if validation is not None:
                monitored = _mean_eval_loss(module, validation)
                history.validation_loss.append(monitored)
                _check_finite(monitored, "validation loss", epoch, lr)
            bar.update()
            bar.set_postfix(
                loss=f"{history.loss[-1]:.4g}",
                **({"val_loss": f"{monitored:.4g}"} if validation is not None else {}),
            )
            if validation is not None and monitored < best_validation:
                best_validation = monitored
                best_state = {
                    k: v.detach().clone() for k, v in module.state_dict().items()
                }
            if best == math.inf or monitored < best - tol * abs(best):
                best, stale = monitored, 0
            else:
                stale += 1
            if n_iter_no_change is not None and stale >= n_iter_no_change:
                history.converged = True
                break
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(
            f"Training interrupted by the user after {len(history.loss)} epoch(s); "
            "the estimator keeps the weights reached so far.",
            UserWarning,
            stacklevel=3,
        )
    finally:
        bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def predict(
    fn: Callable[[torch.Tensor], torch.Tensor],
    X,
    *,
    width: int | None,
    dtype: np.dtype,
    device: torch.device,
    what: str,
    precision: torch.dtype | None = None,
) -> np.ndarray:
    """Apply ``fn`` to ``X`` in batches under ``torch.inference_mode()``.

    Returns an array of ``dtype`` with ``width`` columns (1-D when None).
    Memory beyond ``X`` and the result stays within one batch. Non-finite
    results raise ``ValueError`` instead of reaching the user.

    Every call of ``fn`` gets exactly ``INFERENCE_BATCH_SIZE`` rows, the last
    block padded with zeros. float32 matrix kernels choose their blocking, and
    so their rounding, by batch size; fixed blocks make each row's result
    independent of the rows around it, bit for bit (``transform(X)[i]`` equals
    ``transform(X[i:i+1])``).
    """
    n = X.shape[0]
    out = np.empty((n,) if width is None else (n, width), dtype=dtype)
    with torch.inference_mode():
        for start in range(0, n, INFERENCE_BATCH_SIZE):
            stop = min(start + INFERENCE_BATCH_SIZE, n)
            block = to_tensor(X[start:stop], device)
            if len(block) < INFERENCE_BATCH_SIZE:
                pad = block.new_zeros(INFERENCE_BATCH_SIZE - len(block), block.shape[1])
                block = torch.cat([block, pad])
            with autocast(device.type, precision):
                result = fn(block)[: stop - start]
            out[start:stop] = result.float().cpu().numpy()
            if not np.isfinite(out[start:stop]).all():
                raise ValueError(
                    f"{what} produced non-finite values: the input is outside the "
                    "range this model can handle. Scale it as the training data "
                    "was scaled."
                )
    return out
