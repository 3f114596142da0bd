"""Run a .net file with lava-dl netx's own reader (``lava.lib.dl.netx.hdf5.Network``), in the Lava runtime.

netx cannot be imported whole here: its package imports slayer, which needs torch
(lava-dl pins torch<2.4; no CPU build exists for Python 3.10 on this machine's
registries). Only the RF-neuron helper that hdf5.py imports from slayer is
replaced (CUBA layers never call it), and sequential_modules.py (torch modules,
no Lava process models) is not loaded; netx's hdf5.py, utils.py and blocks are
its own code. Usage: python lava_netx_run.py NET INPUT.npy OUT.npy STEPS_PER_SAMPLE
(input ``[T, n]`` spikes in NIR's order, samples one after another; output ``[T, n]`` spikes of the
last layer in NIR's order, Lava's timeline). The reader resets each layer at its offset in every
sample, as nirdeploy's netx module says to read the file.
"""

import sys
import types
from pathlib import Path

import numpy as np
import lava.lib.dl

NETX = next(Path(p) / "netx" for p in lava.lib.dl.__path__ if (Path(p) / "netx").is_dir())
for name, path in (("lava.lib.dl.netx", NETX), ("lava.lib.dl.slayer", None), ("lava.lib.dl.slayer.neuron", None)):
    module = types.ModuleType(name)
    module.__path__ = [str(path)] if path else []
    sys.modules[name] = module
rf = types.ModuleType("lava.lib.dl.slayer.neuron.rf")
rf.neuron_params = None  # only RF neurons use it
sys.modules["lava.lib.dl.slayer.neuron.rf"] = rf
# Lava imports every module beside a Process to find its models; this one holds torch modules only.
sequential = types.ModuleType("lava.lib.dl.netx.sequential_modules")
sequential.__file__ = str(NETX / "sequential_modules.py")
sys.modules[sequential.__name__] = sequential

from lava.lib.dl.netx.hdf5 import Network  # noqa: E402
from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.sink import RingBuffer as Sink  # noqa: E402
from lava.proc.io.source import RingBuffer as Source  # noqa: E402

net_file, input_file, output_file, steps_per_sample = sys.argv[1:5]
spikes = np.load(input_file)
network = Network(net_config=net_file, reset_interval=int(steps_per_sample), reset_offset=1)
print(network)
# netx's shapes are NIR's reversed (W H C for C H W); time is Lava's last axis.
shape = tuple(network.inp.shape[::-1])
source = Source(data=spikes.reshape(len(spikes), *shape).transpose(*range(len(shape), -1, -1)).astype(np.int32))
sink = Sink(shape=network.out.shape, buffer=len(spikes))
source.s_out.connect(network.inp)
network.out.connect(sink.a_in)
network.run(condition=RunSteps(num_steps=len(spikes)), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
out = sink.data.get()
np.save(output_file, out.transpose(*range(out.ndim - 1, -1, -1)).reshape(len(spikes), -1))
network.stop()
