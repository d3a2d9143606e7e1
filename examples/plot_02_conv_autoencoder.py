"""
==============================================
A convolutional autoencoder and its filters
==============================================

``encoder="conv"`` swaps the fully connected layers for convolutions that see
the rows as images. Two stride-2 convolutions (16 and 32 channels) halve the
8x8 digits twice before a linear layer makes the code; the decoder mirrors
them. The first layer's 3x3 kernels are small edge and blob detectors.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.datasets import load_dataset
from skae.images import first_layer_filters, image_grid

torch.set_num_threads(1)
digits = load_dataset("digits", binarize=True)
X_train, X_test = train_test_split(digits.data, random_state=0)

conv = AutoencoderTransformer(
    n_components=16,
    encoder="conv",
    encoder_params={"input_shape": digits.image_shape, "channels": (16, 32)},
    loss="bce",
    max_iter=50,
    random_state=0,
).fit(X_train)
X_rec = conv.inverse_transform(conv.transform(X_test))
print(f"test MSE: {np.mean((X_rec - X_test) ** 2):.4f}")

# %%
# Reconstructions
# ---------------
grid = image_grid(np.concatenate([X_test[:10], X_rec[:10]]), digits.image_shape)
fig, ax = plt.subplots(figsize=(7, 1.8), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_axis_off()
ax.set_title("test digits (top) and their reconstructions")
plt.show()

# %%
# The first layer's kernels
# -------------------------
# :func:`skae.images.first_layer_filters` reads the first ``nn.Conv2d`` of the
# encoder; ``normalize=True`` stretches each kernel to its own range.
filters = first_layer_filters(conv, digits.image_shape)
print("kernels:", filters.shape)
grid = image_grid(
    filters.reshape(len(filters), -1),
    filters.shape[1:],
    nrow=8,
    normalize=True,
    scale=8,
)
fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_axis_off()
ax.set_title("16 first-layer 3x3 kernels")
plt.show()
