"""Target profiles: what a target accepts, as data (targets/*.yaml), validated on load."""

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional, Union

import yaml

from ..errors import ProfileError

DT_MODES = ("free", "fixed", "range")
RESET_MODES = ("hard", "subtract", "subtract-delayed")
KEYS = {
    "name": str,
    "description": str,
    "adapter": str,
    "nodes": list,
    "recurrent": bool,
    "per_neuron_parameters": bool,
    "uniform_per_population": list,
    "reset_modes": list,
    "dt": dict,
    "formats": dict,
    "limits": dict,
    "conventions": dict,
    "default_variant": str,
    "variants": dict,
}
REQUIRED = ("name", "description", "nodes", "recurrent", "reset_modes", "dt", "limits", "conventions")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    nodes: tuple
    recurrent: bool
    reset_modes: tuple
    dt: dict
    limits: dict
    conventions: dict
    source: str
    adapter: Optional[str] = None
    per_neuron_parameters: bool = True
    uniform_per_population: tuple = ()
    formats: dict = field(default_factory=dict)
    default_variant: Optional[str] = None
    variants: dict = field(default_factory=dict)

    @property
    def hop_delay(self) -> int:
        return int(self.conventions.get("hop_delay", 0))

    def delay(self, hops: int) -> int:
        """Steps a node ``hops`` weight layers from the input lags the reference: the first hop adds
        ``conventions.first_hop_delay`` (default: ``hop_delay``), each later hop ``hop_delay``."""
        first = int(self.conventions.get("first_hop_delay", self.hop_delay))
        return 0 if hops == 0 else first + self.hop_delay * (hops - 1)

    def for_variant(self, variant: Optional[str]) -> "Profile":
        """This profile with a chip variant's limits laid over the common ones."""
        variant = variant or self.default_variant
        if variant is None:
            return self
        if variant not in self.variants:
            raise ProfileError(f"target '{self.name}' has no variant '{variant}'; its variants: {', '.join(self.variants)}")
        limits = {**self.limits, **self.variants[variant].get("limits", {})}
        return Profile(**{**self.__dict__, "limits": limits, "name": f"{self.name}:{variant}"})


def _fail(source: str, key: str, problem: str):
    raise ProfileError(f"target profile {source}: key '{key}' {problem}")


def parse_profile(data, source: str) -> Profile:
    """Validate a profile's content; every mistake names the file and the key."""
    if not isinstance(data, dict):
        raise ProfileError(f"target profile {source}: expected a mapping of keys, got {type(data).__name__}")
    for key, value in data.items():
        if key not in KEYS:
            _fail(source, key, f"is not a profile key; known keys: {', '.join(KEYS)}")
        if not isinstance(value, KEYS[key]):
            _fail(source, key, f"must be a {KEYS[key].__name__}, got {type(value).__name__} ({value!r})")
    for key in REQUIRED:
        if key not in data:
            _fail(source, key, "is missing")
    if data["dt"].get("mode") not in DT_MODES:
        _fail(source, "dt", f"needs mode: one of {', '.join(DT_MODES)}; got {data['dt'].get('mode')!r}")
    if data["dt"]["mode"] == "fixed" and not isinstance(data["dt"].get("value"), (int, float)):
        _fail(source, "dt", "with mode: fixed needs a numeric value")
    if data["dt"]["mode"] == "range" and not all(isinstance(data["dt"].get(k), (int, float)) for k in ("min", "max")):
        _fail(source, "dt", "with mode: range needs numeric min and max")
    for mode in data["reset_modes"]:
        if mode not in RESET_MODES:
            _fail(source, "reset_modes", f"lists {mode!r}; allowed: {', '.join(RESET_MODES)}")
    for key, value in data["limits"].items():
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            _fail(source, f"limits.{key}", f"must be a positive number or null, got {value!r}")
    for name, variant in data.get("variants", {}).items():
        if not isinstance(variant, dict) or not isinstance(variant.get("limits", {}), dict):
            _fail(source, f"variants.{name}", "must be a mapping with an optional 'limits' mapping")
    if data.get("default_variant") and data["default_variant"] not in data.get("variants", {}):
        _fail(source, "default_variant", f"names {data['default_variant']!r}, which is not under variants")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return Profile(**fields, source=source)


def load_profile(path: Union[str, Path]) -> Profile:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"target profile {path} could not be read: {error}") from error
    return parse_profile(data, str(path))


@functools.cache
def builtin_profiles() -> dict:
    """The profiles shipped in the wheel (targets/*.yaml, installed as nirdeploy.profiles), parsed
    once per process: every get_target, check and compare looks them up."""
    folder = resources.files("nirdeploy.profiles")
    profiles = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            with resources.as_file(entry) as path:
                profile = load_profile(path)
            profiles[profile.name] = profile
    return profiles
