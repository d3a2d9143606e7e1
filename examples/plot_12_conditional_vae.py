"""
==============================================
Drawing digits of a chosen class
==============================================

:class:`~skae.ConditionalVAE` is fitted on rows *and* their labels. One model
then draws new rows for any label: ``sample(n, y=7)`` gives sevens. Here it
draws ten samples of each digit.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skae import ConditionalVAE
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
cvae = ConditionalVAE(n_components=8, loss="bce", max_iter=50, random_state=0).fit(
    digits.data, digits.target
)

# %%
# Ten samples of each digit
# -------------------------
# One line per label; each call draws new latent codes from the prior and
# decodes them with the label.
rows = np.concatenate(
    [cvae.sample(10, y=digit, random_state=digit) for digit in range(10)]
)
grid = image_grid(rows, digits.image_shape, nrow=10)
fig, ax = plt.subplots(figsize=(6, 6), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_yticks([18 + 34 * i for i in range(10)], [f"y={d}" for d in range(10)])
ax.set_xticks([])
plt.show()
