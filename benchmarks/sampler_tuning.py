"""The measurements behind the sampler choices in docs/generative.md, on digits.

    nice -n 10 .venv/bin/python benchmarks/sampler_tuning.py components
    nice -n 10 .venv/bin/python benchmarks/sampler_tuning.py all   # ~1 minute
    nice -n 10 .venv/bin/python benchmarks/sampler_tuning.py all --quick  # smoke

Each subcommand prints one Markdown table, on one thread, on the split of
benchmarks/generative.py (digits, 75/25 stratified, ``random_state=0``), as
generative_tuning.py does for the likelihoods and training:

- ``components``: the held-out log-likelihood (nats per code) of a
  GaussianMixture on the codes of the default k=8 AutoencoderTransformer and
  VAE (posterior means) of the digits' training rows, against its number of
  components: a 70/30 split of the codes; and which size BIC and AIC pick when
  fitted on all codes.
- ``systematic``: the Fréchet distance (a LogisticRegression's logits, as in
  ``generative.py --only samples``) of 1,000 draws from the same fitted
  mixture with multinomial counts (``GaussianMixture.sample``) or systematic
  counts, over seeds 0-9: the 20-component mixture on the default k=8 AE's
  codes, decoded, and GaussianMixture(10) on pixels.
- ``means``: the default k=8 VAE's decoder means (``sample(noise=False)``'s
  kind of sample) from mixtures of 10, 20 and 40 components on its posterior
  means, systematic draws, seeds 0-4: Fréchet distance, and the trace of the
  covariance of the classifier's logits beside that of the held-out digits.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # generative*.py

import generative_tuning as tuning
from generative import digits, table
from generative_tuning import MINUS, epochs
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split

from skae import VAE, AutoencoderTransformer
from skae._samplers import sample_latent_mixture
from skae.metrics import frechet_distance


@functools.cache
def default_models():
    """The default k=8 AE and VAE on the digits' training rows (not dequantised)."""
    X_train, X_test, y_train, y_test = digits(dequantise=False)
    models = {
        "AutoencoderTransformer": AutoencoderTransformer(
            8, max_iter=epochs(200), random_state=0
        ).fit(X_train),
        "VAE (posterior means)": VAE(8, max_iter=epochs(200), random_state=0).fit(
            X_train
        ),
    }
    return models, (X_train, X_test, y_train, y_test)


def fit_quietly(mixture: GaussianMixture, X) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, on few codes in --quick
        return mixture.fit(X)


def components() -> str:
    models, (X_train, *_) = default_models()
    sizes = (5, 10, 20, 30, 40, 60, 100)
    rows, picks = [], []
    for name, model in models.items():
        codes = model.transform(X_train).astype(np.float64)
        fit_part, held_out = train_test_split(codes, test_size=0.3, random_state=0)
        reg = 1e-6 * codes.var(axis=0).mean()
        for cov in ("full", "diag"):
            scores, bic, aic = [], {}, {}
            for m in sizes:
                mixture = functools.partial(
                    GaussianMixture,
                    m,
                    covariance_type=cov,
                    reg_covar=reg,
                    random_state=0,
                )
                whole = fit_quietly(mixture(), codes)
                bic[m], aic[m] = whole.bic(codes), whole.aic(codes)
                scores.append(fit_quietly(mixture(), fit_part).score(held_out))
            best = int(np.argmax(scores))
            cells = [f"{s:.2f}".replace("-", MINUS) for s in scores]
            cells[best] = f"**{cells[best]}**"
            rows.append([f"{name}, {cov}", *cells])
            picks.append(
                f"{name}, {cov}: BIC picks {min(bic, key=bic.get)}, "
                f"AIC picks {min(aic, key=aic.get)}"
            )
    header = ["components", *map(str, sizes)]
    return table(header, rows) + "\n\n" + ".\n".join(picks) + "."


def systematic_draws(mixture: GaussianMixture, n: int, seed: int) -> np.ndarray:
    """n draws of a fitted GaussianMixture the way skae's ``sample`` draws."""
    fitted = {
        "weights": mixture.weights_,
        "means": mixture.means_,
        "covariances": mixture.covariances_,
    }
    return sample_latent_mixture(fitted, n, seed)


def judged_codes(name: str):
    """The judge, a default model, its training codes, the training and test rows."""
    models, (X_train, X_test, y_train, _) = default_models()
    judge = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    model = models[name]
    codes = model.transform(X_train).astype(np.float64)
    return judge, model, codes, X_train, X_test


def systematic() -> str:
    clf, ae, codes, X_train, X_test = judged_codes("AutoencoderTransformer")
    n, seeds = 1000, range(2 if tuning.QUICK else 10)
    results = {}
    for seed in seeds:
        fitted = {
            "AutoencoderTransformer, 20 components on its codes": (
                GaussianMixture(
                    20,
                    covariance_type="full",
                    reg_covar=1e-6 * codes.var(axis=0).mean() + 1e-9,
                    random_state=seed,
                ),
                codes,
                ae.inverse_transform,
            ),
            "GaussianMixture(10) on pixels": (
                GaussianMixture(10, covariance_type="full", random_state=seed),
                X_train,
                lambda S: S,
            ),
        }
        for name, (mixture, data, decode) in fitted.items():
            fit_quietly(mixture, data)
            draws = {
                "multinomial": mixture.sample(n)[0],  # seeded by its random_state
                "systematic": systematic_draws(mixture, n, seed),
            }
            for how, z in draws.items():
                distance = frechet_distance(X_test, decode(z), clf)
                results.setdefault(name, {}).setdefault(how, []).append(distance)
    rows = [
        [
            name,
            *(
                f"{np.mean(by[how]):.2f} ± {np.std(by[how]):.2f}"
                for how in ("multinomial", "systematic")
            ),
        ]
        for name, by in results.items()
    ]
    header = [
        f"Fréchet distance, seeds {seeds[0]}-{seeds[-1]}",
        "multinomial counts",
        "systematic counts",
    ]
    return table(header, rows)


def means() -> str:
    clf, vae, codes, _, X_test = judged_codes("VAE (posterior means)")
    n, seeds = 1000, range(2 if tuning.QUICK else 5)
    trace_real = np.trace(np.cov(clf.decision_function(X_test).T))
    rows = []
    for m in (10, 20, 40):
        distances, traces = [], []
        for seed in seeds:
            mixture = GaussianMixture(
                m,
                covariance_type="full",
                reg_covar=1e-6 * codes.var(axis=0).mean() + 1e-9,
                random_state=seed,
            )
            S = vae.inverse_transform(
                systematic_draws(fit_quietly(mixture, codes), n, seed)
            )
            distances.append(frechet_distance(X_test, S, clf))
            traces.append(np.trace(np.cov(clf.decision_function(S).T)))
        rows.append(
            [
                str(m),
                f"{np.mean(distances):.2f} ± {np.std(distances):.2f}",
                f"{np.mean(traces):.0f}",
            ]
        )
    header = [
        f"components (seeds {seeds[0]}-{seeds[-1]})",
        "Fréchet distance of the decoder means",
        "trace of their logits' covariance",
    ]
    return table(header, rows) + f"\n\nHeld-out digits: trace {trace_real:.0f}."


SECTIONS = {"components": components, "systematic": systematic, "means": means}


if __name__ == "__main__":
    tuning.main(SECTIONS, __doc__)
