"""How many examples a property test draws: its own count, times
BALLOONFLEET_FUZZ_FACTOR under `make fuzz` (the hypothesis "fuzz" profile,
random exploration); under CI (the "ci" profile) the examples are
derandomized, so every run gives the same verdict."""

import os

FACTOR = int(os.environ.get("BALLOONFLEET_FUZZ_FACTOR", "1"))


def examples(n: int) -> int:
    return n * FACTOR
