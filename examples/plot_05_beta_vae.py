"""
==============================================
beta-VAE: how beta switches latent units off
==============================================

:class:`~skae.BetaVAE` multiplies the VAE's Kullback-Leibler term by ``beta``.
The larger ``beta``, the harder each latent unit is pulled to the prior, and
units that do not pay for themselves in reconstruction switch off: their
posterior means no longer vary with the input. Few, independent active units
are what *disentanglement* asks for; too large a ``beta`` leaves none.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skae import BetaVAE
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X_train, X_test = train_test_split(digits.data, random_state=0)

# %%
# One model per beta
# ------------------
# A unit counts as active when its posterior mean varies across the test
# digits by more than 0.01 (the variance of the means; Burda et al., 2016).
betas = [1.0, 2.0, 4.0]
models, activity = {}, {}
for beta in betas:
    model = BetaVAE(
        n_components=8, beta=beta, loss="bce", max_iter=40, random_state=0
    ).fit(X_train)
    models[beta] = model
    activity[beta] = model.transform(X_test).var(axis=0)
    mse = np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)
    print(
        f"beta={beta}: {np.sum(activity[beta] > 0.01)} active units, test MSE {mse:.4f}"
    )

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
width = 0.25
for i, beta in enumerate(betas):
    ax.bar(np.arange(8) + (i - 1) * width, activity[beta], width, label=f"beta={beta}")
ax.axhline(0.01, color="grey", linestyle=":")
ax.set_xlabel("latent unit")
ax.set_ylabel("variance of the posterior mean")
ax.set_yscale("symlog", linthresh=0.01)
fig.legend(loc="outside upper center", ncols=len(betas))
plt.show()

# %%
# Reconstructions
# ---------------
# Test digits (top) and their reconstructions, one line per beta: they blur as
# beta grows.
rows = [X_test[:10]] + [
    models[b].inverse_transform(models[b].transform(X_test[:10])) for b in betas
]
grid = image_grid(np.concatenate(rows), digits.image_shape, nrow=10)
fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_yticks(
    [18 + 34 * i for i in range(len(betas) + 1)],
    ["test"] + [f"beta={b}" for b in betas],
)
ax.set_xticks([])
plt.show()
