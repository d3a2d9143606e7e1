"""
==============================================
Removing noise with a denoising autoencoder
==============================================

A :class:`~skae.DenoisingAutoencoder` sees each training batch corrupted anew
and learns to reconstruct the clean digits. Afterwards, encoding and decoding a
noisy digit removes most of the noise. Here the noise is Gaussian with a
standard deviation of 0.4, on pixels in [0, 1].
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skae import DenoisingAutoencoder
from skae.datasets import load_dataset
from skae.images import add_noise, image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X_train, X_test = train_test_split(digits.data, random_state=0)

dae = DenoisingAutoencoder(
    n_components=16,
    noise="gaussian",
    noise_level=0.4,
    loss="bce",
    max_iter=40,
    random_state=0,
).fit(X_train)

# %%
# Clean, noisy and denoised
# -------------------------
# :func:`skae.images.add_noise` corrupts rows with the estimator's own noise
# scheme and level, from a seed.
X_noisy = np.clip(add_noise(dae, X_test, random_state=0), 0, 1)
X_denoised = dae.inverse_transform(dae.transform(X_noisy))
print(f"MSE to the clean digits, noisy:    {np.mean((X_noisy - X_test) ** 2):.4f}")
print(f"MSE to the clean digits, denoised: {np.mean((X_denoised - X_test) ** 2):.4f}")

grid = image_grid(
    np.concatenate([X_test[:10], X_noisy[:10], X_denoised[:10]]), digits.image_shape
)
fig, ax = plt.subplots(figsize=(7, 2.4), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_yticks([18, 52, 86], ["clean", "noisy", "denoised"])
ax.set_xticks([])
plt.show()
