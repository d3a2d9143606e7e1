"""Validation of constructor parameters, with scikit-learn's wording.

scikit-learn's own ``sklearn.utils._param_validation`` is private and may change
without notice, so skae mirrors its message format instead of importing it:
"The 'x' parameter of Y must be ... Got ... instead."
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .exceptions import InvalidParameterError


class Constraint:
    """One acceptable kind of value for a parameter."""

    def accepts(self, value: object) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of type ``kind`` in an interval; ``None`` bounds are unbounded.

    A float parameter (any ``kind`` but ``numbers.Integral``) must also be
    finite: nan, inf and values beyond float's range are refused, even where a
    bound is ``None``. Ints are exact, so an int interval bounds only the value.
    """

    kind: type
    left: float | None
    right: float | None
    closed: str = "both"  # "left", "right", "both" or "neither"

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is not numbers.Integral and not _is_finite_float(value):
            return False
        left_ok = self.left is None or (
            value >= self.left if self.closed in ("left", "both") else value > self.left
        )
        right_ok = self.right is None or (
            value <= self.right
            if self.closed in ("right", "both")
            else value < self.right
        )
        return left_ok and right_ok

    def __str__(self) -> str:
        noun = "an int" if self.kind is numbers.Integral else "a float"
        left = "-inf" if self.left is None else self.left
        right = "inf" if self.right is None else self.right
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{noun} in the range {lb}{left}, {right}{rb}"


def _is_finite_float(value: numbers.Real) -> bool:
    """Whether ``value`` converts to a finite float: no nan, no inf, no 10**400.

    A float parameter is used as a float (by torch, by the arithmetic of the
    training loop), so an int or fraction beyond float's range is no more
    usable than ``inf``.
    """
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of strings."""

    options: frozenset[str]

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return f"a str among {sorted(self.options)}"


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of ``kind`` (``bool`` is not an ``int`` here)."""

    kind: type | tuple[type, ...]
    description: str

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool) and bool not in _as_tuple(self.kind):
            return False
        return isinstance(value, self.kind)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Satisfies(Constraint):
    """Any value for which ``predicate`` is true."""

    predicate: Callable[[object], bool]
    description: str

    def accepts(self, value: object) -> bool:
        return self.predicate(value)

    def __str__(self) -> str:
        return self.description


class _NoneConstraint(Constraint):
    def accepts(self, value: object) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


def _is_factory(value: object) -> bool:
    from torch import nn  # here, so that this module stays free of torch

    return callable(value) and not isinstance(value, nn.Module)


FACTORY = Satisfies(
    _is_factory,
    "a callable that builds what is needed (not a torch.nn.Module instance, "
    "whose weights clone() would copy)",
)
NONE = _NoneConstraint()
BOOL = InstanceOf(bool, "a bool")
DICT = InstanceOf(dict, "a dict")
STR = InstanceOf(str, "a str")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _describe(constraints: Sequence[Constraint]) -> str:
    texts = [str(c) for c in constraints]
    if len(texts) == 1:
        return texts[0]
    return ", ".join(texts[:-1]) + " or " + texts[-1]


def check_params(
    owner: str, params: Mapping[str, object], constraints: Mapping[str, Sequence]
) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter out of bounds."""
    for name, allowed in constraints.items():
        value = params[name]
        if not any(c.accepts(value) for c in allowed):
            raise InvalidParameterError(
                f"The {name!r} parameter of {owner} must be {_describe(allowed)}. "
                f"Got {value!r} instead."
            )


def did_you_mean(value: str, names: Iterable[str]) -> str:
    """A " Did you mean 'x'?" hint, or an empty string when nothing is close."""
    close = difflib.get_close_matches(value, list(names), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
