"""The built-in ``"mlp"`` architecture: fully connected encoder and mirrored decoder."""

from __future__ import annotations

import itertools
import numbers
import os
from collections.abc import Sequence

from torch import nn

from ..hookspecs import Architecture, hookimpl

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (a key of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def check_layer_sizes(
    sizes: object,
    name: str = "hidden_layer_sizes",
    example: str = "(256,) or (256, 64)",
    allow_empty: bool = True,
) -> tuple[int, ...]:
    """Validate ``encoder_params[name]``: a sequence of positive ints (or one int)."""
    widths = (sizes,) if isinstance(sizes, numbers.Integral) else sizes
    if (
        not isinstance(widths, Sequence)
        or (not widths and not allow_empty)
        or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in widths
        )
    ):
        raise ValueError(
            f"encoder_params[{name!r}] must be a sequence of positive "
            f"ints, such as {example}; got {sizes!r}."
        )
    return tuple(int(s) for s in widths)


def physical_memory() -> int | None:
    """Bytes of physical memory on this machine, or None where that is unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().total)


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def check_weight_count(count: int, architecture: str, sizes: str, advice: str) -> None:
    """Refuse, before allocating anything, weights larger than this machine's memory.

    Without this check torch either fails deep inside its allocator or, where
    the system overcommits memory, gets the process killed while initialising.
    """
    memory = physical_memory()
    needed = 4 * count  # float32
    if needed > (memory or 2**63):
        where = f"this machine's {_bytes(memory)}" if memory else "torch's limit"
        raise MemoryError(
            f"The {architecture!r} architecture with {sizes} has {count:,} weights, "
            f"{_bytes(needed)} as float32: more than {where} of memory. {advice}"
        )


def _linear_weights(widths: Sequence[int]) -> int:
    return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(widths))


def dense_stack(widths: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers through ``widths``, with activations between (not after)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(activation_layer(activation))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def build_mlp(
    n_features: int,
    n_encoder_outputs: int,
    n_components: int,
    *,
    hidden_layer_sizes: Sequence[int] | int = (256,),
    activation: str = "relu",
) -> tuple[nn.Module, nn.Module]:
    """Encoder ``n_features -> *hidden -> n_encoder_outputs``, decoder mirrored.

    Parameters
    ----------
    n_features, n_encoder_outputs, n_components : int
        See :class:`skae.Architecture`.
    hidden_layer_sizes : sequence of int, default=(256,)
        Widths of the encoder's hidden layers; the decoder uses them reversed.
        ``(256,)`` with ``n_components=64`` on MNIST gives 784-256-64.
    activation : str, default="relu"
        One of ``"relu"``, ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"silu"``,
        ``"tanh"``, ``"sigmoid"``.
    """
    hidden = check_layer_sizes(hidden_layer_sizes)
    activation_layer(activation)  # fail on a bad name before building anything
    check_weight_count(
        _linear_weights([n_features, *hidden, n_encoder_outputs])
        + _linear_weights([n_components, *reversed(hidden), n_features]),
        "mlp",
        f"encoder_params['hidden_layer_sizes']={hidden_layer_sizes!r}, "
        f"n_features={n_features} and n_components={n_components}",
        "Use smaller encoder_params['hidden_layer_sizes'] (or fewer n_components).",
    )
    encoder = dense_stack([n_features, *hidden, n_encoder_outputs], activation)
    decoder = dense_stack([n_components, *reversed(hidden), n_features], activation)
    return encoder, decoder


@hookimpl
def register_architectures() -> list[Architecture]:
    return [
        Architecture(
            "mlp",
            build_mlp,
            "Fully connected encoder and mirrored decoder "
            "(hidden_layer_sizes, activation).",
        )
    ]
