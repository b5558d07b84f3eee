"""OUT/manifest.json: one entry per committed run (resolved spec, seed,
package versions, code fingerprint, finish time) under "<experiment>/<run_id>".
Written atomically; updates happen under OUT/.lock."""

import json
from collections.abc import Mapping
from pathlib import Path

from .errors import ResultsError, one_line
from .fs import atomic_write, locked
from .layout import MANIFEST

MANIFEST_FORMAT = 1


def read_manifest(out: Path) -> dict:
    """The manifest of OUT; ResultsError if it is missing, unreadable or of
    another format."""
    path = out / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{out} is not a results folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"unreadable manifest {path}: {one_line(exc)}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("runs"), dict):
        raise ResultsError(f"unsupported manifest {path}: expected format {MANIFEST_FORMAT} with a 'runs' table")
    return data


def _write_manifest(out: Path, data: dict) -> None:
    """Write manifest.json atomically. The caller holds the OUT/.lock."""
    with atomic_write(out / MANIFEST) as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def update_manifest(out: Path, entries: Mapping[str, dict]) -> None:
    """Add entries to the manifest (creating it if needed). Caller holds the lock."""
    if (out / MANIFEST).exists():
        data = read_manifest(out)
    else:
        data = {"format": MANIFEST_FORMAT, "runs": {}}
    data["runs"].update(entries)
    _write_manifest(out, data)


def ensure_manifest(out: Path) -> None:
    """Create an empty manifest in OUT if it has none."""
    if not (out / MANIFEST).exists():
        with locked(out):
            if not (out / MANIFEST).exists():
                update_manifest(out, {})
