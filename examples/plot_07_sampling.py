"""
==============================================
Sampling new digits
==============================================

Every skae estimator has ``sample(n_samples, random_state)``: it draws latent
codes from a density over the code space and decodes them. A VAE is trained so
that its standard normal prior is that density; a plain autoencoder's codes
follow no prescribed density, so skae fits one to its training codes. The same
seed gives the same samples.
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

models = {
    "AutoencoderTransformer": AutoencoderTransformer(
        n_components=8, loss="bce", max_iter=40, random_state=0
    ),
    "VAE": VAE(n_components=8, loss="bce", max_iter=40, random_state=0),
}
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for ax, (name, model) in zip(axes, models.items()):
    samples = model.fit(digits.data).sample(60, random_state=0)
    assert np.array_equal(samples, model.sample(60, random_state=0))
    grid = image_grid(samples, digits.image_shape, nrow=10)
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{name}.sample(60)")
plt.show()

# %%
# The decoder outputs probabilities (``loss="bce"``); thresholding them at 0.5
# gives binary digits like the training data.
