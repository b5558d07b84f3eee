"""Loading specs: a TOML file, `--set key=value` overrides by dotted path,
a seed, and the points of a `[sweep]` grid.
"""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .build import build_spec, check_seed
from .schema import Spec, SpecError


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `--set key=value` (the value parsed as TOML, else a bare string)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {assignment!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: take it as a string
    set_key(raw, key.strip(), value)


def key_parts(key: str) -> list[str]:
    """The segments of a dotted key; a segment in double quotes may hold dots,
    as in TOML (`sweep."kernel.era"` is the sweep table's `kernel.era` key)."""
    parts = re.findall(r'"([^"]*)"|([^."]+)', key)
    if ".".join(f'"{q}"' if q else p for q, p in parts) != key:
        raise SpecError(f'--set {key}: not a dotted key (quote a segment that holds dots: sweep."kernel.era")')
    return [q or p for q, p in parts]


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` (`guests[0].count` indexes a list; a quoted
    segment may hold dots) of a raw spec."""
    parts = key_parts(key)
    node = raw
    for i, part in enumerate(parts[:-1]):
        m = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if m:
            items = node.get(m.group(1))
            idx = int(m.group(2))
            if not isinstance(items, list) or idx >= len(items):
                raise SpecError(f"--set {key}: there is no {part}")
            node = items[idx]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a table")
    node[parts[-1]] = value


def load_raw(path: str | Path) -> dict[str, Any]:
    """A spec file parsed as TOML (SpecError for a missing, binary or invalid file)."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, not a spec file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None


def resolve_raw(path: str | Path, overrides: Iterable[str] = (), seed: int | None = None) -> dict[str, Any]:
    """Read a spec file and apply `--set` overrides and a seed to it."""
    raw = load_raw(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    if seed is not None:
        raw.setdefault("experiment", {})["seed"] = seed
    return raw


def load_spec(path: str | Path, overrides: Iterable[str] = (), seed: int | None = None) -> Spec:
    """Read, override and validate a spec file."""
    return build_spec(resolve_raw(path, overrides, seed))


def sweep_points(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The sweep grid of a raw spec: (run id, raw spec) for every point x seed.

    `[sweep]` maps dotted keys to lists of values; `seeds` lists seeds; an
    optional `[sweep.regimes.NAME]` table per regime holds overrides applied
    together (the regime's name is recorded as experiment.regime). Run ids
    name the point's values, so a re-run finds the runs already done.
    """
    sweep = copy.deepcopy(raw.get("sweep", {}))
    seeds = sweep.pop("seeds", [raw.get("experiment", {}).get("seed", 1)])
    regimes = sweep.pop("regimes", {"": {}})
    if not isinstance(regimes, dict) or not all(isinstance(r, dict) for r in regimes.values()):
        raise SpecError("sweep.regimes: expected one table of overrides per regime")
    if not isinstance(seeds, list) or not seeds:
        raise SpecError("sweep.seeds: expected a non-empty list of seeds")
    for seed in seeds:
        check_seed(seed, "sweep.seeds")
    keys = sorted(sweep)
    for key in keys:
        if not isinstance(sweep[key], list) or not sweep[key]:
            raise SpecError(f"sweep.{key}: expected a non-empty list of values")
    points = []
    for regime, overrides in regimes.items():
        for values in itertools.product(*(sweep[k] for k in keys)):
            for seed in seeds:
                point = copy.deepcopy(raw)
                point.pop("sweep", None)
                name = [f"regime={regime}"] if regime else []
                for key, value in sorted(overrides.items()):
                    set_key(point, key, copy.deepcopy(value))
                for key, value in zip(keys, values):
                    set_key(point, key, copy.deepcopy(value))
                    name.append(f"{key.split('.')[-1]}={value}")
                experiment = point.setdefault("experiment", {})
                experiment["seed"] = seed
                if regime:
                    experiment["regime"] = regime
                name.append(f"seed={seed}")
                points.append(("_".join(name).replace("/", "-").replace(" ", ""), point))
    return points
