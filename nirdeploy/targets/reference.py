"""The reference target: nirdeploy's own simulator, the model import_from_nir builds."""

import torch

from ..from_nir import import_from_nir
from .base import Deployment, Target, graph_module_runner


class ReferenceTarget(Target):
    def runtime_status(self) -> tuple:
        return True, f"torch {torch.__version__}"

    def deploy(self, graph, dt, device: str = "cpu", **options) -> Deployment:
        gm = import_from_nir(graph, dt=dt, device=device, step_mode="m", **options)
        return Deployment(self.name, gm, graph_module_runner(gm, device))
