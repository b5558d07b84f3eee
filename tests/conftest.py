"""Shared fixtures. Tests that need Ray share ONE local session for the whole
run (starting Ray costs 6-10 s on the build machine).

Hypothesis profiles: "ci" (chosen when CI is set) derandomizes every property
test and keeps no example database, so a test gives the same verdict on every
run; "fuzz" (`make fuzz`) draws fresh random examples, many more of them
(tests/examples.py); "default" elsewhere. HYPOTHESIS_PROFILE overrides."""

import logging
import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))


@pytest.fixture(scope="session")
def ray_session():
    import ray

    os.environ["RAY_COLOR_PREFIX"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
