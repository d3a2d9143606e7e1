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

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .batch_statistics import check_batch_statistics
from .distributed import Shard
from .predict import INFERENCE_BATCH_SIZE, autocast
from .randomness import seeded_global_rng
from .rows import Rows, batch_bounds  # noqa: F401 (batch_bounds: re-exported)

Corrupt = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Step = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]

# Post-training statistics (the AE's latent Gaussian, the VAE's noise variance)
# come from at most this many random training rows, not another full pass.
CALIBRATION_ROWS = 2048


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
    shard : Shard or None
        This process's place in a data-parallel run (see
        :mod:`skae._engine.distributed`); None trains alone.
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
    shard: Shard | None = None

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
    shared_generator: torch.Generator | None = None

    @classmethod
    def start(
        cls,
        module: nn.Module,
        device: torch.device,
        seed: int,
        learning_rate: float,
        shard: Shard | None = None,
    ) -> TrainingState:
        """A new state: ``module`` on ``device``, a new optimizer and generator.

        With a ``shard``, rank 0's weights are broadcast to every rank, and
        the generator of each rank's noise is seeded apart from the one that
        shuffles, which is seeded alike on every rank.
        """
        module.to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        shared = None
        if shard is not None:
            shard.broadcast(module)
            shared, generator = generator, torch.Generator(device=device)
            generator.manual_seed((seed + 1 + shard.rank) % 2**63)
        optimizer = make_optimizer(module, learning_rate, device)
        return cls(module, optimizer, generator, seed, device, 0, shared)

    @property
    def shuffler(self) -> torch.Generator:
        """The generator of row orders, splits and calibration: alike on every rank."""
        return (
            self.generator if self.shared_generator is None else self.shared_generator
        )


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
    shard: Shard | None = None,
) -> Step:
    """One optimisation step, ``step(inputs, targets, generator) -> loss``.

    ``precision`` runs the forward pass under ``torch.autocast`` with that
    dtype (float16 also scales the loss against underflow); ``compile`` hands
    the loss to ``torch.compile``. Both pay off on GPUs, rarely on CPUs.
    With a ``shard``, ``step(inputs, targets, generator, n_global)`` averages
    the gradients of every rank's part of a global batch of ``n_global`` rows.
    """
    loss_fn = torch.compile(module.loss) if compile else module.loss
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    device_type = next(module.parameters()).device.type
    scaler = torch.amp.GradScaler(device_type) if precision == torch.float16 else None

    def step(inputs, targets, generator, n_global=None):
        for parameter in parameters:  # zero_grad(set_to_none=True), minus its
            parameter.grad = None  # profiler and foreach bookkeeping
        if shard is not None:
            return _shared_step(inputs, targets, generator, n_global)
        with autocast(device_type, precision):
            loss = loss_fn(inputs, targets, generator)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        return loss.detach()

    def _shared_step(inputs, targets, generator, n_global):
        loss = torch.zeros((), device=inputs.device)
        if len(inputs):  # a rank may get no rows of a batch smaller than the world
            with autocast(device_type, precision):
                loss = loss_fn(inputs, targets, generator)
            loss.backward()
        shard.average_gradients(parameters, len(inputs), n_global)
        optimizer.step()
        return loss.detach()

    return step


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
    module, generator, shard = state.module, state.generator, plan.shard
    module.train()
    batch_size = min(plan.batch_size, len(rows))
    total = torch.zeros((), device=state.device)
    for batch, n_global in rows.epoch(batch_size, state.shuffler, shard):
        inputs = batch if plan.corrupt is None else plan.corrupt(batch, generator)
        if shard is None:
            loss = step(inputs, batch, generator)
        else:
            loss = step(inputs, batch, generator, n_global)
        total.add_(loss, alpha=batch.shape[0])
    total = total.item()  # the one sync of the epoch
    return (total if shard is None else shard.total(total)) / len(rows)


def train(state: TrainingState, rows: Rows, plan: Plan) -> History:
    """Train ``state`` on ``rows`` following ``plan``; return the :class:`History`.

    Training stops after ``plan.max_epochs`` epochs, or once the monitored
    loss stalls (see :class:`Plan`). With a validation set, the weights of the
    best validation epoch are restored at the end. Then the module calibrates
    its post-training statistics on at most :data:`CALIBRATION_ROWS` rows.
    A non-finite loss or weight raises ``ValueError``; the caller discards
    the state. ``KeyboardInterrupt`` ends training with a warning and keeps
    the weights reached so far. Torch's global generators are seeded from
    ``state.seed`` during training and restored afterwards. A module with a
    ``begin_epoch(epoch)`` method (epochs of the state, counted from 1) is
    told when each epoch starts, for schedules of its own (a KL warm-up).
    """
    rank = 0 if plan.shard is None else plan.shard.rank  # dropout differs by rank
    seed = (state.seed + state.epochs_done + 7919 * rank) % 2**64
    with seeded_global_rng(seed, state.device):
        history = _train(state, rows, plan)
        module = state.module
        calibration = rows.sample(CALIBRATION_ROWS, state.shuffler)
        module.calibrate(calibration.batches(INFERENCE_BATCH_SIZE), state.shuffler)
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
        rows, validation = rows.split_validation(
            plan.validation_fraction, state.shuffler
        )
    world = 1 if plan.shard is None else plan.shard.world
    check_batch_statistics(
        module, rows, plan.batch_size, world, plan.validation_fraction
    )
    step = make_step(
        module,
        optimizer,
        precision=plan.precision,
        compile=plan.compile,
        shard=plan.shard,
    )
    keeper = _Keeper(plan, keep_best=validation is not None)
    # Modules with schedules of their own (a KL warm-up) set them per epoch.
    begin_epoch = getattr(module, "begin_epoch", None)
    bar = _progress_bar(plan)
    try:
        for _ in range(plan.max_epochs):
            epoch = state.epochs_done + 1
            for group in optimizer.param_groups:
                group["lr"] = plan.learning_rate_at(epoch)
            if begin_epoch is not None:
                begin_epoch(epoch)
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
