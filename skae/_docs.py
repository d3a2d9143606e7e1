"""Docstring sections shared by the estimators."""

from __future__ import annotations

import inspect

from ._engine.modules import LOSSES

COMMON_PARAMETERS_DOC = """\
    encoder : str or callable, default="mlp"
        A registered architecture name (``"mlp"``, ``"conv"`` or one a plugin
        adds; see ``skae plugins``) or a callable with the signature of
        :attr:`skae.Architecture.build`. Never an ``nn.Module`` instance.
    encoder_params : dict, default=None
        Keyword arguments for the architecture. ``"mlp"`` takes
        ``hidden_layer_sizes`` (default ``(256,)``) and ``activation``
        (default ``"relu"``); the decoder mirrors the encoder, so
        ``{"hidden_layer_sizes": (256,)}`` with 64 components on 784 features
        gives 784-256-64-256-784. ``"conv"`` takes ``input_shape``,
        ``channels`` and ``activation``.
    loss : {loss_choices}, default="{loss_default}"
        The reconstruction likelihood p(x | z). For real-valued data:
        ``"mse"``, squared error (for the VAEs a Gaussian with one variance,
        fitted to the error), or ``"gaussian"``, a Gaussian with one variance
        per feature (the deterministic autoencoders train it as ``"mse"``).
        For data in [0, 1], such as images scaled by ``MinMaxScaler``:
        ``"bce"``, binary cross-entropy (a Bernoulli, not a density of
        continuous values); ``"logit_gaussian"``, a Gaussian with per-feature
        variances on ``logit(x)``, a density on [0, 1] whose reconstructions
        and samples stay in [0, 1]. With these two, values outside [0, 1] by
        float rounding only (within 4.8e-7, four float32 ulps) are clipped, in
        a copy; values farther out raise ``ValueError``. See
        docs/generative.md.
    learning_rate : float, default=3e-3
        Initial step size of the Adam optimizer.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` anneals the step size from ``learning_rate`` towards 0
        over ``max_iter`` epochs (each ``fit`` call, ``warm_start`` included);
        ``"constant"`` keeps it.
    batch_size : int, default=128
        Samples per optimisation step; clipped to the number of samples.
    max_iter : int, default=200
        Maximum number of epochs (passes over the training data). With
        ``lr_schedule="constant"``, reaching it while the loss still improves
        raises a ``ConvergenceWarning``; the cosine schedule ends there by design.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its loss stops
        improving, and keep the weights of the best validation epoch.
    validation_fraction : float, default=0.1
        Share of the data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` (relative) before
        training stops. It watches the validation loss with
        ``early_stopping=True``, else the training loss; with the cosine
        schedule and no early stopping, training always runs ``max_iter``
        epochs, which the schedule needs.
    tol : float, default=1e-4
        Relative improvement of the monitored loss that counts as progress.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split and all
        noise. Fitting never touches numpy's or torch's global random state.
    verbose : int, default=0
        ``1`` shows a progress bar over epochs with the current losses.
    warm_start : bool, default=False
        Continue training the fitted module on the next ``fit`` (with a new
        optimizer). ``encoder``, ``encoder_params``, ``loss`` and
        ``n_components`` must then be as they were fitted.
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        Mixed precision: run forward passes (training and inference) under
        ``torch.autocast`` with this dtype; weights and optimizer state stay
        float32, and ``"float16"`` scales the loss against underflow. Faster
        on GPUs with tensor cores, rarely on CPUs; results change slightly.
    compile : bool, default=False
        Compile the training loss with ``torch.compile``. The first epochs
        pay the compilation (tens of seconds); long GPU trainings gain.
"""

COMMON_ATTRIBUTES_DOC = """\
    module_ : torch.nn.Module
        The trained module (in eval mode, on ``device_``).
    device_ : str
        The device the module lives on.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_loss_curve_ : list of float or None
        Mean validation loss of each epoch of the last ``fit`` when
        ``early_stopping=True``.
    best_validation_loss_ : float or None
        The least of them, whose epoch's weights the module keeps.
    n_iter_ : int
        Number of epochs run, over all ``fit`` calls when ``warm_start=True``.
"""


SAMPLER_DOC = """\
    sampler : {"prior", "mixture"}, default="{sampler_default}"
        What :meth:`sample` draws latent codes from. ``"mixture"``: a
        :class:`~sklearn.mixture.GaussianMixture` (20 components, full
        covariances) fitted after training to the codes of at most 2,048
        training rows (Ghosh et al., 2019), held in ``latent_mixture_``;
        ``partial_fit`` refits it on the codes of each new chunk. ``"prior"``:
        the VAEs' standard normal prior, or for the plain autoencoders one
        Gaussian fitted to the training codes."""

MIXTURE_ATTRIBUTE_DOC = """\
    latent_mixture_ : dict or None
        With ``sampler="mixture"``, the parameters of the Gaussian mixture
        fitted to the training codes: ``weights`` (m,), ``means`` (m, k) and
        ``covariances`` (m, k, k) arrays; None otherwise."""


def _default(cls: type, name: str) -> object:
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    return None if parameter is None else parameter.default


def _filled(text: str, defaults: dict) -> str:
    for key, value in defaults.items():
        text = text.replace("{" + key + "}", str(value))
    return text.strip()


def fill_doc(cls: type) -> type:
    """Fill the shared parameter and attribute sections of a class docstring.

    ``{common_parameters}``, ``{common_attributes}`` and ``{sampler}`` (the
    ``sampler`` parameter and, with it, the ``latent_mixture_`` attribute), with
    the defaults of ``loss`` and ``sampler`` read from ``cls.__init__``.
    """
    defaults = {
        "loss_choices": "{" + ", ".join(f'"{name}"' for name in LOSSES) + "}",
        "loss_default": _default(cls, "loss"),
        "sampler_default": _default(cls, "sampler"),
    }
    attributes = COMMON_ATTRIBUTES_DOC.strip()
    if defaults["sampler_default"] is not None:
        attributes += "\n" + MIXTURE_ATTRIBUTE_DOC.rstrip()
    cls.__doc__ = cls.__doc__.format(
        common_parameters=_filled(COMMON_PARAMETERS_DOC, defaults),
        common_attributes=attributes,
        sampler=_filled(SAMPLER_DOC, defaults),
    )
    return cls
