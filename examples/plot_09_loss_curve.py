"""
==============================================
Reading the loss curve, with early stopping
==============================================

A fitted estimator keeps the mean training loss of each epoch in
``loss_curve_``. With ``early_stopping=True`` it also keeps the loss of a
held-out validation split in ``validation_loss_curve_``, stops when that loss
stops improving, and restores the weights of its best epoch.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer

torch.set_num_threads(1)
X = MinMaxScaler().fit_transform(load_digits().data)

# A wide code and a constant, large step: the model overfits soon.
ae = AutoencoderTransformer(
    n_components=32,
    learning_rate=1e-2,
    lr_schedule="constant",
    max_iter=60,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=5,
    random_state=0,
).fit(X)
best = int(np.argmin(ae.validation_loss_curve_)) + 1
print(
    f"stopped after {ae.n_iter_} epochs; best validation epoch {best}, "
    f"loss {ae.best_validation_loss_:.4f}"
)

# %%
# The two curves
# --------------
epochs = np.arange(1, ae.n_iter_ + 1)
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.plot(epochs, ae.loss_curve_, label="training (loss_curve_)")
ax.plot(epochs, ae.validation_loss_curve_, label="validation (validation_loss_curve_)")
ax.axvline(best, color="grey", linestyle=":", label="weights kept")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.set_yscale("log")
ax.legend()
plt.show()
