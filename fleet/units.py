"""Memory sizes with binary suffixes, as users type them: 512MiB, 4GiB, 1.5GiB."""

import re

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40
_UNITS = {"B": 1, "KIB": KIB, "MIB": MIB, "GIB": GIB, "TIB": TIB}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in `text` ("4GiB", "512 MiB", "4096KiB", "1073741824B").

    Raises ValueError with a one-line message on anything else.
    """
    m = _SIZE.match(str(text))
    unit = m.group(2).upper() if m else ""
    if m and not unit and float(m.group(1)) == 0:
        return 0  # zero needs no unit
    if not m or unit not in _UNITS:
        raise ValueError(f"bad size {text!r}: use a number with B, KiB, MiB, GiB or TiB, e.g. 4GiB")
    value = float(m.group(1)) * _UNITS[unit]
    if value != int(value):
        raise ValueError(f"bad size {text!r}: not a whole number of bytes")
    return int(value)


def format_size(nbytes: int) -> str:
    """The largest binary unit that keeps the number whole-ish: 4GiB, 1.5GiB, 256MiB."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = _UNITS[unit.upper()]
        if nbytes >= scale:
            return f"{nbytes / scale:g}{unit}"
    return f"{nbytes}B"
