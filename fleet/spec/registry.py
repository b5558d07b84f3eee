"""Registries of named plug-ins (workloads, host policies), one style for both.

A plug-in has a name, a parameters class (`fleet.spec.params.Params`) and an
implementation. The two are registered separately so that a spec can be
checked knowing only the parameters: the workloads' parameter classes live in
`fleet.spec.workloads` (their implementations import numba), the policies'
next to their implementations (plain Python)::

    WORKLOADS.parameters("server")(ServerParams)       # or as a class decorator
    @WORKLOADS.implementation("server")
    class Server(Workload): ...

    WORKLOADS.make_params("server", {"anon_fraction": 0.4})   # validated ServerParams
    WORKLOADS.implementation_of("server")                     # the Server class
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from .params import Params, build_params

T = TypeVar("T")
C = TypeVar("C", bound=type)


class Registry(Generic[T]):
    """Named plug-ins of one kind ("workload", "policy")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._params: dict[str, type[Params]] = {}
        self._impls: dict[str, T] = {}

    def parameters(self, name: str) -> Callable[[C], C]:
        """Class decorator: register the parameters class of `name`."""

        def add(cls: C) -> C:
            if name in self._params:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._params[name] = cls
            return cls

        return add

    def implementation(self, name: str) -> Callable[[Any], Any]:
        """Decorator: register the implementation of `name` (its parameters
        must be registered already)."""

        def add(impl: Any) -> Any:
            self.params_class(name)
            self._impls[name] = impl
            return impl

        return add

    def names(self) -> list[str]:
        return sorted(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def params_class(self, name: str) -> type[Params]:
        if not isinstance(name, str) or name not in self._params:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self.names())} (lower case)")
        return self._params[name]

    def make_params(self, name: str, values: Mapping[str, Any] | None = None) -> Params:
        """The validated parameters of `name` (ValueError naming the culprit)."""
        return build_params(self.params_class(name), dict(values or {}), f"{self.kind} {name!r}")

    def implementation_of(self, name: str) -> T:
        self.params_class(name)
        if name not in self._impls:
            raise LookupError(f"{self.kind} {name!r} has parameters but no implementation loaded")
        return self._impls[name]
