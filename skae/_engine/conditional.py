"""The conditional VAE's torch module: a VAE whose decoder and prior see a condition.

:class:`ConditionalVariationalAutoencoder` extends
:class:`~.modules.VariationalAutoencoder` with a condition ``c``, a float row of
``n_conditions`` columns (a one-hot label, or standardised continuous values):

- the encoder q(z | x) is the VAE's, unconditional, so codes need no ``c``;
- the decoder p(x | z, c) is the architecture's decoder applied to ``[z, c]``
  (built with ``n_components + n_conditions`` inputs);
- the prior p(z | c) = N(mu(c), diag sigma^2(c)) is a small learned network,
  whose last layer starts at zero, so training starts from the VAE's N(0, I).

Training rows are ``[x, c]`` side by side: the engine batches, shuffles and
splits them like any rows, and the module splits them again. The decoder's
input and the scored rows follow the same layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .modules import (
    IMPORTANCE_CHUNK,
    SCORE_DRAWS,
    VariationalAutoencoder,
    reparameterise,
)

#: Hidden units of the prior network mu(c), log sigma^2(c).
PRIOR_HIDDEN = 64
_LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean_q, log_var_q, mean_p, log_var_p) -> torch.Tensor:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) per row, diagonal, in nats."""
    terms = (
        log_var_p
        - log_var_q
        + (log_var_q.exp() + (mean_q - mean_p).square()) * torch.exp(-log_var_p)
        - 1
    )
    return 0.5 * terms.sum(dim=1)


def gaussian_log_density(z, mean, log_var) -> torch.Tensor:
    """log N(z; mean, diag exp(log_var)) summed over the last dimension."""
    terms = (z - mean).square() * torch.exp(-log_var) + log_var + _LOG_2PI
    return -0.5 * terms.sum(dim=-1)


class ConditionalVariationalAutoencoder(VariationalAutoencoder):
    """A VAE with a condition in the decoder and a learned conditional prior.

    Rows given to :meth:`loss`, :meth:`eval_loss`, :meth:`score_samples`,
    :meth:`log_likelihood` and :meth:`calibrate` are ``[x, c]``, with ``c``
    the last ``n_conditions`` columns. :meth:`encode` takes ``x`` alone and
    :meth:`decode` takes ``[z, c]``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        loss: str,
        n_components: int,
        n_conditions: int = 1,
        beta: float = 1.0,
        kl_warmup: int = 0,
    ) -> None:
        super().__init__(encoder, decoder, loss, n_components, beta, kl_warmup)
        self.n_conditions = n_conditions
        self.prior_net = nn.Sequential(
            nn.Linear(n_conditions, PRIOR_HIDDEN),
            nn.SiLU(),
            nn.Linear(PRIOR_HIDDEN, 2 * n_components),
        )
        nn.init.zeros_(self.prior_net[-1].weight)
        nn.init.zeros_(self.prior_net[-1].bias)

    def extra_repr(self) -> str:
        """The likelihood, latent width and condition width."""
        return f"{super().extra_repr()}, n_conditions={self.n_conditions}"

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``rows`` ``[x, c]`` as ``(x, c)``."""
        return rows[:, : -self.n_conditions], rows[:, -self.n_conditions :]

    def prior(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z | c)."""
        mean, log_var = self.prior_net(c.float()).float().chunk(2, dim=1)
        return mean, log_var.clamp(-30.0, 20.0)

    def _decoded(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c.to(z.dtype)], dim=1))

    def _terms(self, rows: torch.Tensor, noise, log_noise_var=None):
        """Per-row negative log-likelihood and KL for one posterior draw."""
        x, c = self.split(rows)
        mean, log_var = self.posterior(x)
        z = mean if noise is None else reparameterise(mean, log_var, noise)
        nll = self._nll(self._decoded(z, c), x, log_noise_var, per_sample=True)
        return nll, gaussian_kl(mean, log_var, *self.prior(c))

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Negative ELBO with the KL to p(z | c), one reparameterised draw.

        As :meth:`VariationalAutoencoder.loss`, with the KL weight following
        the warm-up; ``inputs`` and ``targets`` are the same ``[x, c]`` rows.
        """
        x, c = self.split(targets)
        mean, log_var = self.posterior(x)
        out = self._decoded(reparameterise(mean, log_var, generator), c)
        nll = self._nll(out, x, per_sample=False)
        kl = gaussian_kl(mean, log_var, *self.prior(c)).sum()
        return (nll + self.beta * self.kl_scale * kl) / len(x)

    def eval_loss(self, rows: torch.Tensor) -> torch.Tensor:
        """The training objective at the posterior mean, per row."""
        nll, kl = self._terms(rows, None)
        return nll + self.beta * kl

    def score_samples(self, rows: torch.Tensor) -> torch.Tensor:
        """The conditional ELBO per row in nats, over :data:`SCORE_DRAWS` draws."""
        x = self.split(rows)[0]
        draws = torch.randn(
            (SCORE_DRAWS, self.n_components),
            generator=torch.Generator().manual_seed(0),
        ).to(device=x.device)
        terms = [self._terms(rows, eps, self.log_noise_var) for eps in draws]
        nll = torch.stack([t[0] for t in terms]).mean(dim=0)
        return -(nll + terms[0][1])

    def log_weights(
        self, x: torch.Tensor, conditions: torch.Tensor, n_draws: int, seed: int
    ) -> torch.Tensor:
        """Importance log-weights ``log p(x|z,c) + log p(z|c) - log q(z|x)``.

        Parameters
        ----------
        x : Tensor of shape (n, n_features)
            Rows to score.
        conditions : Tensor of shape (m, n, n_conditions)
            ``m`` conditions for each row (``m = 1``: one per row).
        n_draws, seed : int
            Draws ``z_k ~ q(z | x)`` and the seed of their standard normal
            noise, the same for every row and every condition.

        Returns
        -------
        Tensor of shape (n_draws, m, n), float64
        """
        mean, log_var = self.posterior(x)
        n, k = mean.shape
        m = conditions.shape[0]
        noise = torch.randn(
            (n_draws, k), generator=torch.Generator().manual_seed(seed)
        ).to(device=mean.device, dtype=mean.dtype)
        log_q_rows = -0.5 * log_var.sum(dim=1) - 0.5 * k * _LOG_2PI
        flat = conditions.reshape(-1, self.n_conditions)
        prior_mean, prior_log_var = (
            t.reshape(m, n, k) for t in self.prior(flat)
        )  # fmt: skip
        chunks = []
        for start in range(0, n_draws, IMPORTANCE_CHUNK):
            eps = noise[start : start + IMPORTANCE_CHUNK]
            d = len(eps)
            z = mean + torch.exp(0.5 * log_var) * eps[:, None, :]  # (d, n, k)
            log_q = log_q_rows - 0.5 * eps.square().sum(dim=1)[:, None]  # (d, n)
            zz = z[:, None].expand(d, m, n, k)
            cc = conditions[None].expand(d, m, n, self.n_conditions)
            out = self._decoded(zz.reshape(-1, k), cc.reshape(-1, self.n_conditions))
            targets = x.repeat(d * m, 1)
            nll = self._nll(out, targets, self.log_noise_var, per_sample=True)
            log_prior = gaussian_log_density(zz, prior_mean, prior_log_var)
            log_w = (log_prior - log_q[:, None]).double()
            chunks.append(log_w - nll.reshape(d, m, n).double())
        return torch.cat(chunks)

    def log_likelihood(self, rows: torch.Tensor, n_draws: int, seed: int):
        """Importance-weighted estimate of log p(x | c) per row ``[x, c]``.

        As :meth:`VariationalAutoencoder.log_likelihood` (Burda et al., 2015),
        with the decoder and the prior conditioned on ``c``.
        """
        x, c = self.split(rows)
        log_w = self.log_weights(x, c[None], n_draws, seed)[:, 0]
        return (torch.logsumexp(log_w, dim=0) - math.log(n_draws)).to(x.dtype)

    def marginal_log_likelihood(
        self,
        x: torch.Tensor,
        conditions: torch.Tensor,
        log_prob: torch.Tensor,
        n_draws: int,
        seed: int,
    ) -> torch.Tensor:
        """Estimate of log sum_j p(c_j) p(x | c_j) per row of ``x``.

        ``conditions`` (m, n_conditions) with log-probabilities ``log_prob``
        (m,). The same draws ``z_k ~ q(z | x)`` serve every condition, so the
        estimate is ``log (1/K) sum_k sum_j p(c_j) w_jk``: a lower bound on
        the marginal log-likelihood that tightens as ``K`` grows.
        """
        m, n = len(conditions), len(x)
        conds = conditions.to(x)[:, None, :].expand(m, n, self.n_conditions)
        log_w = self.log_weights(x, conds, n_draws, seed)  # (K, m, n)
        log_w = log_w + log_prob.to(log_w)[None, :, None]
        total = torch.logsumexp(log_w.reshape(-1, n), dim=0)
        return (total - math.log(n_draws)).to(x.dtype)

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor], generator) -> None:
        """Fit the likelihood's variance on ``[x, c]`` rows, as the VAE does."""
        batches = list(batches)
        codes = [self.encode(self.split(batch)[0]).cpu() for batch in batches]
        self.calibration_codes = torch.cat(codes).double()

        def pairs() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for batch in batches:
                x, c = self.split(batch)
                mean, log_var = self.posterior(x)
                z = reparameterise(mean, log_var, generator)
                yield self._decoded(z, c), x

        log_noise_var = self.likelihood.calibrate(pairs())
        if log_noise_var is not None:
            self.log_noise_var.copy_(log_noise_var)

    def sample_latent(self, c: torch.Tensor, generator: torch.Generator):
        """One draw from p(z | c) per row of ``c``, with ``c`` beside it: ``[z, c]``."""
        mean, log_var = self.prior(c)
        z = reparameterise(mean, log_var, generator)
        return torch.cat([z, c.to(z.dtype)], dim=1)
