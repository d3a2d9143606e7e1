"""
==============================================
Finding odd digits with an outlier detector
==============================================

:class:`~skae.outliers.AutoencoderOutlierDetector` fits an autoencoder to the
training rows and scores each row by how well the model explains it: rows it
explains badly are outliers. Here the detector learns the digits and is shown
test digits mixed with digits flipped upside down and with random noise.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.datasets import load_dataset
from skae.images import image_grid
from skae.outliers import AutoencoderOutlierDetector

torch.set_num_threads(1)
digits = load_dataset("digits")
X_train, X_test = train_test_split(digits.data, random_state=0)
rng = np.random.default_rng(0)
flipped = X_test[:40].reshape(-1, 8, 8)[:, ::-1, :].reshape(-1, 64)
noise = rng.uniform(0, 1, size=(40, 64)) * (rng.uniform(size=(40, 64)) < 0.3)

detector = AutoencoderOutlierDetector(
    AutoencoderTransformer(n_components=8, max_iter=40), random_state=0
).fit(X_train)

# %%
# Scores
# ------
# ``score_samples`` is higher for more normal rows; ``predict`` flags rows
# below ``offset_`` with -1.
groups = {"test digits": X_test, "upside down": flipped, "noise": noise}
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for name, rows in groups.items():
    scores = detector.score_samples(rows)
    flagged = np.mean(detector.predict(rows) == -1)
    print(f"{name:12s}: {flagged:.0%} flagged")
    ax.hist(scores, bins=30, alpha=0.6, label=name)
ax.axvline(detector.offset_, color="k", linestyle=":", label="offset_")
ax.set_xlabel("score_samples")
ax.legend()
plt.show()

odd = np.concatenate([flipped, noise])
labels = np.r_[np.zeros(len(X_test)), np.ones(len(odd))]
scores = detector.score_samples(np.concatenate([X_test, odd]))
print(f"ROC AUC, odd rows against test digits: {roc_auc_score(labels, -scores):.3f}")

# %%
# The least normal test digits
# ----------------------------
worst = np.argsort(detector.score_samples(X_test))[:10]
grid = image_grid(X_test[worst], digits.image_shape)
fig, ax = plt.subplots(figsize=(7, 1.2), layout="constrained")
ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
ax.set_axis_off()
ax.set_title("the ten test digits with the lowest scores")
plt.show()
