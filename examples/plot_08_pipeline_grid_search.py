"""
==============================================
A Pipeline with a grid search
==============================================

An autoencoder is an ordinary scikit-learn step. Here a
:class:`~sklearn.model_selection.GridSearchCV` picks the code width of an
:class:`~skae.AutoencoderTransformer` that feeds a logistic regression, and
compares it with the same Pipeline built on
:class:`~sklearn.decomposition.PCA`.
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

pipe = Pipeline(
    [
        ("scale", MinMaxScaler()),
        ("reduce", AutoencoderTransformer(max_iter=20, random_state=0)),
        ("classify", LogisticRegression(max_iter=2000)),
    ]
)

# %%
# Search the code width, and PCA for comparison
# ---------------------------------------------
# ``reduce`` is searched over two estimators and three widths; parameters are
# addressed as ``step__parameter``, as for any scikit-learn step.
widths = [2, 4, 8]
search = GridSearchCV(
    pipe,
    [
        {
            "reduce": [AutoencoderTransformer(max_iter=20, random_state=0)],
            "reduce__n_components": widths,
        },
        {"reduce": [PCA(random_state=0)], "reduce__n_components": widths},
    ],
    cv=2,
).fit(X_train, y_train)

results = pd.DataFrame(search.cv_results_)
results["model"] = results["param_reduce"].map(lambda est: type(est).__name__)
table = results.pivot(
    index="param_reduce__n_components", columns="model", values="mean_test_score"
)
print(table.round(3))
print(
    "best:",
    search.best_params_["reduce"],
    f"test accuracy {search.score(X_test, y_test):.3f}",
)

# %%
# Accuracy against code width
# ---------------------------
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
for model in table.columns:
    ax.plot(widths, table[model], marker="o", label=model)
ax.set_xscale("log", base=2)
ax.set_xticks(widths, [str(w) for w in widths])
ax.set_xlabel("n_components")
ax.set_ylabel("cross-validated accuracy")
ax.legend()
plt.show()
