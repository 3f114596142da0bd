"""How long ``nirdeploy.check`` takes on the NIR paper's N-MNIST CNN (cnn_sinabs.nir's shapes, 8,970
neurons, built by tests/graphs.py), per target, after a first call that pays the imports: medians of
3 in one run, and each target's time over the snnTorch target's. Writes docs/performance.md's figures.

    .venv/bin/python benchmarks/check.py
"""

import statistics
import sys
import time
from pathlib import Path

import nirdeploy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
from docfigures import write_figures  # noqa: E402
from graphs import nmnist_cnn  # noqa: E402

TARGETS = ("snntorch", "lava", "xylo")


def seconds(graph, target: str) -> float:
    nirdeploy.check(graph, target)  # imports the target's modules
    times = []
    for _ in range(3):
        start = time.perf_counter()
        nirdeploy.check(graph, target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    graph, _ = nmnist_cnn()
    results = {target: seconds(graph, target) for target in TARGETS}
    rows = ["| target | check (s) | / snntorch |", "|---|---|---|"]
    rows += [f"| {target} | {s:.3f} | {s / results['snntorch']:.1f}x |" for target, s in results.items()]
    table = "\n".join(rows)
    print(table)
    write_figures("check", table, {"seconds": results},
                  quotable=[f"{s:.3f}s" for s in results.values()])


if __name__ == "__main__":
    main()
