"""Run a worker request folder in Lava's fixed point one step at a time and read every LIF's u and v after each step.

Runs in the Lava runtime with nirdeploy's ``lava_worker`` importable. The network is the
worker's own (``lava_worker.network.build``); only the run is stepped, so that the
states can be read between steps (each read costs milliseconds, so keep graphs small).
Usage: python lava_states_run.py FOLDER (FOLDER as ``python -m lava_worker`` takes it);
writes FOLDER/states.npz: ``<population>.u`` and ``<population>.v``, each ``[steps, B, n]``.
"""

import json
import sys
from pathlib import Path

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg

from lava_worker.mapping import Plan
from lava_worker.network import build

folder = Path(sys.argv[1])
request = json.loads((folder / "request.json").read_text())
plan = Plan.load(folder)
inputs = dict(np.load(folder / "inputs.npz"))
batch, steps = next(iter(inputs.values())).shape[1], request["steps"]
process, leaks, _ = build(plan, inputs, steps, True, folder)
# build makes each population's LIF processes in the order of its groups, each named after the population
processes = {name: [lif for depth in sorted(leaks) for lif, _, _ in leaks[depth] if lif.name == name]
             for name in plan.populations}
states = {f"{name}.{var}": np.zeros((steps, batch, pop.size), dtype=np.int64)
          for name, pop in plan.populations.items() for var in "uv"}
config = Loihi2SimCfg(select_tag="fixed_pt")
try:
    for t in range(steps):
        for lif, leak, start in leaks.get(t, []):
            lif.bias_mant.set(np.asarray(leak))
            if np.any(start):
                lif.v.set(np.asarray(start))
        process.run(condition=RunSteps(num_steps=1), run_cfg=config)
        for name, lifs in processes.items():
            for group, lif in zip(plan.populations[name].groups, lifs):
                for var in "uv":
                    states[f"{name}.{var}"][t][:, group] = getattr(lif, var).get().reshape(batch, len(group))
finally:
    process.stop()
np.savez(folder / "states.npz", **states)
