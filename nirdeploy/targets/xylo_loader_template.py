"""Put a network that nirdeploy mapped for SynSense Xylo on a Xylo board, or check and simulate it without one.

nirdeploy writes this script beside ``xylo_<variant>_spec.npz`` (the array arguments of Rockpool's
``config_from_specification``) and ``xylo_<variant>_spec.json`` (its other arguments, dt, and what each part
is). It needs numpy and the rockpool version the JSON names, not nirdeploy. Rockpool's
``config_from_specification``, ``XyloSamna`` and ``find_xylo_hdks`` import samna (SynSense's driver): with samna
the script builds and validates the configuration and writes it to a connected board of the variant; without
samna it checks the files and can still run XyloSim (needs xylosim) from the specification, which is how
nirdeploy ran it.
"""

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np


def load_specification(spec_json: Path) -> tuple:
    """(metadata, config_from_specification's keyword arguments), each array checked against the metadata."""
    meta = json.loads(spec_json.read_text())
    with np.load(spec_json.with_name(meta["arrays"])) as arrays:
        spec = {name: arrays[name] for name in arrays.files}
    for name, expected in meta["keys"].items():
        if expected["file"] == "npz" and (list(spec[name].shape) != expected["shape"]
                                          or str(spec[name].dtype) != expected["dtype"]):
            sys.exit(f"{meta['arrays']}: {name} is {spec[name].dtype} {list(spec[name].shape)}, the JSON says "
                     f"{expected['dtype']} {expected['shape']}; the files are not from one nirdeploy run")
    return meta, {**spec, **meta["arguments"]}


def xylosim_without_samna(meta: dict):
    """Rockpool's XyloSim class where samna is missing: the ``__init__`` of rockpool.devices.xylo (and of its
    syns65302) imports samna, so both are registered as bare packages over their real folders."""
    import rockpool.devices

    folder = Path(rockpool.devices.__file__).parent / "xylo"
    for name, path in (("rockpool.devices.xylo", folder), ("rockpool.devices.xylo.syns65302", folder / "syns65302")):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules.setdefault(name, package)
    return importlib.import_module(meta["simulator"]["module"]).XyloSim


def simulate(meta: dict, spec: dict, steps: np.ndarray) -> np.ndarray:
    simulator = meta["simulator"]
    arguments = {simulator["renamed"].get(name, name): value for name, value in spec.items()}
    sim = xylosim_without_samna(meta).from_specification(**arguments, dt=meta["dt"])
    print("running the input in XyloSim from the specification")
    return sim.evolve(steps)[0]


def on_chip_machine(meta: dict, spec: dict, steps) -> np.ndarray:
    """Build and validate the configuration, write it to a board of the variant if one is connected, and run
    ``steps`` there (or in XyloSim from the configuration where none is)."""
    module = importlib.import_module(meta["module"])
    from rockpool.devices.xylo import find_xylo_hdks

    config, valid, message = getattr(module, meta["function"])(**spec)
    if not valid:
        sys.exit(f"the configuration is invalid: {message}")
    print("the configuration is valid")
    cycles = module.cycles_model(config)
    cycles = cycles[0] if isinstance(cycles, tuple) else cycles  # XyloAudio 2's also counts synapse-2 operations
    print(f"{meta['cost_estimate']['source']}: {cycles:.0f} clock cycles per step with every neuron firing; "
          f"real time at dt {meta['dt']:g} s needs {module.est_clock_freq(config, meta['dt']) / 1e6:.3g} MHz")
    hdks, _, versions = find_xylo_hdks()
    if meta["variant"] not in versions:
        print(f"no {meta['variant']} board found (connected Xylo boards: {', '.join(versions) or 'none'})")
        return None if steps is None else module.XyloSim.from_config(config, dt=meta["dt"]).evolve(steps)[0]
    chip = module.XyloSamna(hdks[versions.index(meta["variant"])], config, dt=meta["dt"])
    print(f"the configuration is on the {meta['variant']} board")
    return None if steps is None else chip.evolve(steps)[0]


def main(argv=None) -> int:
    here = Path(__file__).resolve()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=here.with_name(here.stem.removeprefix("load_") + "_spec.json"),
                        help="the specification's JSON (default: the one beside this script)")
    parser.add_argument("--input", type=Path, help="input spikes to run, a .npy of integers [T, channels]")
    parser.add_argument("--output", type=Path, help="where to save the output spikes [T, outputs] (.npy)")
    args = parser.parse_args(argv)
    meta, spec = load_specification(args.spec)
    print(f"loaded {meta['module']}.{meta['function']}'s {len(spec)} arguments for {meta['chip']} "
          f"({meta['variant']}), dt {meta['dt']:g} s, {meta['quantisation']} quantisation")
    steps = None if args.input is None else np.load(args.input).astype(int)
    try:
        out = on_chip_machine(meta, spec, steps)
    except ModuleNotFoundError as error:
        if error.name != "samna":
            raise
        print(f"samna is not installed: {meta['module']} imports it, so {meta['function']} cannot build or "
              "validate the configuration here, and no board can be found")
        out = None if steps is None else simulate(meta, spec, steps)
    if out is not None:
        print(f"{int(np.sum(out))} output spikes in {len(out)} steps")
        if args.output is not None:
            np.save(args.output, np.asarray(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
