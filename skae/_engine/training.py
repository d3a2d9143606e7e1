"""Training: one entry point, :func:`train`, driving a resumable :class:`TrainingState`.

Training data sits on the device as one float32 tensor; each epoch draws a
shuffled permutation and slices whole batches out of it, so a step costs one
gather, one forward and one backward pass, with no per-sample Python and no
host-device synchronisation. The loss is read back once per epoch.

What to train is a :class:`TrainingState` (the module, its optimizer, the
schedule position, the generator and the epochs done); how is a :class:`Plan`
(optimizer settings, schedule, stopping, validation, corruption, precision).
``fit``, ``warm_start`` and incremental training all drive the same pair.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .predict import INFERENCE_BATCH_SIZE, autocast
from .rows import Rows

Corrupt = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Step = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]

# Post-training statistics (the AE's latent Gaussian, the VAE's noise variance)
# come from at most this many random training rows, not another full pass.
CALIBRATION_ROWS = 2048

# Module randomness (dropout) draws from torch's process-wide generators, which
# training seeds and restores. Building and training take this lock, so that
# concurrent fits in threads cannot reseed each other's generator mid-way.
GLOBAL_RNG_LOCK = threading.RLock()


@dataclass(frozen=True)
class Plan:
    """How to train: every choice of one training run, and nothing else.

    Parameters
    ----------
    learning_rate : float
        Adam's step size (the peak of the cosine schedule).
    batch_size : int
        Rows per step (clipped to the number of training rows).
    max_epochs : int
        Epochs of this run.
    schedule : {"cosine", "constant"}
        The learning-rate schedule over the state's epochs.
    schedule_epochs : int or None
        Length of the cosine schedule in epochs (default: ``max_epochs``).
        Past its end, the learning rate stays at its last value: a state
        resumed run after run (``partial_fit``) anneals once, then goes on.
    tol, n_iter_no_change : float, int or None
        Stop once the monitored loss has not fallen by ``tol`` times its best
        value for ``n_iter_no_change`` epochs (never, when it is None).
    validation_fraction : float or None
        Share of the rows held out to monitor (and keep the best weights of);
        None trains on every row and monitors the training loss.
    corrupt : callable or None
        ``corrupt(batch, generator)`` makes the inputs of a step (denoising).
    precision : torch.dtype or None
        ``torch.autocast`` dtype for forward passes; None is plain float32.
    compile : bool
        Hand the module's loss to ``torch.compile``.
    progress : str or None
        Label of a progress bar over epochs; None shows none.
    """

    learning_rate: float
    batch_size: int
    max_epochs: int
    schedule: str = "cosine"
    schedule_epochs: int | None = None
    tol: float = 1e-4
    n_iter_no_change: int | None = None
    validation_fraction: float | None = None
    corrupt: Corrupt | None = None
    precision: torch.dtype | None = None
    compile: bool = False
    progress: str | None = None

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of the state's ``epoch`` (counted from 1)."""
        if self.schedule == "constant":
            return self.learning_rate
        length = self.schedule_epochs or self.max_epochs
        cosine = math.cos(math.pi * (min(epoch, length) - 1) / length)
        return self.learning_rate * 0.5 * (1 + cosine)


@dataclass
class History:
    """What happened during one call of :func:`train`."""

    loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    converged: bool = False
    interrupted: bool = False


@dataclass
class TrainingState:
    """Everything training needs to go on where it stopped.

    Create one with :meth:`start`; :func:`train` advances it in place.
    """

    module: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    seed: int
    device: torch.device
    epochs_done: int = 0

    @classmethod
    def start(
        cls, module: nn.Module, device: torch.device, seed: int, learning_rate: float
    ) -> TrainingState:
        """A new state: ``module`` on ``device``, a new optimizer and generator."""
        module.to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        optimizer = make_optimizer(module, learning_rate, device)
        return cls(module, optimizer, generator, seed, device)


def make_optimizer(module: nn.Module, lr: float, device: torch.device):
    """Adam, with torch's fused kernel where the device has one (CPU, CUDA)."""
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(module.parameters(), lr=lr, fused=fused)


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


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch of ``n`` rows.

    A last batch of a single row joins the one before it: layers with batch
    statistics (BatchNorm) cannot train on one row.
    """
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(start, stops) for start, stops in zip(starts, [*starts[1:], n])]


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators from ``seed``; restore them afterwards.

    Modules draw their own randomness (dropout) from the global generators of
    the CPU and of their device; seeding them makes such fits reproducible,
    and restoring them leaves the caller's random state as it was.
    """
    backend = {"cuda": torch.cuda, "mps": getattr(torch, "mps", None)}.get(device.type)
    with GLOBAL_RNG_LOCK:
        cpu_state = torch.get_rng_state()
        if backend is torch.cuda:
            with torch.cuda.device(device):
                device_state = torch.cuda.get_rng_state()
                torch.cuda.manual_seed(seed)
        elif backend is not None:
            device_state = backend.get_rng_state()
            backend.manual_seed(seed)
        torch.default_generator.manual_seed(seed)
        try:
            yield
        finally:
            torch.set_rng_state(cpu_state)
            if backend is torch.cuda:
                with torch.cuda.device(device):
                    torch.cuda.set_rng_state(device_state)
            elif backend is not None:
                backend.set_rng_state(device_state)


def _split(rows: Rows, fraction: float, generator: torch.Generator):
    n = len(rows)
    n_val = math.ceil(fraction * n)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"The validation set is too small: {n} sample(s) leave no room for "
            "a validation set. Increase validation_fraction, add samples, or "
            "set early_stopping=False."
        )
    order = torch.randperm(n, generator=generator, device=rows.device)
    return rows.split(order[n_val:]), rows.split(order[:n_val])


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


def _progress_bar(plan: Plan):
    """A progress bar, or a disabled one where there is nowhere to show it."""
    stream = sys.stderr
    hidden = plan.progress is None or stream is None or getattr(stream, "closed", False)
    return tqdm(
        total=plan.max_epochs,
        desc=plan.progress,
        unit="epoch",
        disable=hidden,
        file=None if hidden else stream,
    )


class _Keeper:
    """Stops training once the monitored loss stalls; keeps the best weights."""

    def __init__(self, plan: Plan, keep_best: bool) -> None:
        self.plan, self.keep_best = plan, keep_best
        self.best, self.stale = math.inf, 0  # the loss that counts as progress
        self.best_kept, self.state = math.inf, None  # the weights that are kept

    def should_stop(self, monitored: float, module: nn.Module) -> bool:
        if self.keep_best and monitored < self.best_kept:
            self.best_kept = monitored
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if self.best == math.inf or monitored < self.best - self.plan.tol * abs(
            self.best
        ):
            self.best, self.stale = monitored, 0
        else:
            self.stale += 1
        patience = self.plan.n_iter_no_change
        return patience is not None and self.stale >= patience


def _epoch(state: TrainingState, rows: Rows, plan: Plan, step: Step) -> float:
    """One pass over ``rows``; returns the mean training loss."""
    module, generator = state.module, state.generator
    module.train()
    n = len(rows)
    batch_size = min(plan.batch_size, n)
    order = torch.randperm(n, generator=generator, device=rows.device)
    total = torch.zeros((), device=rows.device)
    for start, stop in batch_bounds(n, batch_size):
        batch = rows.take(order[start:stop])
        inputs = batch if plan.corrupt is None else plan.corrupt(batch, generator)
        loss = step(inputs, batch, generator)
        total.add_(loss, alpha=batch.shape[0])
    return total.item() / n  # the one sync of the epoch


def train(state: TrainingState, rows: Rows, plan: Plan) -> History:
    """Train ``state`` on ``rows`` following ``plan``; return the :class:`History`.

    Training stops after ``plan.max_epochs`` epochs, or once the monitored
    loss stalls (see :class:`Plan`). With a validation set, the weights of the
    best validation epoch are restored at the end. Then the module calibrates
    its post-training statistics on at most :data:`CALIBRATION_ROWS` rows.
    A non-finite loss or weight raises ``ValueError``; the caller discards
    the state. ``KeyboardInterrupt`` ends training with a warning and keeps
    the weights reached so far. Torch's global generators are seeded from
    ``state.seed`` during training and restored afterwards.
    """
    with seeded_global_rng(state.seed + state.epochs_done, state.device):
        history = _train(state, rows, plan)
        module = state.module
        calibration = rows.sample(CALIBRATION_ROWS, state.generator)
        module.calibrate(calibration.batches(INFERENCE_BATCH_SIZE), state.generator)
    if not all(torch.isfinite(p).all() for p in module.state_dict().values()):
        raise ValueError(
            "Training produced non-finite weights. Lower learning_rate or "
            "scale X, for example with StandardScaler or MinMaxScaler."
        )
    return history


def _train(state: TrainingState, rows: Rows, plan: Plan) -> History:
    history = History()
    module, optimizer = state.module, state.optimizer
    validation = None
    if plan.validation_fraction is not None:
        rows, validation = _split(rows, plan.validation_fraction, state.generator)
    step = make_step(module, optimizer, precision=plan.precision, compile=plan.compile)
    keeper = _Keeper(plan, keep_best=validation is not None)
    bar = _progress_bar(plan)
    try:
        for _ in range(plan.max_epochs):
            epoch = state.epochs_done + 1
            for group in optimizer.param_groups:
                group["lr"] = plan.learning_rate_at(epoch)
            history.loss.append(_epoch(state, rows, plan, step))
            state.epochs_done = epoch
            _check_finite(history.loss[-1], "training loss", epoch, plan.learning_rate)
            monitored = history.loss[-1]
            postfix = {"loss": f"{monitored:.4g}"}
            if validation is not None:
                monitored = _mean_eval_loss(module, validation)
                history.validation_loss.append(monitored)
                _check_finite(monitored, "validation loss", epoch, plan.learning_rate)
                postfix["val_loss"] = f"{monitored:.4g}"
            bar.update()
            bar.set_postfix(postfix)
            if keeper.should_stop(monitored, module):
                history.converged = True
                break
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(
            f"Training interrupted by the user after {len(history.loss)} epoch(s); "
            "the estimator keeps the weights reached so far.",
            UserWarning,
            stacklevel=4,
        )
    finally:
        bar.close()
    if keeper.state is not None:
        module.load_state_dict(keeper.state)
    module.eval()
    return history
