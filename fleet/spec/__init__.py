"""The spec room: what a run is, checked before anything runs.

- params.py: `param()` and `Params`, the typed parameters of plug-ins;
- registry.py: `Registry`, named plug-ins (workloads here, policies in policies/);
- workloads.py: every workload's parameters, registered in `WORKLOADS`;
- schema.py: the typed nested spec (`Spec` and one dataclass per table);
- guests.py: guest groups expanded to guests (parameters, memory, size rules);
- build.py: a parsed document to a checked `Spec` (`build_spec`, `check_seed`);
- load.py: TOML files, `--set` overrides and sweep points;
- toml_text.py: a resolved spec written back as TOML (`toml_text`).

Nothing here imports numba or pyarrow (a trace workload reads its shipped
table when its VM is checked).
"""

from .build import SEED_MAX, build_spec, check_seed, parse_duration
from .load import apply_override, load_raw, load_spec, resolve_raw, set_key, sweep_points
from .schema import ExperimentSpec, GuestGroup, HostSpec, KernelSpec, PolicySpec, Spec, SpecError
from .toml_text import toml_text

__all__ = [
    "SEED_MAX",
    "ExperimentSpec",
    "GuestGroup",
    "HostSpec",
    "KernelSpec",
    "PolicySpec",
    "Spec",
    "SpecError",
    "apply_override",
    "build_spec",
    "check_seed",
    "load_raw",
    "load_spec",
    "parse_duration",
    "resolve_raw",
    "set_key",
    "sweep_points",
    "toml_text",
]
