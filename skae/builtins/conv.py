"""The built-in ``"conv"`` architecture: convolutions over images given as rows.

Rows of ``C * H * W`` values are reshaped to ``(C, H, W)`` images. Each encoder
stage is a stride-2 convolution that halves height and width; a linear layer
maps the last feature map to the code. The decoder mirrors it with transposed
convolutions whose output padding restores the exact input size, odd sizes
included.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from torch import nn

from ..hookspecs import Architecture, hookimpl
from .mlp import activation_layer, check_layer_sizes, check_weight_count


def image_shape(n_features: int, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """The ``(channels, height, width)`` of rows of ``n_features`` values.

    Without ``input_shape``, square single-channel images are assumed (64
    features give ``(1, 8, 8)``, 784 give ``(1, 28, 28)``).
    """
    if input_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"X has {n_features} features, which is not a square image. Pass "
                "encoder_params={'input_shape': (channels, height, width)} "
                "to the estimator."
            )
        return (1, side, side)
    if (
        not isinstance(input_shape, Sequence)
        or len(input_shape) != 3
        or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in input_shape
        )
    ):
        raise ValueError(
            "encoder_params['input_shape'] must be (channels, height, width), "
            f"three positive ints; got {input_shape!r}."
        )
    if math.prod(input_shape) != n_features:
        raise ValueError(
            f"encoder_params['input_shape']={tuple(input_shape)!r} describes "
            f"{math.prod(input_shape)} values per row, but X has {n_features} "
            "features. Give the (channels, height, width) of your images."
        )
    return tuple(int(s) for s in input_shape)


def _halved(size: int) -> int:
    # Output size of Conv2d(kernel_size=3, stride=2, padding=1).
    return (size - 1) // 2 + 1


def build_conv(
    n_features: int,
    n_encoder_outputs: int,
    n_components: int,
    *,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] = (16, 32),
    activation: str = "relu",
) -> tuple[nn.Module, nn.Module]:
    """Stride-2 3x3 convolutions, then a linear layer to the code; decoder mirrored.

    Parameters
    ----------
    n_features, n_encoder_outputs, n_components : int
        See :class:`skae.Architecture`.
    input_shape : tuple of int, optional
        ``(channels, height, width)`` of one image; by default a square
        single-channel image.
    channels : sequence of int, default=(16, 32)
        Output channels of each convolution; each halves height and width.
    activation : str, default="relu"
        As for the ``"mlp"`` architecture.
    """
    c, h, w = image_shape(n_features, input_shape)
    widths = check_layer_sizes(channels, "channels", "(16, 32)", allow_empty=False)
    activation_layer(activation)
    sizes = [(h, w)]
    for _ in widths:
        sizes.append((_halved(sizes[-1][0]), _halved(sizes[-1][1])))
    flat = widths[-1] * sizes[-1][0] * sizes[-1][1]
    # The convolutions' weights; the decoder mirrors them (biases aside).
    kernels = sum(a * b * 9 + b for a, b in zip((c, *widths[:-1]), widths))
    check_weight_count(
        2 * kernels + (n_encoder_outputs + n_components + 1) * flat + n_encoder_outputs,
        "conv",
        f"encoder_params['channels']={channels!r}, {c}x{h}x{w} images and "
        f"n_components={n_components}",
        "Use fewer encoder_params['channels'] (or fewer n_components).",
    )

    encoder: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
    for c_in, c_out in zip((c, *widths[:-1]), widths):
        encoder += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
        encoder += [activation_layer(activation)]
    encoder += [nn.Flatten(), nn.Linear(flat, n_encoder_outputs)]

    decoder: list[nn.Module] = [
        nn.Linear(n_components, flat),
        activation_layer(activation),
        nn.Unflatten(1, (widths[-1], *sizes[-1])),
    ]
    outs = (*reversed(widths[:-1]), c)
    for i, (c_in, c_out) in enumerate(zip(reversed(widths), outs)):
        (h_in, w_in), (h_out, w_out) = sizes[-1 - i], sizes[-2 - i]
        padding = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
        if i:
            decoder.append(activation_layer(activation))
        decoder.append(
            nn.ConvTranspose2d(
                c_in, c_out, 3, stride=2, padding=1, output_padding=padding
            )
        )
    decoder.append(nn.Flatten())
    return nn.Sequential(*encoder), nn.Sequential(*decoder)


@hookimpl
def register_architectures() -> list[Architecture]:
    return [
        Architecture(
            "conv",
            build_conv,
            "Convolutional encoder for images as rows (input_shape, channels).",
        )
    ]
