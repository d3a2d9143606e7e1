"""
==============================================
A variational autoencoder: codes and samples
==============================================

:class:`~skae.VAE` encodes each digit as a Gaussian over 8 latent dimensions
and is trained so that draws from a standard normal decode to plausible digits.
Its codes (the posterior means, from ``transform``) still separate the classes,
and ``sample`` generates new digits.
"""

# %%
import matplotlib.pyplot as plt
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import VAE
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X_train, X_test, y_train, y_test = train_test_split(
    digits.data, digits.target, random_state=0
)
vae = VAE(n_components=8, loss="bce", max_iter=50, random_state=0).fit(X_train)
print(f"log-likelihood of the test digits: {vae.score(X_test):.1f} nats per digit")

# %%
# The codes
# ---------
# The 8-dimensional posterior means of the test digits, projected on their
# first two principal components and coloured by digit.
codes = PCA(n_components=2).fit_transform(vae.transform(X_test))
fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
points = ax.scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=8)
fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
ax.set_title("VAE codes of the test digits (first two PCs)")
plt.show()

# %%
# Samples
# -------
# Fifty digits decoded from draws of the latent density.
samples = vae.sample(50, random_state=0)
grid = image_grid(samples, digits.image_shape, nrow=10)
fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_axis_off()
ax.set_title("VAE samples")
plt.show()
