"""scikit-learn's own API compliance suite, run over all four estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

# Short trainings: these checks test the API, not the quality of the fit.
FAST = {"max_iter": 5, "random_state": 0, "device": "cpu"}
ESTIMATORS = [
    AutoencoderTransformer(**FAST),
    DenoisingAutoencoder(**FAST),
    VAE(**FAST),
    BetaVAE(**FAST),
]


def expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
