"""Ex-post latent densities: a Gaussian mixture fitted to the training codes.

Ghosh et al. (2019), "From Variational to Deterministic Autoencoders", sample
a deterministic autoencoder by fitting a density to the codes of the training
data after training, and decoding draws from it. skae fits scikit-learn's
:class:`~sklearn.mixture.GaussianMixture` (full covariances) to the codes of
the same at most 2,048 rows on which the engine calibrates, and keeps its
parameters as plain arrays (``weights``, ``means``, ``covariances``), so that
the fitted attribute pickles and saves like any other.

Twenty components: on the codes of the default digits models at k=8 they gave
the highest held-out log-likelihood of the codes among 5 to 100 components
(docs/generative.md), for the AE and the VAE alike.

:func:`sample_latent_mixture` allots the ``n`` draws to the components by
systematic sampling (one uniform offset, ``n`` evenly spaced points on the
cumulative weights): each component gets ``floor`` or ``ceil`` of
``n * weight`` draws rather than a multinomial count. Each draw, taken alone,
still follows the mixture (the offset is uniform and the order is shuffled);
a set of draws just has the mixture's proportions up to one draw per
component, which lowers the variance of anything averaged over the set.
``sample`` calls it once per block of 4,096 draws, each block with a seed of
its own, so memory stays bounded however many samples are asked for, and the
first block's draws do not depend on how many blocks follow.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

#: The ``sampler`` parameter's values.
SAMPLERS = ("prior", "mixture")
#: Components of the latent mixture (fewer when there are fewer codes).
MIXTURE_COMPONENTS = 20
_KEYS = ("weights", "means", "covariances")


def fit_latent_mixture(codes: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """A :class:`~sklearn.mixture.GaussianMixture` fitted to ``codes``, as arrays.

    Parameters
    ----------
    codes : ndarray of shape (n_codes, n_components)
        The latent codes of the calibration rows.
    seed : int
        Seeds the mixture's initialisation.

    Returns
    -------
    dict
        ``weights`` (m,), ``means`` (m, k) and ``covariances`` (m, k, k),
        float64, with ``m = min(MIXTURE_COMPONENTS, n_codes)``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if len(codes) < 2:  # GaussianMixture needs two rows: one narrow Gaussian
        k = codes.shape[1]
        return {
            "weights": np.ones(1),
            "means": codes[:1].copy(),
            "covariances": np.eye(k)[None] * 1e-6,
        }
    mixture = GaussianMixture(
        min(MIXTURE_COMPONENTS, len(codes)),
        covariance_type="full",
        reg_covar=1e-6 * max(float(codes.var(axis=0).mean()), 1e-12) + 1e-9,
        random_state=seed % 2**32,
    )
    with warnings.catch_warnings():
        # Few distinct codes (a model trained for a few steps) are no error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(codes)
    return {
        "weights": mixture.weights_.astype(np.float64),
        "means": mixture.means_.astype(np.float64),
        "covariances": mixture.covariances_.astype(np.float64),
    }


def sample_latent_mixture(mixture: dict, n: int, seed: int | list[int]) -> np.ndarray:
    """``n`` draws from a mixture of :func:`fit_latent_mixture`, in random order.

    The components' counts come from systematic sampling (see the module's
    docstring): ``floor`` or ``ceil`` of ``n * weight`` each, and each draw
    still follows the mixture. Deterministic for a given ``seed`` (an int or a
    list of ints, as :func:`numpy.random.default_rng` takes).
    """
    rng = np.random.default_rng(seed)
    weights = mixture["weights"] / mixture["weights"].sum()
    points = (rng.random() + np.arange(n)) / n  # evenly spaced, random offset
    chosen = np.searchsorted(np.cumsum(weights), points, side="right")
    counts = np.bincount(np.minimum(chosen, len(weights) - 1), minlength=len(weights))
    parts = [
        rng.multivariate_normal(mean, cov, size=count, method="cholesky")
        if count
        else np.empty((0, len(mean)))
        for mean, cov, count in zip(mixture["means"], mixture["covariances"], counts)
    ]
    return rng.permutation(np.concatenate(parts))


def is_latent_mixture(value: object, n_components: int | None = None) -> bool:
    """Whether ``value`` is a mixture as :func:`fit_latent_mixture` returns it.

    Checks the keys, float arrays of consistent shapes (``n_components``
    columns when given), finite values, weights that sum to 1 and symmetric
    positive definite covariances: what a file must hold before it is used.
    """
    if not isinstance(value, dict) or sorted(value) != sorted(_KEYS):
        return False
    weights, means, covs = (value[key] for key in _KEYS)
    if not all(
        isinstance(a, np.ndarray) and a.dtype.kind == "f"
        for a in (weights, means, covs)
    ):
        return False
    if weights.ndim != 1 or means.ndim != 2 or covs.ndim != 3:
        return False
    m, k = means.shape
    if m < 1 or weights.shape != (m,) or covs.shape != (m, k, k):
        return False
    if n_components is not None and k != n_components:
        return False
    if not all(np.isfinite(a).all() for a in (weights, means, covs)):
        return False
    if (weights < 0).any() or abs(weights.sum() - 1) > 1e-6:
        return False
    if not np.allclose(covs, covs.transpose(0, 2, 1)):
        return False
    try:
        np.linalg.cholesky(covs)
    except np.linalg.LinAlgError:
        return False
    return True
