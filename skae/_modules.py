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


class Autoencoder(nn.Module):
    """Encoder and decoder trained to reconstruct their input.

    ``loss="mse"`` scores squared error, ``loss="bce"`` binary cross-entropy on
    the decoder's logits. Both are averaged over features. After training,
    :meth:`calibrate` fits a Gaussian to the training codes, from which
    :meth:`sample_latent` draws.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, loss: str, n_components: int
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.loss_name = loss
        self.n_components = n_components
        self.register_buffer("prior_mean", torch.zeros(n_components))
        self.register_buffer("prior_scale_tril", torch.eye(n_components))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of ``x``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions in data space (probabilities for ``"bce"``)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.loss_name == "bce" else out

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
    def calibrate(self, batches: Iterable[torch.Tensor]) -> None:
        """Fit the Gaussian that :meth:`sample_latent` draws from to the codes."""
        n, total, outer = 0, 0.0, 0.0
        for batch in batches:
            codes = self.encode(batch).double()
            n += len(codes)
            total = total + codes.sum(dim=0)
            outer = outer + codes.T @ codes
        mean = total / n
        cov = outer / n - torch.outer(mean, mean)
        # Jitter keeps the Cholesky factor defined for degenerate codes.
        jitter = 1e-6 * (cov.diagonal().mean().abs() + 1e-12)
        eye = torch.eye(len(mean), dtype=cov.dtype, device=cov.device)
        tril = torch.linalg.cholesky_ex(cov + jitter * eye).L
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


class VariationalAutoencoder(Autoencoder):
    """A VAE: Gaussian posterior, standard normal prior, KL weighted by ``beta``.

    The encoder outputs the posterior mean and log-variance side by side. For
    ``loss="bce"`` the decoder is Bernoulli. For ``loss="mse"`` it is a Gaussian
    whose single variance is calibrated to the mean squared error (the
    "optimal sigma" of Rybkin et al., 2021): the plain sum of squared errors
    lets the KL term switch most latent units off. Losses are in nats per
    sample, summed over features.
    """

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
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var.clamp(-30.0, 20.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean."""
        return self.posterior(x)[0]

    def _nll(
        self, out: torch.Tensor, target: torch.Tensor, log_noise_var: torch.Tensor
    ) -> torch.Tensor:
        """Per-sample negative log-likelihood of ``target``, in nats."""
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(
                out, target, reduction="none"
            ).sum(dim=1)
        squared = (out - target).square() * torch.exp(-log_noise_var)
        return 0.5 * (squared + log_noise_var + _LOG_2PI).sum(dim=1)

    @staticmethod
    def _kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=1)

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Negative ELBO with a ``beta``-weighted KL, one reparameterised draw.

        The batch mean of ``_nll + beta * _kl``, written with whole-batch sums:
        the same value in fewer kernels, which counts for small models.
        """
        mean, log_var = self.posterior(inputs)
        eps = torch.randn(
            mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
        )
        out = self.decoder(torch.addcmul(mean, torch.exp(0.5 * log_var), eps))
        if self.loss_name == "bce":
            nll = F.binary_cross_entropy_with_logits(out, targets, reduction="sum")
        else:
            squared = F.mse_loss(out, targets, reduction="sum")
            # The variance that maximises the likelihood is the batch's MSE.
            log_noise_var = (
                (squared.detach() / targets.numel()).clamp_min(_MIN_NOISE_VAR).log()
            )
            self.log_noise_var = log_noise_var  # for validation; calibrate() refines
            nll = 0.5 * (
                squared * torch.exp(-log_noise_var)
                + targets.numel() * (log_noise_var + _LOG_2PI)
            )
        kl = 0.5 * ((mean.square() + log_var.exp() - log_var).sum() - mean.numel())
        return (nll + self.beta * kl) / len(targets)

    def _terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.posterior(x)
        return self._nll(self.decoder(mean), x, self.log_noise_var), self._kl(
            mean, log_var
        )

    def eval_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective evaluated at the posterior mean."""
        nll, kl = self._terms(x)
        return nll + self.beta * kl

    def score_samples(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO (``beta=1``), its likelihood term taken at the posterior mean."""
        nll, kl = self._terms(x)
        return -(nll + kl)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor]) -> None:
        """Set the Gaussian decoder's variance to the training reconstruction error."""
        if self.loss_name != "mse":
            return
        total, count = 0.0, 0
        for batch in batches:
            out = self.decoder(self.encode(batch))
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
