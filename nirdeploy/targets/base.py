"""The interface every target adapter implements, and the deployment it returns."""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import nir
import numpy as np
import torch
from spikingjelly.activation_based import functional

from ..errors import InvalidArgumentError, TargetError
from ..progress import progress_bar
from ..semantics import Semantics
from ..validate import require_within_budget
from .profile import Profile


@dataclass
class Problem:
    node: str
    rule: str
    found: str
    limit: str
    suggestion: str
    severity: str = "error"  # "error": the target cannot run it; "warning": it runs, but not exactly


@dataclass
class Deployment:
    """A graph handed over to a target.

    ``native`` is the target's own object where it lives in this process;
    ``artifacts`` the files written for it; ``run`` takes input spikes
    ``[T, B, ...]`` (one tensor per graph input) and returns the outputs in the
    same layout, plus, with ``record=True``, each neuron layer's output by NIR
    node name where the target exposes it.
    """

    target: str
    native: Any
    runner: Callable
    artifacts: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # (Input node name, shape per sample), set by deploy_on
    values_per_sample: int = 0  # values every layer holds per step and sample, for the memory budget

    def run(self, *inputs, record: bool = False, progress: bool = False):
        """Outputs for ``inputs`` (tensors or numpy arrays ``[T, B, ...]``), checked first: one per graph
        input, of its shape, real and finite, at least one step and one sample."""
        if self.inputs:
            inputs = spike_inputs(inputs, self.inputs, f"target '{self.target}'")
            steps, batch = inputs[0].shape[:2]
            require_within_budget(4 * steps * batch * max(self.values_per_sample, 1),
                                  f"running {steps} steps x {batch} samples on target '{self.target}'",
                                  "run fewer steps or a smaller batch")
        outputs, layers = self.runner(inputs, record, progress)
        return (outputs, layers) if record else outputs


def graph_inputs(graph: nir.NIRGraph) -> list:
    """(name, per-sample shape) of each Input node, in the graph's order."""
    return [(name, tuple(int(d) for d in node.input_type["input"]))
            for name, node in graph.nodes.items() if isinstance(node, nir.Input)]


def spike_inputs(inputs, expected: list, where: str) -> tuple:
    """``inputs`` as contiguous float32 tensors ``[T, B, *shape]``, one per ``expected`` (name, shape),
    or an InvalidArgumentError naming the input, what it is and what the graph takes."""
    if len(inputs) != len(expected):
        raise InvalidArgumentError(f"{where} takes {len(expected)} input(s) ({', '.join(n for n, _ in expected)}), "
                                   f"got {len(inputs)}; give one [T, B, ...] array per graph input")
    return tuple(_spike_input(x, name, shape, where) for x, (name, shape) in zip(inputs, expected))


def _spike_input(x, name: str, shape: tuple, where: str) -> torch.Tensor:
    takes = f"[T, B, {', '.join(map(str, shape))}]"
    problem = lambda found: InvalidArgumentError(
        f"{where}: the input for '{name}' {found}; it takes {takes} spikes (T steps >= 1, B samples >= 1), "
        "real and finite")
    if isinstance(x, torch.Tensor):
        array = x.detach()
    else:
        try:
            array = np.asarray(x)
        except Exception:
            raise problem(f"is a {type(x).__name__}, not an array") from None
        if array.dtype.kind not in "biuf":
            raise problem(f"is an array of {array.dtype}")
        array = torch.from_numpy(np.ascontiguousarray(array))
    if array.is_complex() or not (array.is_floating_point() or array.dtype in _WHOLE):
        raise problem(f"is a tensor of {array.dtype}")
    if array.ndim < 3 or not _fits(shape, tuple(array.shape[2:])) or 0 in array.shape[:2]:
        raise problem(f"has shape {list(array.shape)}")
    array = array.float().contiguous()
    if array.numel() and not torch.isfinite(torch.stack(torch.aminmax(array))).all():  # NaN and infs reach min or max
        raise problem(f"holds {int((~torch.isfinite(array)).sum())} NaN or infinite value(s)")
    return array


_WHOLE = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _fits(declared: tuple, given: tuple) -> bool:
    """A sample of ``given`` shape for an Input declared ``declared``: equal, or the declaration carries an
    exporter's leading batch or time dims of 1."""
    extra = len(declared) - len(given)
    return extra >= 0 and declared[extra:] == given and all(d == 1 for d in declared[:extra])


class Target:
    """A target: its profile, the checks its profile cannot express, conversion and running.

    The base class serves targets that have a profile but no adapter yet:
    ``check`` works for them, ``deploy`` says that it does not.
    """

    def __init__(self, profile: Profile):
        self.profile = profile

    @property
    def name(self) -> str:
        return self.profile.name

    def runtime_status(self) -> tuple:
        """(ready, detail): whether this target's runtime is installed here."""
        return False, "no adapter in this version of nirdeploy: check works, deploy does not"

    def check_graph(self, semantics: Semantics) -> list:
        """Problems beyond the profile's generic rules (a list of :class:`Problem`)."""
        return []

    def resources(self, semantics: Semantics) -> dict:
        """Resource name -> count, where the adapter counts from its own mapping what check's generic counts
        from the graph's nodes would get wrong (a mapping's real fan-in, say); none by default."""
        return {}

    def write_hardware(self, deployment: Deployment, folder) -> list:
        """Write into ``folder`` the files the target's own toolchain loads for ``deployment`` (a chip
        configuration, a network file) and return their paths; a TargetError saying why where this graph
        has no such file. Targets without hardware write nothing."""
        return []

    def check_option_values(self, options: dict) -> None:
        """Refuse a deploy option value the adapter cannot use; ``options`` holds every option of
        ``deploy``, defaults filled in. Called before export and build, so a typo costs nothing."""

    def deploy(self, semantics: Semantics, **options) -> Deployment:
        """Convert a resolved graph (``semantics.graph`` at ``semantics.dt``, each neuron's
        ``semantics.dynamics``) that passed check; the target's own options as keywords."""
        raise TargetError(f"target '{self.name}' has a profile but no adapter in this version of nirdeploy; "
                          "nirdeploy.check works for it, deployment does not yet")


def graph_module_runner(gm: torch.nn.Module, label: str, device: Optional[str] = None, block: int = 100) -> Callable:
    """Run an imported graph module over whole sequences, ``block`` steps per call (state carries
    over), recording neuron layers on request and showing a progress bar, named ``label``, on request."""

    def run(inputs, record: bool, progress: bool = False):
        functional.reset_net(gm)
        functional.set_step_mode(gm, "m")
        layers, hooks = {}, []
        if record:
            for nir_name in gm.meta["neurons"]:
                module = gm.get_submodule(gm.meta["nir_modules"][nir_name])
                hooks.append(module.register_forward_hook(_recorder(layers, nir_name)))
        steps = inputs[0].shape[0]
        starts = range(0, steps, block)
        outputs = []
        try:
            with torch.no_grad(), progress_bar(label=label, enabled=progress, total=steps) as bar:
                for start in starts:
                    chunk = (x[start : start + block].to(device) if device else x[start : start + block] for x in inputs)
                    outputs.append(gm(*chunk))
                    bar.update(min(block, steps - start))
        finally:
            for hook in hooks:
                hook.remove()
        return _concat(outputs), {name: torch.cat(chunks) for name, chunks in layers.items()}

    return run


def _concat(blocks: list):
    if isinstance(blocks[0], tuple):
        return tuple(torch.cat(parts).cpu() for parts in zip(*blocks))
    return torch.cat(blocks).cpu()


def _recorder(layers: dict, name: str):
    """A hook that keeps a layer's output blocks, as ``[steps, B, ...]`` pieces."""

    def hook(module, args, output):
        step = output if module.step_mode == "m" else output.unsqueeze(0)
        layers.setdefault(name, []).append(step.detach().cpu())

    return hook
