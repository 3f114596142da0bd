"""Fixtures shared by the test files that need them."""

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs, as this machine has, for the tests of sharded runs and sweeps."""
    ray = pytest.importorskip("ray", reason="Ray is part of the README's set-up (nirdeploy[ray])")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
