"""The reference target: nirdeploy's own simulator, the model import_from_nir builds."""

import torch

from ..from_nir import import_from_nir
from .base import Deployment, Target, graph_module_runner


class ReferenceTarget(Target):
    def runtime_status(self) -> tuple:
        return True, f"torch {torch.__version__}"

    def deploy(self, graph, dt, device: str = "cpu", dtype: torch.dtype = torch.float32, producer=None,
               dt_override: bool = False) -> Deployment:
        """The options are import_from_nir's."""
        gm = import_from_nir(graph, dt=dt, device=device, dtype=dtype, step_mode="m", producer=producer,
                             dt_override=dt_override)
        return Deployment(self.name, gm, graph_module_runner(gm, device))
