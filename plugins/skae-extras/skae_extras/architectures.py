"""The ``"resmlp"`` and ``"conv1d"`` architectures.

Both follow skae's contract (see :class:`skae.Architecture`): ``build``
receives ``n_features``, ``n_encoder_outputs`` (``n_components`` for the plain
autoencoders, ``2 * n_components`` for the VAEs) and ``n_components`` as
keyword arguments plus the estimator's ``encoder_params``, and returns an
encoder ``(batch, n_features) -> (batch, n_encoder_outputs)`` and a decoder
``(batch, n_components) -> (batch, n_features)`` without output activation.

>>> encoder, decoder = build_resmlp(n_features=64, n_encoder_outputs=8, n_components=4)
>>> import torch
>>> tuple(encoder(torch.zeros(3, 64)).shape), tuple(decoder(torch.zeros(3, 4)).shape)
((3, 8), (3, 64))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn

from skae import InvalidParameterError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise InvalidParameterError(
            f"Unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(
            f"encoder_params[{name!r}] must be a positive int; got {value!r}."
        )
    return int(value)


class ResidualBlock(nn.Module):
    """``x + W2 act(W1 LayerNorm(x))``: a pre-norm residual block of constant width.

    Parameters
    ----------
    width : int
        Width of the input and output.
    activation : str
        A key of :data:`ACTIVATIONS`.
    """

    def __init__(self, width: int, activation: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.body = nn.Sequential(
            nn.Linear(width, width), _activation(activation), nn.Linear(width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(self.norm(x))


def _residual_stack(
    n_in: int, n_out: int, width: int, n_blocks: int, activation: str
) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, width),
        *(ResidualBlock(width, activation) for _ in range(n_blocks)),
        nn.LayerNorm(width),
        _activation(activation),
        nn.Linear(width, n_out),
    )


def build_resmlp(
    n_features: int,
    n_encoder_outputs: int,
    n_components: int,
    *,
    width: int = 128,
    n_blocks: int = 2,
    activation: str = "relu",
) -> tuple[nn.Module, nn.Module]:
    """An MLP of residual blocks for the encoder, and another for the decoder.

    Parameters
    ----------
    n_features, n_encoder_outputs, n_components : int
        See :class:`skae.Architecture`.
    width : int, default=128
        Width of every residual block.
    n_blocks : int, default=2
        Number of residual blocks in the encoder and in the decoder.
    activation : {"relu", "gelu", "silu", "tanh"}, default="relu"
        Activation inside the blocks.

    Returns
    -------
    encoder, decoder : torch.nn.Module
    """
    width = _positive_int("width", width)
    n_blocks = _positive_int("n_blocks", n_blocks)
    _activation(activation)  # fail on a bad name before building anything
    encoder = _residual_stack(
        n_features, n_encoder_outputs, width, n_blocks, activation
    )
    decoder = _residual_stack(n_components, n_features, width, n_blocks, activation)
    return encoder, decoder


def build_conv1d(
    n_features: int,
    n_encoder_outputs: int,
    n_components: int,
    *,
    channels: Sequence[int] = (8, 16),
    kernel_size: int = 5,
    activation: str = "relu",
) -> tuple[nn.Module, nn.Module]:
    """1-D convolutions along the feature axis, then a linear layer to the code.

    Each row is read as a one-channel signal of length ``n_features`` (a
    spectrum, a time series). Convolutions keep the length ("same" padding);
    the decoder mirrors the encoder back to one channel.

    Parameters
    ----------
    n_features, n_encoder_outputs, n_components : int
        See :class:`skae.Architecture`.
    channels : sequence of int, default=(8, 16)
        Output channels of each convolution of the encoder.
    kernel_size : int, default=5
        Odd width of every convolution kernel.
    activation : {"relu", "gelu", "silu", "tanh"}, default="relu"
        Activation after each convolution.

    Returns
    -------
    encoder, decoder : torch.nn.Module
    """
    if isinstance(channels, numbers.Integral):
        channels = (channels,)
    if not isinstance(channels, Sequence) or not channels:
        raise InvalidParameterError(
            f"encoder_params['channels'] must be a sequence of positive ints; "
            f"got {channels!r}."
        )
    widths = [_positive_int("channels", c) for c in channels]
    k = _positive_int("kernel_size", kernel_size)
    if k % 2 == 0:
        raise InvalidParameterError(
            f"encoder_params['kernel_size'] must be odd; got {k}."
        )
    _activation(activation)

    def conv(c_in: int, c_out: int) -> nn.Conv1d:
        return nn.Conv1d(c_in, c_out, k, padding=k // 2)

    flat = widths[-1] * n_features
    encoder: list[nn.Module] = [nn.Unflatten(1, (1, n_features))]
    for c_in, c_out in zip([1, *widths[:-1]], widths):
        encoder += [conv(c_in, c_out), _activation(activation)]
    encoder += [nn.Flatten(), nn.Linear(flat, n_encoder_outputs)]

    decoder: list[nn.Module] = [
        nn.Linear(n_components, flat),
        nn.Unflatten(1, (widths[-1], n_features)),
    ]
    backward = widths[::-1]
    for c_in, c_out in zip(backward, [*backward[1:], 1]):
        decoder += [_activation(activation), conv(c_in, c_out)]
    decoder.append(nn.Flatten())
    return nn.Sequential(*encoder), nn.Sequential(*decoder)
