"""Helper for the two-node test: start a Ray cluster of two nodes on this
machine (ray.cluster_utils.Cluster), run `fleet run` against it through
--address, shut the cluster down. Usage: cluster_run.py SPEC OUT."""

import subprocess
import sys

from ray.cluster_utils import Cluster

spec, out = sys.argv[1], sys.argv[2]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
try:
    cmd = [sys.executable, "-m", "fleet.cli", "run", spec, "--out", out, "--address", cluster.address]
    sys.exit(subprocess.run(cmd).returncode)
finally:
    cluster.shutdown()
