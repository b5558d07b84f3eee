"""A resolved spec (``Spec.to_dict()``, as a run's manifest entry records
it) written back as TOML text, the language specs are written in: tables as
``[table]``, lists of tables as ``[[guests]]``, strings in TOML's basic
quotes. ``tomllib.loads`` of the text gives the dict again, but for keys whose
value is None (a field left at its default of None), which are left out."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k)


def _value(v: Any) -> str:
    """A TOML value: JSON's escapes are valid in TOML's basic strings."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items() if x is not None) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v))


def _is_tables(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_text(doc: dict[str, Any]) -> str:
    """`doc` as TOML text (see the module docstring)."""
    lines: list[str] = []

    def table(path: str, d: dict[str, Any], header: str | None) -> None:
        if header is not None:
            if lines:
                lines.append("")
            lines.append(header)
        subs = []
        for k, v in d.items():
            if v is None:
                continue
            if isinstance(v, dict) or _is_tables(v):
                subs.append((k, v))
            else:
                lines.append(f"{_key(str(k))} = {_value(v)}")
        for k, v in subs:
            sub = f"{path}.{_key(str(k))}" if path else _key(str(k))
            if isinstance(v, dict):
                table(sub, v, f"[{sub}]")
            else:
                for item in v:
                    table(sub, item, f"[[{sub}]]")

    table("", doc, None)
    return "\n".join(lines) + "\n"
