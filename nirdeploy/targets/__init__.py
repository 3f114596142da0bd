"""Targets: the places a NIR graph can be deployed to, one adapter and one profile each.

Built-in profiles are ``targets/*.yaml`` (installed as ``nirdeploy.profiles``);
a profile's ``adapter`` names the class that converts and runs graphs. A
third-party target registers a :class:`Target` subclass (with a ``profile``
attribute, a :class:`Profile` or a path to its YAML) in the entry-point group
``nirdeploy.targets``.
"""

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Optional

from ..errors import TargetError
from .base import Deployment, Problem, Target
from .profile import Profile, builtin_profiles, load_profile

ENTRY_POINT_GROUP = "nirdeploy.targets"


def _import(reference: str):
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _plugin_targets() -> dict:
    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        profile = cls.profile if isinstance(cls.profile, Profile) else load_profile(Path(cls.profile))
        found[profile.name] = (profile, cls)
    return found


def available_targets() -> dict:
    """name -> (profile, adapter class or None) for built-in and plugin targets."""
    targets = {name: (p, _import(p.adapter) if p.adapter else None) for name, p in builtin_profiles().items()}
    targets.update(_plugin_targets())
    return targets


def get_target(name: str, variant: Optional[str] = None) -> Target:
    """The target called ``name`` (``xylo:syns63300`` picks a chip variant)."""
    name, _, suffix = name.partition(":")
    targets = available_targets()
    if name not in targets:
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(sorted(targets))}")
    profile, adapter = targets[name]
    profile = profile.for_variant(variant or suffix or None)
    return (adapter or Target)(profile)


__all__ = ["Deployment", "Problem", "Profile", "Target", "available_targets", "get_target", "ENTRY_POINT_GROUP"]
