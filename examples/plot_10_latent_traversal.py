"""
==============================================
A latent traversal
==============================================

To see what one latent unit encodes, start from a digit's code, move that unit
alone from -2.5 to +2.5 posterior standard deviations around its value, and
decode each point with ``inverse_transform``. Units of a
:class:`~skae.BetaVAE` tend to change one feature of the digit at a time
(slant, width, a stroke); units switched off change nothing.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skae import BetaVAE
from skae.datasets import load_dataset
from skae.images import image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
vae = BetaVAE(n_components=6, beta=2.0, loss="bce", max_iter=50, random_state=0).fit(
    digits.data
)

codes = vae.transform(digits.data)
spread = codes.std(axis=0)
order = np.argsort(spread)[::-1]  # the most active units first
print("spread of each unit's code:", np.round(spread, 2))

# %%
# One line per latent unit
# ------------------------
start = codes[np.flatnonzero(digits.target == 3)[0]]
steps = np.linspace(-2.5, 2.5, 9)
lines = []
for unit in order:
    path = np.tile(start, (len(steps), 1))
    path[:, unit] = start[unit] + steps * max(spread[unit], 1e-3)
    lines.append(vae.inverse_transform(path))
grid = image_grid(np.concatenate(lines), digits.image_shape, nrow=len(steps))

fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_yticks([18 + 34 * i for i in range(len(order))], [f"unit {u}" for u in order])
ax.set_xticks([18 + 34 * i for i in range(len(steps))], [f"{s:+.1f}" for s in steps])
ax.set_xlabel("shift, in standard deviations of the unit's codes")
plt.show()
