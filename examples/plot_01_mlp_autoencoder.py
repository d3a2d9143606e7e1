"""
==============================================
An MLP autoencoder beside PCA on the digits
==============================================

:class:`~skae.AutoencoderTransformer` compresses each 64-pixel digit to 16
numbers with a fully connected encoder (64-256-16) and decodes them back.
Here it is compared with :class:`~sklearn.decomposition.PCA` keeping as many
components: the non-linear map reconstructs the test digits better.
"""

# %%
# Load the digits as rows in [0, 1]
# ---------------------------------
# :func:`skae.datasets.load_dataset` returns scikit-learn's digits scaled to
# [0, 1] with their image shape, ``(1, 8, 8)``. ``binarize=True`` thresholds
# them at 0.5, the classic setting for a binary cross-entropy loss.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X_train, X_test, y_train, y_test = train_test_split(
    digits.data, digits.target, random_state=0
)

# %%
# Fit the autoencoder and PCA
# ---------------------------
ae = AutoencoderTransformer(
    n_components=16, loss="bce", max_iter=40, random_state=0
).fit(X_train)
pca = PCA(n_components=16, random_state=0).fit(X_train)

X_ae = ae.inverse_transform(ae.transform(X_test))
X_pca = pca.inverse_transform(pca.transform(X_test))
print(f"test MSE, autoencoder: {np.mean((X_ae - X_test) ** 2):.4f}")
print(f"test MSE, PCA:         {np.mean((X_pca - X_test) ** 2):.4f}")

# %%
# Reconstructions
# ---------------
# One test image of each digit (top), the autoencoder's reconstruction and
# PCA's. :func:`skae.images.image_grid` lays rows out as a grid of images.
first = [np.flatnonzero(y_test == d)[0] for d in range(10)]
rows = np.concatenate([X_test[first], X_ae[first], np.clip(X_pca[first], 0, 1)])
grid = image_grid(rows, digits.image_shape, nrow=10)

fig, ax = plt.subplots(figsize=(7, 2.4), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_yticks([18, 52, 86], ["test", "autoencoder", "PCA"])
ax.set_xticks([])
ax.set_title("16 components")
plt.show()
