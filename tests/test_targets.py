"""Target profiles, the registry, check, and compare's bookkeeping."""

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import yaml

import nirdeploy
from nirdeploy import InvalidArgumentError, ProfileError, TargetError, UnsupportedNodeError
from nirdeploy.check import quantisation_error
from nirdeploy.compare import agreement, agreement_report
from nirdeploy.deploy import deploy_on
from nirdeploy.errors import cli_words
from nirdeploy.passes import synaptic_hops
from nirdeploy.semantics import resolve
from nirdeploy.targets import Target, available_targets, get_target
from nirdeploy.targets.profile import builtin_profiles, load_profile, parse_profile
from graphs import io, uniform_lif

ROOT = Path(__file__).resolve().parents[1]
GOOD = yaml.safe_load((ROOT / "targets" / "snntorch.yaml").read_text())


def test_builtin_profiles_load():
    assert set(builtin_profiles()) == {"reference", "snntorch", "lava", "xylo"}
    assert get_target("xylo:syns63300").profile.limits["hidden_neurons"] == 496
    assert get_target("xylo").profile.limits["hidden_neurons"] == 1000


@pytest.mark.parametrize(
    "change,key",
    [
        ({"colour": "red"}, "colour"),
        ({"recurrent": "yes"}, "recurrent"),
        ({"dt": {"mode": "sometimes"}}, "dt"),
        ({"dt": {"mode": "fixed"}}, "dt"),
        ({"reset_modes": ["hard", "sideways"]}, "reset_modes"),
        ({"limits": {"neurons": -3}}, "limits.neurons"),
        ({"default_variant": "nope"}, "default_variant"),
        ({"nodes": None}, "nodes"),
    ],
)
def test_malformed_profile_names_file_and_key(change, key, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **change}))
    with pytest.raises(ProfileError, match=f"{path}: key '{key}'"):
        load_profile(path)


def test_missing_key_and_unreadable_yaml(tmp_path):
    data = dict(GOOD)
    del data["limits"]
    with pytest.raises(ProfileError, match="key 'limits' is missing"):
        parse_profile(data, "x.yaml")
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ProfileError, match="broken.yaml could not be read"):
        load_profile(tmp_path / "broken.yaml")


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match="unknown target 'loihi3'.*lava.*snntorch"):
        get_target("loihi3")


def test_profiles_ship_in_the_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("nirdeploy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"nirdeploy/profiles/{t}.yaml" for t in ("reference", "snntorch", "lava", "xylo")} <= set(names)
    # the Lava worker, run by the Lava runtime from the installed package
    assert {"nirdeploy/targets/lava/lava_worker/__main__.py", "nirdeploy/targets/lava/lava_worker/recorder/models.py"} <= set(names)


def test_third_party_target_registers_through_an_entry_point(tmp_path, monkeypatch):
    """A distribution on sys.path with an entry point in the nirdeploy.targets group."""
    (tmp_path / "acme_chip.py").write_text(
        "from nirdeploy.targets import Target\n"
        "class AcmeTarget(Target):\n"
        f"    profile = {str(tmp_path / 'acme.yaml')!r}\n"
    )
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump({**GOOD, "name": "acme", "nodes": ["Input", "Output", "Affine", "IF"]}))
    info = tmp_path / "acme_chip-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-chip\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nirdeploy.targets]\nacme = acme_chip:AcmeTarget\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "acme" in available_targets()
    target = get_target("acme")
    assert type(target).__name__ == "AcmeTarget" and target.profile.nodes == ("Input", "Output", "Affine", "IF")


# --- check -------------------------------------------------------------------------------------------

def lif(n, tau=5e-3, **fields):
    return uniform_lif(n, tau=tau, **fields)


def graph(nodes, edges, dt=1e-3):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, metadata={"dt": dt})


def problems(report, rule):
    return [p for p in report.problems if p.rule == rule]


def test_check_lists_every_problem_at_once():
    (inp, _), (_, out) = io(20), io(12)
    bad = graph(
        {
            "input": inp,
            "fc": nir.Affine(np.random.default_rng(0).normal(size=(1200, 20)), np.zeros(1200)),
            "lif": lif(1200, tau=np.linspace(2e-3, 8e-3, 1200), v_reset=np.full(1200, 0.5)),
            "fc2": nir.Linear(np.ones((12, 1200))),
            "delay": nir.Delay(np.full(12, 1e-3)),
            "out_lif": lif(12, tau=5e-4),
            "output": out,
        },
        [("input", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "delay"), ("delay", "out_lif"), ("out_lif", "output")],
    )
    bad.nodes["lif"].metadata["reset_mode"] = "subtract"
    report = nirdeploy.check(bad, "xylo")
    assert not report.ok
    assert [p.found for p in problems(report, "node type")] == ["Delay"]
    assert problems(report, "tau >= dt")[0].node == "out_lif"
    assert problems(report, "reset mode")[0].node == "out_lif"  # hard reset; Xylo subtracts
    assert problems(report, "hidden_neurons limit")[0].found == "1200"
    assert problems(report, "inputs limit")[0].limit == "16"
    assert problems(report, "outputs limit")[0].found == "12"
    assert report.resources["hidden_neurons"] == {"used": 1200, "limit": 1000}
    decoded = json.loads(report.to_json())
    assert decoded["ok"] is False and len(decoded["problems"]) == len(report.problems)
    text = str(report)
    assert "hidden_neurons limit" in text and "fails" in text
    # A profile-only target with formats.weight_bits gets the generic per-layer weight rule.
    eight_bit = Target(parse_profile({**GOOD, "name": "eight_bit", "formats": {"weight_bits": 8}}, "e.yaml"))
    weights = problems(nirdeploy.check(bad, eight_bit), "8-bit weights")
    assert [p.node for p in weights] == ["fc"] and weights[0].severity == "warning"


def test_chip_variant_changes_the_limits():
    (inp, _), (_, out) = io(4), io(4)
    g = graph({"input": inp, "fc": nir.Linear(np.ones((600, 4))), "lif": lif(600), "fc2": nir.Linear(np.ones((4, 600))),
               "lif2": lif(4), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "lif2"), ("lif2", "output")])
    assert not problems(nirdeploy.check(g, "xylo"), "hidden_neurons limit")
    assert problems(nirdeploy.check(g, "xylo", variant="syns63300"), "hidden_neurons limit")[0].limit == "496"


def test_dt_rules(tmp_path):
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "lif": lif(3), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")], dt=1e-3)
    error = problems(nirdeploy.check(g, "snntorch", dt=5e-4), "recorded dt")[0]
    assert error.severity == "error" and "dt=0.001" in error.suggestion and "dt_override=True" in error.suggestion
    with cli_words():
        error = problems(nirdeploy.check(g, "snntorch", dt=5e-4), "recorded dt")[0]
    assert "--dt 0.001" in error.suggestion and "--dt-override" in error.suggestion
    warning = problems(nirdeploy.check(g, "snntorch", dt=5e-4, dt_override=True), "recorded dt")[0]
    assert warning.severity == "warning" and "re-discretised" in warning.suggestion and "factor 2" in warning.suggestion
    fixed = parse_profile({**GOOD, "name": "fixed", "dt": {"mode": "fixed", "value": 1e-4}}, "fixed.yaml")
    assert problems(nirdeploy.check(g, Target(fixed)), "dt")[0].limit == "0.0001 s (fixed)"
    ranged = parse_profile({**GOOD, "name": "ranged", "dt": {"mode": "range", "min": 1e-5, "max": 5e-4}}, "r.yaml")
    assert problems(nirdeploy.check(g, Target(ranged)), "dt")[0].found == "0.001 s"


def test_recurrence_and_uniformity_rules():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "lif": lif(3, v_threshold=np.array([1.0, 2.0, 3.0])),
               "rec": nir.Linear(np.eye(3)), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    strict = parse_profile({**GOOD, "name": "strict", "recurrent": False, "per_neuron_parameters": False}, "s.yaml")
    report = nirdeploy.check(g, Target(strict))
    assert problems(report, "recurrence")[0].found == "recurrent edge lif -> rec"
    assert problems(report, "uniform parameters")[0].found == "v_threshold differs per neuron"
    g.nodes["lif"].tau = np.array([2e-3, 2e-3, 4e-3])
    split = problems(nirdeploy.check(g, "lava"), "one value per process")[0]
    assert split.severity == "warning" and split.found == "2 distinct tau"


def test_algebraic_loop_is_a_problem():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "scale": nir.Scale(np.ones(3)), "output": out},
              [("input", "fc"), ("fc", "scale"), ("scale", "fc"), ("scale", "output")])
    (loop,) = problems(nirdeploy.check(g, "snntorch"), "algebraic loop")
    assert "fc -> scale -> fc" in loop.found


def test_a_reset_at_or_above_the_threshold_is_refused_for_every_target():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "lif": lif(3, v_reset=np.full(3, 1.5)), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    for target in ("reference", "snntorch", "lava", "xylo"):
        with pytest.raises(UnsupportedNodeError, match="node 'lif'.*v_threshold = .1.0, 1.0, 1.0.*must exceed v_reset"):
            nirdeploy.check(g, target)


def test_an_option_a_target_does_not_take_is_an_error_listing_its_options():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "lif": lif(3), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with pytest.raises(InvalidArgumentError, match="'snntorch' takes no deploy option.s. precision; its options: "
                                                   "device, dtype"):
        nirdeploy.deploy(g, "snntorch", precision="fixed")
    with pytest.raises(InvalidArgumentError, match="takes no deploy option.s. producer.*belong to the graph.*producer="):
        deploy_on(get_target("lava"), resolve(g, 1e-3), {"producer": "snntorch"})
    # compare's shared options reach the reference too, which refuses them by name
    with pytest.raises(InvalidArgumentError, match="'reference' takes no deploy option.s. precision"):
        nirdeploy.compare(g, torch.zeros(4, 1, 3), targets=["lava"], precision="fixed")


def test_target_without_adapter_says_so():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "fc": nir.Linear(np.eye(3)), "lif": lif(3), "output": out},
              [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    bare = Target(parse_profile({**GOOD, "name": "bare"}, "bare.yaml"))
    assert nirdeploy.check(g, bare).ok
    with pytest.raises(TargetError, match="'bare' has a profile but no adapter"):
        nirdeploy.deploy(g, bare)


def test_quantisation_error_by_hand():
    # 2 bits, peak 1: levels -1, 0, 1; 0.4 -> 0, 1.0 -> 1: error sqrt(0.16/2) / sqrt((0.16+1)/2)
    assert quantisation_error(np.array([0.4, 1.0]), 2) == pytest.approx(np.sqrt(0.16 / 1.16))


# --- compare's bookkeeping ---------------------------------------------------------------------------

def test_agreement_by_hand():
    ref = torch.zeros(6, 2, 3)
    ref[1, 0, 0] = ref[3, 1, 2] = ref[4, 1, 1] = 1
    late = torch.cat([torch.zeros(2, 2, 3), ref[:-2]])  # the same spikes two steps later; t=4 falls off the end
    exact = agreement(ref, late, delay=2, classifier=True)
    assert exact["spike_train_match"] == 1.0 and exact["first_divergence"] is None and exact["steps_compared"] == 4
    assert exact["count_correlation"] == 1.0
    off = agreement(ref, late, delay=0, classifier=True)
    assert off["first_divergence"] == 1
    # differing values: t=1 (missing), t=3 (one missing, one extra), t=4 (missing), t=5 (extra): 5 of 36
    assert off["spike_train_match"] == pytest.approx(31 / 36)
    assert off["spike_count_match"] == pytest.approx(5 / 6)  # only neuron (1, 1) counts 1 vs 0
    assert off["class_agreement"] == 0.5  # sample 1: class 1 (tied with 2, first wins) vs class 2


def test_agreement_report_shifts_out_each_targets_hop_delay():
    """Two weight layers: Lava (one step per hop) lags the reference by 2 steps at the output and 1 at the
    first layer; a run that is the reference shifted so must match exactly, output and layers."""
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "a": nir.Linear(np.eye(3)), "n1": lif(3), "b": nir.Linear(np.eye(3)), "n2": lif(3),
               "output": out}, [("input", "a"), ("a", "n1"), ("n1", "b"), ("b", "n2"), ("n2", "output")])
    semantics = resolve(g)
    n1 = (torch.rand(8, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    n2 = (torch.rand(8, 2, 3, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    late = lambda x, steps: torch.cat([torch.zeros(steps, 2, 3), x])  # run_targets pads inputs as long
    runs = {"reference": ((n2,), {"n1": n1, "n2": n2}, 0.0),
            "lava": ((late(n2, 2),), {"n1": late(n1, 1), "n2": late(n2, 2)}, 0.0)}
    rows = {(r["kind"], r["name"]): r for r in agreement_report(semantics, runs).rows}
    assert {key: r["delay_compensated"] for key, r in rows.items()} == {
        ("output", "output"): 2, ("layer", "n1"): 1, ("layer", "n2"): 2}
    assert all(r["spike_train_match"] == 1.0 and r["steps_compared"] == 8 for r in rows.values())


def test_synaptic_hops_count_weight_layers():
    (inp, _), (_, out) = io(3), io(3)
    g = graph({"input": inp, "a": nir.Linear(np.eye(3)), "n1": lif(3), "b": nir.Linear(np.eye(3)), "n2": lif(3),
               "rec": nir.Linear(np.eye(3)), "output": out},
              [("input", "a"), ("a", "n1"), ("n1", "b"), ("b", "n2"), ("n2", "rec"), ("rec", "n2"), ("n2", "output")])
    # n2 -> rec is the recurrent edge, so rec lies on no feed-forward path
    assert synaptic_hops(g) == {"input": 0, "a": 1, "n1": 1, "b": 2, "n2": 2, "output": 2}


@pytest.mark.parametrize("dims, stride, padding, dilation, groups", [
    (2, (2, 1), (1, 0), (1, 2), 1), (2, 1, "same", (2, 1), 2), (2, 3, "valid", 1, 1), (1, 2, 2, 1, 2), (1, 1, "same", 3, 1)])
def test_check_counts_a_convolutions_synapses_as_torch_connects_them(dims, stride, padding, dilation, groups):
    """The truth: torch's own convolution of every unit input (all-ones kernel), counting the (output, input)
    pairs it connects; check counts them from the shapes alone."""
    spatial, channels, out_channels = ((9, 7) if dims == 2 else (11,)), 4, 6
    kernel = (3, 2) if dims == 2 else (3,)
    weight = np.ones((out_channels, channels // groups) + kernel)
    convolve = torch.nn.functional.conv2d if dims == 2 else torch.nn.functional.conv1d
    basis = torch.eye(channels * math.prod(spatial), dtype=torch.float64).reshape(-1, channels, *spatial)
    unrolled = convolve(basis, torch.from_numpy(weight), stride=stride, padding=padding, dilation=dilation, groups=groups)
    node = (nir.Conv2d if dims == 2 else nir.Conv1d)(
        input_shape=spatial if dims == 2 else spatial[0], weight=weight, stride=stride, padding=padding,
        dilation=dilation, groups=groups, bias=np.zeros(out_channels))
    out_shape = tuple(unrolled.shape[1:])
    (inp, _), (_, out) = io((channels,) + spatial), io(out_shape)
    neuron = nir.IF(r=np.ones(out_shape), v_threshold=np.ones(out_shape), v_reset=np.zeros(out_shape))
    g = nir.NIRGraph(nodes={"input": inp, "conv": node, "if": neuron, "output": out},
                     edges=[("input", "conv"), ("conv", "if"), ("if", "output")], type_check=False)
    assert nirdeploy.check(g, "reference", dt=1e-3).resources["synapses"]["used"] == int(torch.count_nonzero(unrolled))
