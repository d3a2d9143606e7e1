"""The torch modules behind the estimators; each one owns its loss.

:class:`Autoencoder` is a deterministic encoder/decoder. :class:`VariationalAutoencoder`
adds a reparameterised Gaussian posterior and a ``beta``-weighted KL term
(``beta=1`` is the VAE). The training engine only ever calls :meth:`loss`,
:meth:`eval_loss` and :meth:`calibrate`, so it stays generic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("mse", "bce")
_LOG_2PI = math.log(2 * math.pi)
_MIN_NOISE_VAR = 1e-6
# score_samples averages the likelihood over this many draws of the posterior
# noise, the same draws for every row, so that scores are deterministic.
SCORE_DRAWS = 8


class BaseModule(nn.Module):
    """Encoder, decoder and the reconstruction likelihood's name."""

    variational = False

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, loss: str, n_components: int
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.loss_name = loss
        self.n_components = n_components

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions in data space (probabilities for ``"bce"``)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.loss_name == "bce" else out


class Autoencoder(BaseModule):
    """Encoder and decoder trained to reconstruct their input.

    ``loss="mse"`` scores squared error, ``loss="bce"`` binary cross-entropy on
    the decoder's logits. Both are averaged over features. After training,
    :meth:`calibrate` fits a Gaussian to the training codes, from which
    :meth:`sample_latent` draws.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, loss: str, n_components: int
    ) -> None:
        super().__init__(encoder, decoder, loss, n_components)
        self.register_buffer("prior_mean", torch.zeros(n_components))
        self.register_buffer("prior_scale_tril", torch.eye(n_components))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of ``x``."""
        return self.encoder(x)

    def _error(self, out: torch.Tensor, target: torch.Tensor, reduction: str):
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)
        return F.mse_loss(out, target, reduction=reduction)

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Training loss (a scalar) for reconstructing ``targets`` from ``inputs``."""
        return self._error(self.decoder(self.encoder(inputs)), targets, "mean")

    def eval_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic per-sample loss, as monitored for early stopping."""
        return self._error(self.decoder(self.encoder(x)), x, "none").mean(dim=1)

    def score_samples(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample score: the negative mean reconstruction loss."""
        return -self.eval_loss(x)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor], generator) -> None:
        """Fit the Gaussian that :meth:`sample_latent` draws from to the codes."""
        # On the CPU in float64: MPS has no float64, and k x k is small.
        codes = torch.cat([self.encode(batch).cpu() for batch in batches]).double()
        mean = codes.mean(dim=0)
        cov = torch.atleast_2d(torch.cov(codes.T, correction=0))
        # Jitter keeps the Cholesky factor defined for degenerate codes.
        jitter = 1e-6 * (cov.diagonal().mean().abs() + 1e-12)
        tril = torch.linalg.cholesky_ex(cov + jitter * torch.eye(len(mean))).L
        if not torch.isfinite(tril).all():
            tril = torch.diag(cov.diagonal().clamp_min(0).sqrt())
        self.prior_mean.copy_(mean)
        self.prior_scale_tril.copy_(tril)

    def sample_latent(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` draws from the latent prior."""
        eps = torch.randn(
            (n, self.n_components),
            generator=generator,
            device=self.prior_mean.device,
            dtype=self.prior_mean.dtype,
        )
        return self.prior_mean + eps @ self.prior_scale_tril.T


class VariationalAutoencoder(BaseModule):
    """A VAE: Gaussian posterior, standard normal prior, KL weighted by ``beta``.

    The encoder outputs the posterior mean and log-variance side by side. For
    ``loss="bce"`` the decoder is Bernoulli. For ``loss="mse"`` it is a Gaussian
    whose single variance is calibrated to the mean squared error (the
    "optimal sigma" of Rybkin et al., 2021): the plain sum of squared errors
    lets the KL term switch most latent units off. Losses are in nats per
    sample, summed over features.
    """

    variational = True

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        loss: str,
        n_components: int,
        beta: float = 1.0,
    ) -> None:
        super().__init__(encoder, decoder, loss, n_components)
        self.beta = beta
        self.register_buffer("log_noise_var", torch.zeros(()))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x)."""
        mean, log_var = (
            self.encoder(x).float().chunk(2, dim=1)
        )  # float32 under autocast
        return mean, log_var.clamp(-30.0, 20.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean."""
        return self.posterior(x)[0]

    def _nll(
        self, out, target, log_noise_var=None, *, per_sample: bool
    ) -> torch.Tensor:
        """Negative log-likelihood of ``target`` in nats, per sample or in total.

        For the Gaussian decoder, ``log_noise_var=None`` calibrates the variance
        on this batch: the value that maximises the likelihood, its mean
        squared error (as in training).
        """
        reduction = "none" if per_sample else "sum"
        if self.loss_name == "bce":
            nll = F.binary_cross_entropy_with_logits(out, target, reduction=reduction)
            return nll.sum(dim=1) if per_sample else nll
        squared = F.mse_loss(out, target, reduction=reduction)
        if per_sample:
            squared = squared.sum(dim=1)
        if log_noise_var is None:
            total = squared.detach().sum() if per_sample else squared.detach()
            log_noise_var = (total / target.numel()).clamp_min(_MIN_NOISE_VAR).log()
        n_values = target.shape[1] if per_sample else target.numel()
        constant = n_values * (log_noise_var + _LOG_2PI)  # no gradient
        return 0.5 * (squared * torch.exp(-log_noise_var) + constant)

    @staticmethod
    def _kl(mean, log_var, per_sample: bool) -> torch.Tensor:
        """KL(q(z | x) || N(0, I)) in nats, per sample or in total."""
        terms = mean.square() + log_var.exp() - log_var
        if per_sample:
            return 0.5 * (terms.sum(dim=1) - mean.shape[1])
        return 0.5 * (terms.sum() - mean.numel())

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Negative ELBO with a ``beta``-weighted KL, one reparameterised draw.

        Written with whole-batch sums (the same value as the batch mean of
        the per-sample terms, in fewer kernels, which counts for small models).
        """
        mean, log_var = self.posterior(inputs)
        eps = torch.randn(
            mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
        )
        out = self.decoder(torch.addcmul(mean, torch.exp(0.5 * log_var), eps))
        nll = self._nll(out, targets, per_sample=False)
        kl = self._kl(mean, log_var, per_sample=False)
        return (nll + self.beta * kl) / len(targets)

    def eval_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective at the posterior mean, per sample.

        A deterministic signal for early stopping; the Gaussian decoder's
        variance is calibrated on ``x`` itself, as in training.
        """
        mean, log_var = self.posterior(x)
        nll = self._nll(self.decoder(mean), x, per_sample=True)
        return nll + self.beta * self._kl(mean, log_var, per_sample=True)

    def score_samples(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO per sample (``beta=1``), in nats.

        Its likelihood term averages :data:`SCORE_DRAWS` reparameterised draws,
        the same noise for every row: an unbiased estimate for each row that
        does not depend on which other rows come with it.
        """
        mean, log_var = self.posterior(x)
        std = torch.exp(0.5 * log_var)
        draws = torch.randn(
            (SCORE_DRAWS, self.n_components),
            generator=torch.Generator().manual_seed(0),
        ).to(device=mean.device, dtype=mean.dtype)
        nll = torch.stack(
            [
                self._nll(
                    self.decoder(torch.addcmul(mean, std, eps)),
                    x,
                    self.log_noise_var,
                    per_sample=True,
                )
                for eps in draws
            ]
        ).mean(dim=0)
        return -(nll + self._kl(mean, log_var, per_sample=True))

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor], generator) -> None:
        """Set the Gaussian decoder's variance to the expected squared error."""
        if self.loss_name != "mse":
            return
        total, count = 0.0, 0
        for batch in batches:
            mean, log_var = self.posterior(batch)
            eps = torch.randn(
                mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
            )
            out = self.decoder(torch.addcmul(mean, torch.exp(0.5 * log_var), eps))
            total += F.mse_loss(out, batch, reduction="sum").item()
            count += batch.numel()
        self.log_noise_var.fill_(math.log(max(total / count, _MIN_NOISE_VAR)))

    def sample_latent(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` draws from the standard normal prior."""
        return torch.randn(
            (n, self.n_components),
            generator=generator,
            device=self.log_noise_var.device,
        )
