"""One timed run of a network in the Lava runtime, for benchmarks/lava_cnn.py; prints its seconds and memory.

    python lava_cnn_run.py FOLDER WAY STEPS

WAY is ``float``, ``fixed`` or ``dense-float`` (nirdeploy's network for the plan in FOLDER, from
``mapping.Plan.save``, with ``dense-`` as Lava Dense processes of the unrolled matrices) or ``netx``
(FOLDER's network.net in lava-dl netx's reader, tests/lava_netx_run.py). The input is FOLDER's x.npy,
``[steps, n]`` spikes of one sample; the spikes go to FOLDER/WAY-STEPS.npy. Printed: the seconds of
building and running, and the peak resident memory of the largest process Lava started.
"""

import json
import resource
import runpy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_direct(folder: Path, way: str, steps: int, out: Path) -> None:
    from lava_worker import network
    from lava_worker.mapping import Plan

    plan = Plan.load(folder)
    if way.startswith("dense-"):
        network.SPARSE_DENSITY = 0.0  # every nonzero block a Lava Dense (one sample has one copy)
    (name,) = plan.inputs
    x = np.load(folder / "x.npy")[:steps, None]
    with tempfile.TemporaryDirectory(dir=folder) as work:
        spikes = network.simulate(plan, {name: x}, steps, way.endswith("fixed"), Path(work))
        np.save(out, np.concatenate([spikes[p] for p in plan.outputs.values()], axis=-1)[:, 0])


def run_netx(folder: Path, steps: int, out: Path) -> None:
    np.save(folder / "x-netx.npy", np.load(folder / "x.npy")[:steps])
    sys.argv = ["lava_netx_run.py", str(folder / "network.net"), str(folder / "x-netx.npy"), str(out), str(steps)]
    runpy.run_path(str(ROOT / "tests" / "lava_netx_run.py"), run_name="__main__")


def main(folder: Path, way: str, steps: int) -> None:
    out = folder / f"{way}-{steps}.npy"
    start = time.perf_counter()
    if way == "netx":
        run_netx(folder, steps, out)
    else:
        run_direct(folder, way, steps, out)
    seconds = time.perf_counter() - start
    # Not this Python's own peak: exec kept its parent's. Lava's processes are forked, and theirs are their own.
    print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
