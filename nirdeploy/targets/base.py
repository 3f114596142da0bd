"""The interface every target adapter implements, and the deployment it returns."""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from spikingjelly.activation_based import functional
from tqdm import tqdm

from ..errors import TargetError
from ..semantics import Semantics
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

    def run(self, *inputs: torch.Tensor, record: bool = False, progress: bool = False):
        outputs, layers = self.runner(inputs, record, progress)
        return (outputs, layers) if record else outputs


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

    def deploy(self, semantics: Semantics, **options) -> Deployment:
        """Convert a resolved graph (``semantics.graph`` at ``semantics.dt``, each neuron's
        ``semantics.dynamics``) that passed check; the target's own options as keywords."""
        raise TargetError(f"target '{self.name}' has a profile but no adapter in this version of nirdeploy; "
                          "nirdeploy.check works for it, deployment does not yet")


def graph_module_runner(gm: torch.nn.Module, device: Optional[str] = None, block: int = 100) -> Callable:
    """Run an imported graph module over whole sequences, ``block`` steps per call (state carries
    over), recording neuron layers on request and showing a progress bar on request."""

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
            with torch.no_grad():
                for start in tqdm(starts, desc=f"{gm.meta['producer']}", unit="block", disable=not progress, leave=False):
                    chunk = (x[start : start + block].to(device) if device else x[start : start + block] for x in inputs)
                    outputs.append(gm(*chunk))
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
