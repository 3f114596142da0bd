"""The issue's measure of Lava float on the CNN, for benchmarks/lava_cnn.py: deploy + run of a NIR file in
this process, by whichever nirdeploy is first on PYTHONPATH (this checkout's or a baseline commit's).

    python lava_cnn_whole.py GRAPH.nir SPIKES.npy OUT.npy

Prints the seconds of deploy + run (imports left out) and the nirdeploy it ran; OUT.npy gets the output spikes.
"""

import json
import sys
import time

import nir
import numpy as np
import torch

import nirdeploy

graph, x, out = nir.read(sys.argv[1]), torch.from_numpy(np.load(sys.argv[2])), sys.argv[3]
start = time.perf_counter()
spikes = nirdeploy.deploy(graph, "lava", dt=float(graph.metadata["dt"]), precision="float").run(x)
print(json.dumps({"seconds": time.perf_counter() - start, "nirdeploy": nirdeploy.__file__}))
np.save(out, spikes.numpy())
