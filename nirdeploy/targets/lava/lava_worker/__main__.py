"""``python -m lava_worker FOLDER``: run the request in FOLDER, write the spikes or the error there.

FOLDER holds the plan (``plan.json`` and ``plan.npz``, see ``mapping.Plan.save``),
``inputs.npz`` (Input node -> ``[T, B, ...]`` spikes) and ``request.json``
(precision, steps). The worker writes ``spikes.npz`` (population -> ``[steps, B, n]``
in Lava's timeline) or, on failure, ``error.json`` with the message and traceback.
"""

import json
import os
import sys
import traceback
from pathlib import Path

NEURONS_PER_RUN = 20_000  # samples run side by side in one Lava network, up to this many neurons


def main(folder: Path) -> None:
    import numpy as np

    from lava_worker.mapping import Plan
    from lava_worker.network import simulate

    request = json.loads((folder / "request.json").read_text())
    plan = Plan.load(folder)
    inputs = dict(np.load(folder / "inputs.npz"))
    batch = next(iter(inputs.values())).shape[1]
    neurons = sum(pop.size for pop in plan.populations.values())
    chunk = max(1, min(batch, NEURONS_PER_RUN // max(neurons, 1)))
    runs = []
    for start in range(0, batch, chunk):
        work = folder / f"samples{start}"
        work.mkdir()
        x = {name: value[:, start : start + chunk] for name, value in inputs.items()}
        runs.append(simulate(plan, x, request["steps"], request["precision"] == "fixed", work))
        _write_whole(folder / "progress.json", json.dumps([min(start + chunk, batch), batch]))
    np.savez(folder / "spikes.npz", **{name: np.concatenate([run[name] for run in runs], axis=1)
                                      for name in plan.populations})


def _write_whole(path: Path, text: str) -> None:
    """Written aside and renamed, so that a worker killed while writing leaves no half file for nirdeploy."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    try:
        main(target)
    except BaseException as error:  # everything goes back to nirdeploy as text, then the exit status says so
        _write_whole(target / "error.json", json.dumps({
            "type": type(error).__name__, "message": str(error), "traceback": traceback.format_exc()}))
        sys.exit(1)
