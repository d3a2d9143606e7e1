"""The three implementations a training case times: skae, a hand-written loop, skorch.

All three train the same module (built with :func:`skae.builtins.mlp.build_mlp`)
with the same loss, the optimizer skae uses (read from skae itself by
:func:`skae_optimizer`), the same batch size and the same number of epochs.
Each ``fit_*`` function returns the number of epochs it ran, so the harness
can check that no implementation stopped early.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import skae
from skae._engine import training as _engine
from skae.builtins.mlp import build_mlp

# Rows per inference block: skae's own value, so both transforms do the same work.
INFERENCE_BLOCK = getattr(_engine, "INFERENCE_BATCH_SIZE", 512)
_LOG_2PI = math.log(2 * math.pi)
_MIN_NOISE_VAR = 1e-6


@dataclass(frozen=True)
class Arch:
    """An MLP autoencoder: ``n_features -> *hidden -> n_components``, mirrored."""

    n_features: int
    hidden: tuple[int, ...]
    n_components: int
    variational: bool

    def label(self) -> str:
        widths = (self.n_features, *self.hidden, self.n_components)
        return "-".join(map(str, widths)) + (" VAE" if self.variational else " AE")


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer class and its settings, as skae builds it."""

    cls: type[torch.optim.Optimizer]
    settings: dict

    def build(self, params) -> torch.optim.Optimizer:
        return self.cls(params, **self.settings)

    def describe(self) -> str:
        shown = {k: v for k, v in self.settings.items() if k in _SHOWN}
        return f"{self.cls.__name__}({', '.join(f'{k}={v}' for k, v in shown.items())})"


_SHOWN = ("lr", "betas", "eps", "weight_decay", "foreach", "fused")


def skae_optimizer() -> OptimizerSpec:
    """The optimizer skae trains with: ``skae._engine.make_optimizer`` at skae's
    default learning rate.

    The baselines build theirs from this, so a change in skae (``fused=True``,
    another learning rate) reaches them without editing the benchmark.
    """
    lr = skae.AutoencoderTransformer().learning_rate
    probe = _engine.make_optimizer(nn.Linear(1, 1), lr, torch.device("cpu"))
    return OptimizerSpec(type(probe), dict(probe.defaults))


class Net(nn.Module):
    """Encoder and decoder of ``arch``; a VAE's forward pass draws one sample."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        k = arch.n_components
        self.variational = arch.variational
        self.encoder, self.decoder = build_mlp(
            arch.n_features,
            2 * k if arch.variational else k,
            k,
            hidden_layer_sizes=arch.hidden,
        )

    def forward(self, x: torch.Tensor):
        if not self.variational:
            return self.decoder(self.encoder(x))
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        log_var = log_var.clamp(-30.0, 20.0)
        z = torch.addcmul(mean, torch.exp(0.5 * log_var), torch.randn_like(mean))
        return self.decoder(z), mean, log_var


class VAELoss(nn.Module):
    """Negative ELBO in nats per sample, the objective of skae's ``VAE(loss="mse")``.

    The decoder is Gaussian with one variance set to the batch's (detached)
    mean squared error, written with whole-batch sums as in skae; skae also
    keeps the last batch's variance for validation, which this leaves out.
    """

    def forward(self, prediction, x: torch.Tensor) -> torch.Tensor:
        out, mean, log_var = prediction
        squared = F.mse_loss(out, x, reduction="sum")
        noise = (squared.detach() / x.numel()).clamp_min(_MIN_NOISE_VAR).log()
        nll = 0.5 * (squared * torch.exp(-noise) + x.numel() * (noise + _LOG_2PI))
        kl = 0.5 * ((mean.square() + log_var.exp() - log_var).sum() - mean.numel())
        return (nll + kl) / len(x)


def criterion(arch: Arch) -> nn.Module:
    """The loss both baselines use: skae's ``loss="mse"``, plain or variational."""
    return VAELoss() if arch.variational else nn.MSELoss()


def n_parameters(arch: Arch) -> int:
    return sum(p.numel() for p in Net(arch).parameters())


def fit_skae(
    X: np.ndarray, arch: Arch, *, epochs: int, batch_size: int, seed: int
) -> int:
    """``skae.fit`` for exactly ``epochs`` epochs (the convergence stop is off)."""
    cls = skae.VAE if arch.variational else skae.AutoencoderTransformer
    est = cls(
        arch.n_components,
        encoder_params={"hidden_layer_sizes": arch.hidden},
        batch_size=batch_size,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs,
        device="cpu",
        random_state=seed,
        loss="mse",  # the hand-written loop's objective (the VAE default is now
        sampler="prior",  # "gaussian"); no mixture fitted after training
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        est.fit(X)
    return est.n_iter_


def fit_loop(
    X: np.ndarray,
    arch: Arch,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    optimizer: OptimizerSpec,
) -> int:
    """The minimal loop: batches sliced from one tensor by a shuffled permutation."""
    data = torch.as_tensor(X, dtype=torch.float32)
    torch.manual_seed(seed)
    net, loss_fn = Net(arch), criterion(arch)
    opt = optimizer.build(net.parameters())
    generator = torch.Generator().manual_seed(seed)
    n = len(data)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            batch = data[order[start : start + batch_size]]
            loss = loss_fn(net(batch), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epochs


def fit_skorch(
    X: np.ndarray,
    arch: Arch,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    optimizer: OptimizerSpec,
) -> int:
    """skorch's ``NeuralNet`` on the same module, fitted as ``net.fit(X, X)``."""
    from skorch import NeuralNet

    torch.manual_seed(seed)
    net = NeuralNet(
        Net,
        module__arch=arch,
        criterion=VAELoss if arch.variational else nn.MSELoss,
        optimizer=optimizer.cls,
        **{f"optimizer__{k}": v for k, v in optimizer.settings.items()},
        batch_size=batch_size,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        device="cpu",
    )
    net.fit(X, X)
    return len(net.history)


def encode_loop(encoder: nn.Module, X: np.ndarray, width: int) -> np.ndarray:
    """The minimal ``transform``: the encoder on fixed blocks, written in place."""
    out = np.empty((len(X), width), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(X), INFERENCE_BLOCK):
            stop = start + INFERENCE_BLOCK
            out[start:stop] = encoder(torch.from_numpy(X[start:stop])).numpy()
    return out
