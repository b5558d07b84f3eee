"""Validation scenarios: a TOML file naming a guest and a list of steps in the
scenario language (fleet/scenario.py), run both in real guests and in the
model.

    [scenario]
    description = "what it shows"
    memory = "1GiB"          # guest RAM, 256MiB..3GiB (all of it below 4 GiB)
    thp_defrag = "madvise"   # /sys/kernel/mm/transparent_hugepage/defrag
    reps = 3                 # repetitions `fleet validate record` runs per kernel
    steps = ["fill anon=600MiB", "punch anon every 2", "balloon 256MiB", ...]

A scenario's reference lives beside it as NAME.ref.json.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..memory.huge_memory import DEFRAG_MODES
from ..scenario import ScenarioError, Step, parse_steps
from ..units import parse_size
from .steps import REAL_KINDS

# The model's zone is the guest's DMA32 zone: RAM above the 16 MiB DMA zone,
# all of it below 4 GiB when RAM is at most 3 GiB (QEMU's pc machine).
DMA_ZONE_BYTES = 16 << 20
MIN_MEMORY = 256 << 20
MAX_MEMORY = 3 << 30
MAX_REPS = 20
KEYS = {"description", "memory", "thp_defrag", "reps", "steps"}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    memory_bytes: int
    thp_defrag: str
    steps: tuple[Step, ...]
    reps: int = 3  # repetitions per kernel that record runs unless told otherwise

    @property
    def memory_mib(self) -> int:
        return self.memory_bytes >> 20

    @property
    def zone_pages(self) -> int:
        """Pages of the DMA32 zone, the one the model simulates."""
        return (self.memory_bytes - DMA_ZONE_BYTES) >> 12

    @property
    def zone_pfns(self) -> range:
        """The page frame numbers of the DMA32 zone."""
        return range(DMA_ZONE_BYTES >> 12, self.memory_bytes >> 12)

    @property
    def reference_path(self) -> Path:
        return self.path.with_suffix(".ref.json")

    @property
    def file_pages(self) -> int:
        """Pages of /data that the scenario's file fills read."""
        return sum(p for s in self.steps if s.verb == "fill" for k, p in s.args if k == "file")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError with one line."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError(f"{path}: not a TOML file ({e})") from None
    table = raw.get("scenario")
    if not isinstance(table, dict) or set(raw) != {"scenario"}:
        raise ScenarioError(f"{path}: needs exactly one [scenario] table")
    unknown = set(table) - KEYS
    if unknown:
        raise ScenarioError(f"{path}: unknown key scenario.{sorted(unknown)[0]}; use {', '.join(sorted(KEYS))}")
    try:
        memory = parse_size(str(table.get("memory", "1GiB")))
    except ValueError as e:
        raise ScenarioError(f"{path}: scenario.memory: {e}") from None
    if not MIN_MEMORY <= memory <= MAX_MEMORY or memory % (2 << 20):
        raise ScenarioError(f"{path}: scenario.memory must be a multiple of 2MiB within 256MiB..3GiB")
    defrag = table.get("thp_defrag", "madvise")
    if defrag not in DEFRAG_MODES:
        raise ScenarioError(f"{path}: scenario.thp_defrag must be one of {', '.join(DEFRAG_MODES)}")
    reps = table.get("reps", 3)
    if isinstance(reps, bool) or not isinstance(reps, int) or not 1 <= reps <= MAX_REPS:
        raise ScenarioError(f"{path}: scenario.reps must be a whole number within 1..{MAX_REPS}")
    steps_raw = table.get("steps")
    if not isinstance(steps_raw, list) or not all(isinstance(s, str) for s in steps_raw):
        raise ScenarioError(f"{path}: scenario.steps must be a list of step strings")
    try:
        steps = parse_steps(";".join(steps_raw))
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None
    for step in steps:
        kinds = (
            [k for k, _ in step.args]
            if step.verb == "fill"
            else step.args[:1]
            if step.verb in ("punch", "free")
            else []
        )
        bad = [k for k in kinds if k not in REAL_KINDS]
        if bad:
            raise ScenarioError(
                f"{path}: step '{step}': a real guest has no {bad[0]} memory to drive; use {', '.join(REAL_KINDS)}"
            )
    return Scenario(path.stem, path, str(table.get("description", "")), memory, defrag, tuple(steps), reps)


def shipped_scenarios(folder: Path) -> list[Scenario]:
    return [load_scenario(p) for p in sorted(folder.glob("*.toml"))]
