"""A chain of lava-nc's own Dense and LIF processes with hand-set integers, run in Lava's fixed point.

Runs in the Lava runtime and uses none of nirdeploy's code: the test that calls it derives every
integer by hand from NIR's equations and Lava's documented LIF, so that nirdeploy's mapping is
compared with Lava itself, not with its own output. Usage: python lava_hand_run.py SPEC.json IN.npy
OUT.npz. SPEC: {"layers": [{"weights", "du", "dv", "vth", "bias_mant", "bias_exp", "bias_from",
"num_weight_bits"}, ...]}
(weights [post, pre]; bias_mant is set after ``bias_from`` steps, as nirdeploy starts a layer's leak
at its depth); IN: ``[T, n]`` spikes; OUT: ``layer<i>`` ``[T, n_i]`` spikes on Lava's timeline.
"""

import json
import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF

spec_file, input_file, output_file = sys.argv[1:4]
layers = json.loads(open(spec_file).read())["layers"]
x = np.load(input_file)
steps = len(x)
source = Source(data=x.T.astype(np.int32))
port, lifs, sinks = source.s_out, [], []
for spec in layers:
    weights = np.asarray(spec["weights"], dtype=np.int32)
    dense = Dense(weights=weights, num_weight_bits=spec["num_weight_bits"])
    lif = LIF(shape=(weights.shape[0],), du=spec["du"], dv=spec["dv"], vth=spec["vth"], bias_mant=0,
              bias_exp=np.asarray(spec["bias_exp"]))
    port.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    sink = Sink(shape=(weights.shape[0],), buffer=steps)
    lif.s_out.connect(sink.a_in)
    port = lif.s_out
    lifs.append(lif)
    sinks.append(sink)
config = Loihi2SimCfg(select_tag="fixed_pt")
done = 0
for start in sorted({spec["bias_from"] for spec in layers}):
    if start > done:
        source.run(condition=RunSteps(num_steps=start - done), run_cfg=config)
        done = start
    for spec, lif in zip(layers, lifs):
        if spec["bias_from"] == start:
            lif.bias_mant.set(np.asarray(spec["bias_mant"]))
source.run(condition=RunSteps(num_steps=steps - done), run_cfg=config)
np.savez(output_file, **{f"layer{i}": sink.data.get().T for i, sink in enumerate(sinks)})
source.stop()
