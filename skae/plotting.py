"""Loss curves and latent scatter plots with matplotlib (the optional ``plot`` extra).

Figures are drawn with matplotlib's object-oriented API on the Agg canvas and
written straight to PNG: no window opens, and the pyplot backend you chose
elsewhere is left alone. Install matplotlib with ``pip install "skae[plot]"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _figure(n_panels: int, width: float = 3.6, height: float = 3.2):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            'skae.plotting needs matplotlib. Install it with: pip install "skae[plot]"'
        ) from exc
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    figure = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return figure, axes[:n_panels]


def plot_loss_curves(curves: Mapping[str, object], path) -> Path:
    """One panel per model with its training (and validation) loss per epoch.

    Parameters
    ----------
    curves : mapping of str to fitted estimator or sequence of float
        Panel title to a fitted skae estimator (its ``loss_curve_`` and
        ``validation_loss_curve_`` are drawn) or to a plain list of losses.
    path : str or os.PathLike
        The PNG file to write.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> from tempfile import TemporaryDirectory
    >>> from skae.plotting import plot_loss_curves
    >>> curves = {"model": [0.9, 0.5, 0.4]}  # or {"model": fitted_estimator}
    >>> with TemporaryDirectory() as tmp:
    ...     plot_loss_curves(curves, f"{tmp}/curves.png").name
    'curves.png'
    """
    figure, axes = _figure(len(curves))
    for ax, (title, curve) in zip(axes, curves.items()):
        train = getattr(curve, "loss_curve_", curve)
        validation = getattr(curve, "validation_loss_curve_", None)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, label="training")
        if validation:
            # The validation curve covers the last fit: the last epochs.
            ax.plot(
                epochs[len(train) - len(validation) :], validation, label="validation"
            )
            ax.legend()
        ax.set(title=title, xlabel="epoch", ylabel="loss")
        ax.grid(alpha=0.3)
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


def plot_latent(codes: Mapping[str, np.ndarray], labels: Sequence, path) -> Path:
    """One panel per model: its codes in two dimensions, coloured by label.

    Codes with more than two columns are projected on their first two
    principal components (the axis labels say so).

    Parameters
    ----------
    codes : mapping of str to ndarray of shape (n_samples, n_components)
        Panel title to latent codes, for example ``est.transform(X_test)``.
    labels : array-like of shape (n_samples,)
        Class of each sample, for the colours.
    path : str or os.PathLike
        The PNG file to write.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> from tempfile import TemporaryDirectory
    >>> import numpy as np
    >>> from skae.plotting import plot_latent
    >>> codes = np.random.default_rng(0).normal(size=(30, 4))  # or est.transform(X)
    >>> labels = np.arange(30) % 3
    >>> with TemporaryDirectory() as tmp:
    ...     plot_latent({"model": codes}, labels, f"{tmp}/latent.png").name
    'latent.png'
    """
    from sklearn.decomposition import PCA

    labels = np.asarray(labels)
    figure, axes = _figure(len(codes))
    classes = np.unique(labels)
    colours = {c: f"C{i % 10}" for i, c in enumerate(classes)}
    for ax, (title, Z) in zip(axes, codes.items()):
        Z = np.asarray(Z)
        if len(Z) != len(labels):
            raise ValueError(
                f"{title!r} has {len(Z)} codes but there are {len(labels)} labels."
            )
        axis = ("z0", "z1")
        if Z.shape[1] > 2:
            Z = PCA(n_components=2).fit_transform(Z)
            axis = ("PC 1 of the codes", "PC 2 of the codes")
        elif Z.shape[1] == 1:
            Z = np.column_stack([Z[:, 0], np.zeros(len(Z))])
            axis = ("z0", "")
        for c in classes:
            mask = labels == c
            ax.scatter(
                Z[mask, 0], Z[mask, 1], s=6, alpha=0.7, color=colours[c], label=str(c)
            )
        ax.set(title=title, xlabel=axis[0], ylabel=axis[1])
    axes[-1].legend(
        markerscale=2, fontsize="small", loc="center left", bbox_to_anchor=(1, 0.5)
    )
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path
