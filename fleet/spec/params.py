"""Typed plug-in parameters: frozen dataclasses whose fields carry a one-line
help and their bounds, validated on construction.

Workloads and host policies both declare their parameters this way::

    @dataclass(frozen=True)
    class MomParams(Params):
        pressure_threshold: float = param(0.20, "host free share below which MOM shrinks guests",
                                          max=1, positive=True)

Sizes are bytes (ints; the spec loader parses "4GiB"), rates bytes per
second, times seconds. A bad value raises ValueError naming the field;
`build_params` also refuses unknown keys. This module imports nothing heavier
than numpy, so a spec is checked without numba or pyarrow.
"""

from __future__ import annotations

import math
import numbers
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P", bound="Params")


def param(
    default: Any,
    help: str,
    *,
    min: float | None = 0,
    max: float | None = None,
    positive: bool = False,
    choices: tuple | None = None,
) -> Any:
    """A parameter field: its default, a one-line help and its bounds.

    Numbers (and every number inside a tuple) must be >= `min` (default 0:
    sizes, rates and times are never negative) and <= `max`; `positive` makes
    the lower bound strict. Strings must be in `choices` when it is given.
    """
    meta = {"help": help, "min": min, "max": max, "positive": positive, "choices": choices}
    return field(default=default, metadata=meta)


def _fail(name: str, what: str, value: Any) -> typing.NoReturn:
    raise ValueError(f"parameter {name!r} {what} (got {value!r})")


def _check_number(name: str, value: Any, kind: type, meta: typing.Mapping[str, Any]) -> float | int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, f"must be {'an integer' if kind is int else 'a number'}", value)
    out: float | int
    if kind is int:
        if not isinstance(value, numbers.Integral) and not float(value).is_integer():
            _fail(name, "must be a whole number", value)
        out = int(value)  # type: ignore[call-overload]  # typeshed's Real.__trunc__ returns an Integral, not int; int() takes any Real
    else:
        out = float(value)
        if not math.isfinite(out):
            _fail(name, "must be finite", value)
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None:
        if meta.get("positive") and not out > lo:
            _fail(name, f"must be > {lo:g}", value)
        if out < lo:
            _fail(name, "must not be negative" if lo == 0 else f"must be >= {lo:g}", value)
    if hi is not None and out > hi:
        _fail(name, f"must be <= {hi:g}", value)
    return out


def _check_tuple(name: str, value: Any, args: tuple, meta: typing.Mapping[str, Any]) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        _fail(name, "must be a list", value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_check_value(name, v, args[0], meta) for v in value)
    if len(value) != len(args):
        _fail(name, f"must be a list of {len(args)} values", value)
    return tuple(_check_value(name, v, hint, meta) for v, hint in zip(value, args))


def _check_value(name: str, value: Any, hint: Any, meta: typing.Mapping[str, Any]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_value(name, value, inner, meta)
    if origin is tuple:
        return _check_tuple(name, value, typing.get_args(hint), meta)
    if hint is bool:
        if not isinstance(value, (bool, np.bool_)):
            _fail(name, "must be true or false", value)
        return bool(value)
    if hint is str:
        if not isinstance(value, str):
            _fail(name, "must be a string", value)
        choices = meta.get("choices")
        if choices and value not in choices:
            _fail(name, f"must be one of {', '.join(choices)}", value)
        return value
    if hint in (int, float):
        return _check_number(name, value, hint, meta)
    raise TypeError(f"parameter {name!r}: unsupported type {hint!r}")


@dataclass(frozen=True)
class Params:
    """Base of every plug-in's parameters: validates (and normalises: lists
    become tuples, ints in float fields become floats) every field on
    construction. Subclasses add cross-field rules in `check()`."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = _check_value(f.name, getattr(self, f.name), hints[f.name], f.metadata)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field rules; raise ValueError naming the field."""


def build_params(cls: type[P], values: typing.Mapping[str, Any], owner: str) -> P:
    """`cls` built from `values`; an unknown key or a bad value raises
    ValueError starting with `owner` (e.g. "workload 'server'")."""
    known = [f.name for f in fields(cls)]
    for key in values:
        if key not in known:
            raise ValueError(f"{owner} has no parameter {key!r}; its parameters: {', '.join(known) or 'none'}")
    try:
        return cls(**values)
    except ValueError as e:
        raise ValueError(f"{owner}: {e}") from None


def params_help(cls: type[Params]) -> list[tuple[str, str, object, str]]:
    """(name, type, default, help) per field, for CLI help and docs."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        default = None if f.default is MISSING else f.default
        tname = getattr(hints[f.name], "__name__", None) or str(hints[f.name]).replace("typing.", "")
        out.append((f.name, tname, default, f.metadata.get("help", "")))
    return out
