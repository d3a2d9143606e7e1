"""``skae.data_parallel``: the explicit switch to data-parallel training.

Inside ``with skae.data_parallel():`` in a process of an initialised
``torch.distributed`` process group (``torchrun`` sets one up), ``fit`` and
``partial_fit`` train data-parallel across the group's ranks behind the same
API; outside it, they never do, whatever process group exists.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch.distributed as dist

from ._engine.distributed import Shard

_CURRENT: contextvars.ContextVar[Shard | None] = contextvars.ContextVar(
    "skae_data_parallel", default=None
)


@contextlib.contextmanager
def data_parallel(group=None) -> Iterator[Shard]:
    """Train data-parallel across the ranks of a ``torch.distributed`` group.

    Every rank runs the same script on the same data: each ``fit`` (or
    ``partial_fit``) inside the context then trains on the rank's part of
    every batch of ``batch_size`` rows (the global batch), and the gradients
    of the parts are averaged across the ranks, so every rank ends with the
    same weights, equal to a single-process fit with the same global batch up
    to float rounding (the VAEs' and the denoising autoencoder's noise is
    drawn per rank, so theirs is equal in distribution). Only rank 0 writes
    files (``save`` does nothing on the other ranks) and shows progress.

    Parameters
    ----------
    group : ProcessGroup, optional
        The process group to train across; the default group when None.

    Yields
    ------
    shard : Shard
        This process's ``rank`` and the ``world`` size.

    Raises
    ------
    ValueError
        If no ``torch.distributed`` process group is initialised; and, at
        ``fit``, if the ranks disagree on the data's shape.

    Examples
    --------
    A script launched as ``torchrun --nproc-per-node 2 train.py``::

        import torch.distributed as dist
        import skae

        dist.init_process_group("gloo")  # "nccl" on GPUs
        with skae.data_parallel():
            vae = skae.VAE(n_components=8, random_state=0).fit(X)
            vae.save("vae.skae")  # written by rank 0 only

    Outside a process group it refuses:

    >>> import skae
    >>> with skae.data_parallel():
    ...     pass
    Traceback (most recent call last):
    ...
    ValueError: skae.data_parallel() needs an initialised torch.distributed ...
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "skae.data_parallel() needs an initialised torch.distributed process "
            "group: launch the script with torchrun (or call "
            "torch.distributed.init_process_group) first, or fit without "
            "data_parallel to train in this process alone."
        )
    shard = Shard(dist.get_rank(group), dist.get_world_size(group), group)
    token = _CURRENT.set(shard)
    try:
        yield shard
    finally:
        _CURRENT.reset(token)


def current_shard() -> Shard | None:
    """This process's shard inside :func:`data_parallel`, else None."""
    return _CURRENT.get()


def writes_files() -> bool:
    """Whether this process writes files: always, but for ranks other than 0."""
    shard = _CURRENT.get()
    return shard is None or shard.rank == 0


def agreed_shard(shape: tuple[int, ...], precision: str) -> Shard | None:
    """This rank's shard inside :func:`data_parallel`, once the ranks agree.

    Raises ``ValueError`` on every rank when the ranks' data differ in shape,
    or when ``precision="float16"`` would scale each rank's loss apart.
    """
    shard = _CURRENT.get()
    if shard is not None:
        if precision == "float16":
            raise ValueError(
                "precision='float16' scales the loss on each rank apart, so the "
                "ranks would drift apart under skae.data_parallel(). Use "
                "precision='bfloat16' or 'float32'."
            )
        shard.check_agree(tuple(shape), "the data's shape (rows, features)")
    return shard
