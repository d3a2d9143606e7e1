"""scikit-learn's own API compliance suite, run over the estimators and the detector."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import (
    VAE,
    AutoencoderTransformer,
    BetaVAE,
    ConditionalVAE,
    DenoisingAutoencoder,
)
from skae.outliers import AutoencoderOutlierDetector

# Short trainings: these checks test the API, not the quality of the fit.
FAST = {"max_iter": 5, "random_state": 0, "device": "cpu"}
ESTIMATORS = [
    AutoencoderTransformer(**FAST),
    DenoisingAutoencoder(**FAST),
    VAE(**FAST),
    BetaVAE(**FAST),
    ConditionalVAE(**FAST),
    # An outlier detector: checked like IsolationForest, with no expected failure.
    AutoencoderOutlierDetector(
        AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0
    ),
]


def expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
