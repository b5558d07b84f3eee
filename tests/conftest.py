"""Shared fixtures. Tests that need Ray share ONE local session for the whole
run (starting Ray costs 6-10 s on the build machine)."""

import logging
import os

import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    os.environ["RAY_COLOR_PREFIX"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
