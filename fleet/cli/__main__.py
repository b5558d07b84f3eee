"""`python -m fleet.cli`."""

from . import run

run()
