"""The reference target: nirdeploy's own simulator, the model import_from_nir builds."""

import torch

from ..from_nir import build_model, default_dtype
from ..semantics import Semantics
from .base import Deployment, Target, graph_module_runner


class ReferenceTarget(Target):
    def runtime_status(self) -> tuple:
        return True, f"torch {torch.__version__}"

    def deploy(self, semantics: Semantics, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Deployment:
        """The model import_from_nir builds, on ``device`` in ``dtype``."""
        with default_dtype(dtype):
            gm = build_model(semantics)
        gm.to(device=device, dtype=dtype)
        return Deployment(self.name, gm, graph_module_runner(gm, f"reference ({semantics.producer}'s conventions)", device))
