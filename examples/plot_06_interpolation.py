"""
==============================================
Interpolating between digits
==============================================

``interpolate(x_start, x_end, n_steps)`` encodes two rows, walks the straight
line between their codes and decodes each point. A VAE's latent space is
regular enough that the points in between look like digits too; a plain
autoencoder's often does not.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skae import VAE, AutoencoderTransformer
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X, y = digits.data, digits.target
pairs = [(0, 6), (1, 7), (3, 8), (4, 9)]
starts = [X[np.flatnonzero(y == a)[0]] for a, _ in pairs]
ends = [X[np.flatnonzero(y == b)[0]] for _, b in pairs]

models = {
    "AutoencoderTransformer": AutoencoderTransformer(
        n_components=8, loss="bce", max_iter=40, random_state=0
    ),
    "VAE": VAE(n_components=8, loss="bce", max_iter=40, random_state=0),
}

# %%
# One line per pair of digits, ten steps each
# -------------------------------------------
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), layout="constrained")
for ax, (name, model) in zip(axes, models.items()):
    model.fit(X)
    paths = [model.interpolate(a, b, n_steps=10) for a, b in zip(starts, ends)]
    grid = image_grid(np.concatenate(paths), digits.image_shape, nrow=10)
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(name)
plt.show()
