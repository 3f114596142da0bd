"""Graphs written by snnTorch, Norse, Rockpool and Sinabs, imported with each one's conventions."""

import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

import nirdeploy
from nirdeploy.semantics import SNNTORCH_DT, snntorch_parameters

from producer_cases import CASES, measure, render_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import record  # noqa: E402

PRODUCER_WORDS = {"snntorch": "snnTorch", "norse": "Norse", "rockpool": "Rockpool", "sinabs": "Sinabs"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("producers")
    return {name: measure(name, folder, on_targets=True) for name in CASES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_producer_output_is_reproduced(name, results):
    r = results[name]
    assert r["active"] > 0.02, "the producer's own output must show real activity"
    if CASES[name][3]:  # a documented limit of the producer: the measured agreement stays as documented
        assert r["differ"] > 0
    else:
        assert r["differ"] == 0, f"{r['differ']} of {r['values']} output values differ"


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if not CASES[n][3]])
def test_single_step_mode_agrees_too(name, tmp_path):
    assert measure(name, tmp_path, step_mode="s")["differ"] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_targets_agree_where_they_compute_the_producers_rules(name, results):
    """Where check passes and warns of no rule the target computes differently, snnTorch and Lava (float)
    give the reference's spikes exactly; a refusal names the producer's rule."""
    for target, result in results[name]["targets"].items():
        if not result["ok"] and result["why"].startswith(("reset mode", "initial v")):
            assert PRODUCER_WORDS[CASES[name][0]] in result["why"], result
        elif result["ok"] and target in ("snntorch", "lava") and not result["differences"]:
            assert result["match"] == 1.0 or (result["match"] is None and result["max_abs"] < 1e-5), (target, result)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_file_alone_suggests_its_producer(name, results):
    """Read without a producer, the file's marks name the framework that wrote it, and only that one."""
    assert results[name]["suspects"] == [results[name]["producer"]]


def test_every_target_takes_some_foreign_file(results):
    for target in ("snntorch", "lava", "xylo"):
        assert any(r["targets"][target]["ok"] for r in results.values()), target


def test_interop_table_matches_measurements(results):
    assert render_table(results) == record("interop")["markdown"], "regenerate with scripts/write_interop_table.py"


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if CASES[n][0] == "snntorch"])
def test_snntorch_target_runs_snntorch_files_on_snntorch_neurons(name, tmp_path):
    x, expected = CASES[name][1](tmp_path / "graph.nir")
    out = nirdeploy.deploy(tmp_path / "graph.nir", "snntorch", dt=1e-4, producer="snntorch").run(x)
    assert expected.sum() > 0 and torch.equal(out, expected)


def test_snntorch_beta_recovery_undoes_the_exporters_rounding():
    """snnTorch's exporter computes tau = dt/(1-beta), r = tau/dt in float32 (numpy, as export_nir.py does)."""
    beta = np.random.default_rng(0).uniform(0.5, 0.999, 20000).astype(np.float32)
    tau = np.float32(SNNTORCH_DT) / (np.float32(1) - beta)
    r = tau / np.float32(SNNTORCH_DT)
    node = nir.LIF(tau=tau, r=r, v_leak=np.zeros_like(tau), v_threshold=np.ones_like(tau), v_reset=np.zeros_like(tau))
    naive = (1.0 - SNNTORCH_DT / tau.astype(np.float64)).astype(np.float32)
    assert (naive != beta).sum() > 0, "the naive inverse must miss some, or this test proves nothing"
    assert np.array_equal(snntorch_parameters("lif", node)["beta"], beta)
