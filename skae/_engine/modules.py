"""The torch modules behind the estimators; each one owns its loss.

:class:`Autoencoder` is a deterministic encoder/decoder. :class:`VariationalAutoencoder`
adds a reparameterised Gaussian posterior and a ``beta``-weighted KL term
(``beta=1`` is the VAE). The training engine only ever calls :meth:`loss`,
:meth:`eval_loss` and :meth:`calibrate`, so it stays generic. What the decoder's
output means (Gaussian or Bernoulli) is a :class:`~.likelihoods.Likelihood`,
chosen once, in the constructor, from the ``loss`` name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .likelihoods import LIKELIHOODS, make_likelihood

#: The names the ``loss`` parameter accepts, one per likelihood.
LOSSES = tuple(LIKELIHOODS)
# score_samples averages the likelihood over this many draws of the posterior
# noise, the same draws for every row, so that scores are deterministic.
SCORE_DRAWS = 8
# log_likelihood decodes this many importance draws of a block at a time.
IMPORTANCE_CHUNK = 32
_LOG_2PI = math.log(2 * math.pi)


def reparameterise(
    mean: torch.Tensor,
    log_var: torch.Tensor,
    noise: torch.Tensor | torch.Generator,
) -> torch.Tensor:
    """A draw ``mean + exp(log_var / 2) * eps`` from a diagonal Gaussian.

    Parameters
    ----------
    mean, log_var : Tensor
        Mean and log-variance of the Gaussian, shape ``(n_samples, k)``.
    noise : Tensor or torch.Generator
        The standard normal ``eps`` itself (anything that broadcasts against
        ``mean``), or a generator to draw it from, with ``mean``'s shape,
        device and dtype.

    Returns
    -------
    Tensor
        The draw, differentiable in ``mean`` and ``log_var``.
    """
    if isinstance(noise, torch.Generator):
        noise = torch.randn(
            mean.shape, generator=noise, device=mean.device, dtype=mean.dtype
        )
    return torch.addcmul(mean, torch.exp(0.5 * log_var), noise)


class BaseModule(nn.Module):
    """Encoder, decoder and the reconstruction likelihood named by ``loss``."""

    variational = False

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, loss: str, n_components: int
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = make_likelihood(loss)
        self.n_components = n_components

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions in data space (probabilities for ``"bce"``)."""
        return self.likelihood.mean(self.decoder(z))

    def extra_repr(self) -> str:
        """The likelihood and latent width, shown in the module's repr."""
        return f"likelihood={self.likelihood!r}, n_components={self.n_components}"


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

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Training loss (a scalar) for reconstructing ``targets`` from ``inputs``."""
        return self.likelihood.error(
            self.decoder(self.encoder(inputs)), targets, "mean"
        )

    def eval_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic per-sample loss, as monitored for early stopping."""
        out = self.decoder(self.encoder(x))
        return self.likelihood.error(out, x, "none").mean(dim=1)

    def score_samples(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample score: the negative mean reconstruction loss."""
        return -self.eval_loss(x)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor], generator) -> None:
        """Fit the Gaussian that :meth:`sample_latent` draws from to the codes.

        The codes stay in the plain attribute ``calibration_codes`` (float64,
        on the CPU), for the facade to fit a latent mixture on and delete.
        """
        # On the CPU in float64: MPS has no float64, and k x k is small.
        codes = torch.cat([self.encode(batch).cpu() for batch in batches]).double()
        self.calibration_codes = codes  # for a mixture fitted by the facade
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
    lets the KL term switch most latent units off; ``loss="gaussian"`` has one
    such variance per feature (shrunk towards their mean in training, see
    :class:`~.likelihoods.DiagonalGaussian`). Losses are in nats per sample,
    summed over features. The buffer ``log_noise_var`` holds the variance
    calibrated after training, whatever the likelihood, so that the
    ``state_dict`` keys do not depend on it; its shape is ``()``, or
    ``(n_features,)`` once :meth:`set_n_features` has been called for a
    per-feature likelihood.

    ``kl_warmup`` epochs raise the KL weight linearly from ``beta /
    kl_warmup`` to ``beta``. With a ``capacity`` (nats), the KL term is
    instead ``beta * |KL - C|`` with a target ``C`` that grows linearly to
    ``capacity`` over ``capacity_epochs`` epochs (Burgess et al., 2018). The
    engine sets both schedules through :meth:`begin_epoch`; outside training
    they sit at their end.
    """

    variational = True

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        loss: str,
        n_components: int,
        beta: float = 1.0,
        kl_warmup: int = 0,
        capacity: float | None = None,
        capacity_epochs: int = 1,
    ) -> None:
        super().__init__(encoder, decoder, loss, n_components)
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.capacity = capacity
        self.capacity_epochs = capacity_epochs
        self.register_buffer("log_noise_var", torch.zeros(()))
        # The schedules' current values: tensors, so torch.compile does not
        # recompile as they change; not persistent, so files do not hold them.
        self.register_buffer("kl_scale", torch.ones(()), persistent=False)
        self.register_buffer("target_kl", torch.zeros(()), persistent=False)
        self.begin_epoch(None)

    def set_n_features(self, n_features: int) -> None:
        """Give ``log_noise_var`` one entry per feature if the likelihood wants it."""
        if self.likelihood.per_feature:
            self.log_noise_var = self.log_noise_var.new_zeros(n_features)

    def begin_epoch(self, epoch: int | None) -> None:
        """Set the KL warm-up and capacity for ``epoch`` (from 1; None: the end)."""

        def progress(length: int) -> float:
            return 1.0 if epoch is None or length < 1 else min(1.0, epoch / length)

        self.kl_scale.fill_(progress(self.kl_warmup))
        if self.capacity is not None:
            self.target_kl.fill_(self.capacity * progress(self.capacity_epochs))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x)."""
        mean, log_var = (
            self.encoder(x).float().chunk(2, dim=1)
        )  # float32 under autocast
        return mean, log_var.clamp(-30.0, 20.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean."""
        return self.posterior(x)[0]

    def draw(self, z: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """One draw of p(x | z) per code, from standard normal ``eps``."""
        return self.likelihood.draw(self.decoder(z), eps, self.log_noise_var)

    def _nll(
        self,
        out: torch.Tensor,
        target: torch.Tensor,
        log_noise_var: torch.Tensor | None = None,
        *,
        per_sample: bool,
    ) -> torch.Tensor:
        """:meth:`Likelihood.nll <.likelihoods.Likelihood.nll>` of the decoder.

        ``log_noise_var=None`` calibrates a Gaussian's variance on this batch,
        as in training.
        """
        return self.likelihood.nll(
            out, target, per_sample=per_sample, log_noise_var=log_noise_var
        )

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
        The KL weight follows the warm-up; with a capacity, the KL term is
        ``beta * |KL - C|`` per sample.
        """
        mean, log_var = self.posterior(inputs)
        out = self.decoder(reparameterise(mean, log_var, generator))
        nll = self._nll(out, targets, per_sample=False)
        kl = self._kl(mean, log_var, per_sample=False)
        n = len(targets)
        if self.capacity is not None:
            return nll / n + self.beta * (kl / n - self.target_kl).abs()
        return (nll + self.beta * self.kl_scale * kl) / n

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
        draws = torch.randn(
            (SCORE_DRAWS, self.n_components),
            generator=torch.Generator().manual_seed(0),
        ).to(device=mean.device, dtype=mean.dtype)
        nll = torch.stack(
            [
                self._nll(
                    self.decoder(reparameterise(mean, log_var, eps)),
                    x,
                    self.log_noise_var,
                    per_sample=True,
                )
                for eps in draws
            ]
        ).mean(dim=0)
        return -(nll + self._kl(mean, log_var, per_sample=True))

    def log_likelihood(self, x: torch.Tensor, n_draws: int, seed: int) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) per sample, in nats.

        ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)`` with ``K = n_draws``
        draws ``z_k`` from the posterior (Burda et al., 2015): a lower bound
        that tightens towards log p(x) as ``K`` grows, and is the ELBO's
        single-draw estimate at ``K = 1``. The standard normal noise behind
        the draws comes from ``seed`` and is the same for every row, so a
        row's estimate does not depend on the rows around it.
        """
        mean, log_var = self.posterior(x)
        n, k = mean.shape
        noise = torch.randn(
            (n_draws, k), generator=torch.Generator().manual_seed(seed)
        ).to(device=mean.device, dtype=mean.dtype)
        std = torch.exp(0.5 * log_var)
        # log q(z | x) = log N(eps; 0, I) - sum(log std)
        log_q_rows = -0.5 * log_var.sum(dim=1) - 0.5 * k * _LOG_2PI
        total = None
        for start in range(0, n_draws, IMPORTANCE_CHUNK):
            eps = noise[start : start + IMPORTANCE_CHUNK]
            z = mean + std * eps[:, None, :]  # (draws, n, k)
            out = self.decoder(z.reshape(-1, k))
            targets = x.repeat(len(eps), 1)
            nll = self._nll(out, targets, self.log_noise_var, per_sample=True)
            log_prior = -0.5 * z.square().sum(dim=2) - 0.5 * k * _LOG_2PI
            log_q = log_q_rows - 0.5 * eps.square().sum(dim=1)[:, None]
            log_w = (log_prior - log_q).double() - nll.reshape(len(eps), n).double()
            chunk = torch.logsumexp(log_w, dim=0)
            total = chunk if total is None else torch.logaddexp(total, chunk)
        return (total - math.log(n_draws)).to(mean.dtype)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor], generator) -> None:
        """Fit the likelihood's variance (the Gaussian's: the expected squared error).

        One posterior draw per row. A likelihood with no variance draws nothing.
        The posterior means stay in the plain attribute ``calibration_codes``
        (float64, on the CPU), for the facade to fit a latent mixture on.
        """
        batches = list(batches)
        codes = [self.encode(batch).cpu() for batch in batches]
        self.calibration_codes = torch.cat(codes).double()

        def pairs() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for batch in batches:
                mean, log_var = self.posterior(batch)
                yield self.decoder(reparameterise(mean, log_var, generator)), batch

        log_noise_var = self.likelihood.calibrate(pairs())
        if log_noise_var is not None:
            self.log_noise_var.copy_(log_noise_var)

    def sample_latent(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` draws from the standard normal prior."""
        return torch.randn(
            (n, self.n_components),
            generator=generator,
            device=self.log_noise_var.device,
        )
