"""Reconstruction likelihoods p(x | z): what the decoder's output means.

A likelihood turns the decoder's raw output into a reconstruction in data space
(:meth:`Likelihood.mean`), scores reconstructions for the deterministic
autoencoder (:meth:`Likelihood.error`) and gives the VAE its negative
log-likelihood in nats (:meth:`Likelihood.nll`). A module picks its likelihood
once, in its constructor, with :func:`make_likelihood`.

Likelihoods hold no tensors. A fitted parameter, such as the Gaussian's noise
variance, lives in a buffer of the module (``log_noise_var``), so that the
module's ``state_dict`` keys do not depend on the likelihood: the module passes
the buffer to :meth:`Likelihood.nll` and stores what
:meth:`Likelihood.calibrate` returns.

Adding a likelihood is one subclass and one entry in :data:`LIKELIHOODS`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LIKELIHOODS",
    "UNIT_INTERVAL",
    "Bernoulli",
    "DiagonalGaussian",
    "Gaussian",
    "Likelihood",
    "LogitGaussian",
    "make_likelihood",
]

_LOG_2PI = math.log(2 * math.pi)
#: The smallest noise variance a Gaussian likelihood calibrates to.
MIN_NOISE_VAR = 1e-6
#: In training, :class:`DiagonalGaussian` moves each feature's variance this
#: share of the way towards the mean over features (docs/generative.md says why).
VARIANCE_SHRINKAGE = 0.2
#: :class:`LogitGaussian` squashes [0, 1] into [a, 1 - a] with this ``a``.
LOGIT_MARGIN = 1e-3


class Likelihood(ABC):
    """A reconstruction likelihood over the decoder's output ``out``.

    ``out`` and ``target`` are ``(n_samples, n_features)`` tensors.
    ``per_feature`` says whether its fitted variance has one value per feature
    (the module's ``log_noise_var`` buffer then has shape ``(n_features,)``)
    rather than one in all (shape ``()``).
    """

    per_feature = False

    @abstractmethod
    def mean(self, out: Tensor) -> Tensor:
        """The reconstruction in data space: the mean of p(x | out)."""

    @abstractmethod
    def error(self, out: Tensor, target: Tensor, reduction: str) -> Tensor:
        """The deterministic autoencoder's reconstruction error.

        Parameters
        ----------
        out : Tensor
            Decoder output.
        target : Tensor
            Values to reconstruct.
        reduction : {"none", "mean", "sum"}
            As in :mod:`torch.nn.functional`: one value per entry, or their
            mean or sum.

        Returns
        -------
        Tensor
            The error, reduced as asked.
        """

    @abstractmethod
    def nll(
        self,
        out: Tensor,
        target: Tensor,
        *,
        per_sample: bool,
        log_noise_var: Tensor | None = None,
    ) -> Tensor:
        """Negative log-likelihood of ``target`` in nats, summed over features.

        Parameters
        ----------
        out : Tensor
            Decoder output.
        target : Tensor
            Values to score.
        per_sample : bool
            Return one value per row (shape ``(n_samples,)``), else the total
            over the batch (a scalar).
        log_noise_var : Tensor or None, default=None
            The calibrated log noise variance, for likelihoods that have one
            (see :meth:`calibrate`). ``None`` calibrates it on this batch.
            Likelihoods without a variance ignore it.

        Returns
        -------
        Tensor
            The negative log-likelihood.
        """

    @abstractmethod
    def draw(self, out: Tensor, eps: Tensor, log_noise_var: Tensor) -> Tensor:
        """One draw of p(x | out) per row, made from standard normal ``eps``.

        ``eps`` has the shape of ``out``; the draw is computed in float32,
        whatever the precision of ``out``.
        """

    def calibrate(self, pairs: Iterable[tuple[Tensor, Tensor]]) -> Tensor | None:
        """Fit the likelihood's variance after training.

        Parameters
        ----------
        pairs : iterable of (Tensor, Tensor)
            ``(out, target)`` batches: decoder outputs for draws from the
            posterior, and the training rows they reconstruct. It may be lazy:
            a likelihood with nothing to calibrate does not consume it, so no
            posterior draws are made.

        Returns
        -------
        Tensor or None
            The new ``log_noise_var``, or ``None`` when there is nothing to fit
            (the default).
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Bernoulli(Likelihood):
    """Independent Bernoulli values, with the decoder's output as their logits.

    Its error and negative log-likelihood are the binary cross-entropy.
    """

    def mean(self, out: Tensor) -> Tensor:
        """The probabilities ``sigmoid(out)``."""
        return torch.sigmoid(out)

    def error(self, out: Tensor, target: Tensor, reduction: str) -> Tensor:
        """Binary cross-entropy of ``target`` with the logits ``out``."""
        return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)

    def draw(self, out: Tensor, eps: Tensor, log_noise_var: Tensor) -> Tensor:
        """The probabilities, :meth:`mean`: ``sample`` returns them for bce."""
        return self.mean(out)

    def nll(
        self,
        out: Tensor,
        target: Tensor,
        *,
        per_sample: bool,
        log_noise_var: Tensor | None = None,
    ) -> Tensor:
        """The binary cross-entropy, summed over features; no variance."""
        if per_sample:
            return self.error(out, target, "none").sum(dim=1)
        return self.error(out, target, "sum")


class Gaussian(Likelihood):
    """Gaussian values around the decoder's output, with one shared variance.

    Its error is the squared error. Its variance is the one that maximises the
    likelihood, the mean squared error (the "optimal sigma" of Rybkin et al.,
    2021): on each training batch, and once over the training set after
    training (:meth:`calibrate`).
    """

    def mean(self, out: Tensor) -> Tensor:
        """The decoder's output itself."""
        return out

    def error(self, out: Tensor, target: Tensor, reduction: str) -> Tensor:
        """Squared error of ``out`` against ``target``."""
        return F.mse_loss(out, target, reduction=reduction)

    def draw(self, out: Tensor, eps: Tensor, log_noise_var: Tensor) -> Tensor:
        """``out`` plus ``eps`` scaled by the calibrated standard deviation(s)."""
        scale = torch.exp(0.5 * log_noise_var.float())
        return self.mean(out).float() + eps.float() * scale

    def nll(
        self,
        out: Tensor,
        target: Tensor,
        *,
        per_sample: bool,
        log_noise_var: Tensor | None = None,
    ) -> Tensor:
        """The Gaussian negative log-likelihood.

        The variance is calibrated on this batch (``log_noise_var=None``, as in
        training) or given.
        """
        squared = self.error(out, target, "none" if per_sample else "sum")
        if per_sample:
            squared = squared.sum(dim=1)
        if log_noise_var is None:
            total = squared.detach().sum() if per_sample else squared.detach()
            log_noise_var = (total / target.numel()).clamp_min(MIN_NOISE_VAR).log()
        n_values = target.shape[1] if per_sample else target.numel()
        constant = n_values * (log_noise_var + _LOG_2PI)  # no gradient
        return 0.5 * (squared * torch.exp(-log_noise_var) + constant)

    def calibrate(self, pairs: Iterable[tuple[Tensor, Tensor]]) -> Tensor:
        """The log of the mean squared error over all ``pairs`` (float64)."""
        total, count = 0.0, 0
        for out, target in pairs:
            total += self.error(out, target, "sum").item()
            count += target.numel()
        return torch.tensor(
            math.log(max(total / count, MIN_NOISE_VAR)), dtype=torch.float64
        )


class DiagonalGaussian(Gaussian):
    """Gaussian values around the decoder's output, one variance per feature.

    Like :class:`Gaussian`, but each feature has its own maximum-likelihood
    variance (the mean squared error of that feature), as in factor analysis:
    a nearly constant pixel gets a small variance and a noisy one a large
    variance, where one shared variance fits neither. The deterministic
    autoencoders' error is still the squared error.
    """

    per_feature = True

    def _squared(self, out: Tensor, target: Tensor) -> Tensor:
        """The squared error per entry, in the space the Gaussian lives in."""
        return self.error(out, target, "none")

    def _jacobian(self, target: Tensor) -> Tensor | float:
        """Per-sample log-determinant of the map to that space (0: none)."""
        return 0.0

    def nll(
        self,
        out: Tensor,
        target: Tensor,
        *,
        per_sample: bool,
        log_noise_var: Tensor | None = None,
    ) -> Tensor:
        """The negative log-likelihood with per-feature variances.

        They are calibrated on this batch (``log_noise_var=None``, as in
        training) or given, with shape ``(n_features,)``. Calibrated on the
        batch, each feature's mean squared error is shrunk
        :data:`VARIANCE_SHRINKAGE` of the way towards the mean over features:
        otherwise a feature that the decoder fits almost exactly (a pixel that
        is always 0) gets a variance near zero, and its weight in the loss,
        one over the variance, grows without bound as the fit improves, until
        it drowns out the features that carry the data. :meth:`calibrate`,
        after training, gives each feature its own mean squared error.
        """
        squared = self._squared(out, target)
        if log_noise_var is None:
            variance = squared.detach().mean(dim=0)
            variance = torch.lerp(variance, variance.mean(), VARIANCE_SHRINKAGE)
            log_noise_var = variance.clamp_min(MIN_NOISE_VAR).log()
        terms = squared * torch.exp(-log_noise_var) + (log_noise_var + _LOG_2PI)
        nll = 0.5 * terms.sum(dim=1) - self._jacobian(target)
        return nll if per_sample else nll.sum()

    def calibrate(self, pairs: Iterable[tuple[Tensor, Tensor]]) -> Tensor:
        """The log of each feature's mean squared error over ``pairs`` (float64)."""
        total, count = 0.0, 0
        for out, target in pairs:
            total = total + self._squared(out, target).double().sum(dim=0).cpu()
            count += len(target)
        return (total / count).clamp_min(MIN_NOISE_VAR).log()


class LogitGaussian(DiagonalGaussian):
    """A Gaussian in logit space with one variance per feature, for [0, 1] data.

    ``x`` in [0, 1] is squashed to ``a + (1 - 2a) x`` (``a =``
    :data:`LOGIT_MARGIN`) and mapped to ``logit``; there the decoder's output is
    the mean of a Gaussian with a per-feature variance. The negative
    log-likelihood includes the log-determinant of that map, so it is a density
    of ``x`` on [0, 1], comparable with other densities of the same data. The
    reconstruction is ``sigmoid(out)`` (the median of ``x``), always in (0, 1).
    """

    def mean(self, out: Tensor) -> Tensor:
        """``sigmoid(out)``, the median of x."""
        return torch.sigmoid(out)

    @staticmethod
    def _squashed(target: Tensor) -> Tensor:
        return LOGIT_MARGIN + (1 - 2 * LOGIT_MARGIN) * target.clamp(0, 1)

    def draw(self, out: Tensor, eps: Tensor, log_noise_var: Tensor) -> Tensor:
        """The Gaussian draw in logit space, mapped by the sigmoid: in [0, 1].

        Like :meth:`mean`, it leaves the squashing margin in place (at most
        :data:`LOGIT_MARGIN` off), so samples never leave [0, 1].
        """
        noise = eps.float() * torch.exp(0.5 * log_noise_var.float())
        return torch.sigmoid(out.float() + noise)

    def error(self, out: Tensor, target: Tensor, reduction: str) -> Tensor:
        """Squared error in logit space."""
        return F.mse_loss(out, torch.logit(self._squashed(target)), reduction=reduction)

    def _jacobian(self, target: Tensor) -> Tensor:
        squashed = self._squashed(target)
        log_det = -torch.log(squashed) - torch.log1p(-squashed)
        return log_det.sum(dim=1) + target.shape[1] * math.log(1 - 2 * LOGIT_MARGIN)


#: The likelihood behind each value of the estimators' ``loss`` parameter.
LIKELIHOODS: dict[str, type[Likelihood]] = {
    "mse": Gaussian,
    "bce": Bernoulli,
    "gaussian": DiagonalGaussian,
    "logit_gaussian": LogitGaussian,
}
#: The ``loss`` values whose data must lie in [0, 1].
UNIT_INTERVAL = frozenset({"bce", "logit_gaussian"})


def make_likelihood(loss: str) -> Likelihood:
    """The likelihood named ``loss``, a key of :data:`LIKELIHOODS`.

    Parameters
    ----------
    loss : str
        The estimator's ``loss`` parameter.

    Returns
    -------
    Likelihood
        A new instance.

    Raises
    ------
    ValueError
        If ``loss`` names no likelihood.
    """
    try:
        return LIKELIHOODS[loss]()
    except KeyError:
        names = ", ".join(map(repr, LIKELIHOODS))
        raise ValueError(f"Unknown loss {loss!r}: expected one of {names}.") from None
