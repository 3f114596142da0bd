"""Mutation testing: plant one deliberate bug at a time in a copy of nirdeploy and run the tests that
must catch it.

    .venv/bin/python scripts/mutants.py                 # every mutant, against its own test files
    .venv/bin/python scripts/mutants.py --all-tests     # every mutant, against the whole suite (slow)
    .venv/bin/python scripts/mutants.py --only ref-ge-strict --only lava-u-decay
    .venv/bin/python scripts/mutants.py --write         # and regenerate docs/testing.md's table

Each mutant replaces one exact piece of source (it must occur exactly once, so that a mutant that no
longer applies fails loudly instead of testing nothing) in its own copy of the checkout (the package,
its tests, docs and configs, taken once when the script starts, so that editing the checkout meanwhile
changes nothing); its tests run there with that copy first on PYTHONPATH, so the CLI and the Lava
worker they start use the mutated code too. A mutant is caught when a test fails, surviving when every
test passes. The unmutated copy runs first against every test file named here: a failing baseline
makes every mutant look caught, so the script stops.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docfigures import write_figures  # noqa: E402

TIMEOUT = 1800  # s per mutant: a mutant that makes a test hang counts as caught, with its reason


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str  # the bug, in words
    file: str  # under nirdeploy/
    old: str
    new: str
    tests: tuple  # the test files that hold the truth it must contradict
    issue: bool = False  # one of the mutants issue #14 lists


SEMANTICS = ("tests/test_semantics.py",)
PRODUCERS = ("tests/test_producers.py", "tests/test_ties.py")
LAVA = ("tests/test_lava_mapping.py", "tests/test_lava_target.py", "tests/test_loihi_emulation.py")
XYLO = ("tests/test_xylo_mapping.py", "tests/test_xylo_target.py")

MUTANTS = [
    # --- the threshold test, on every path that decides a spike ------------------------------------------------
    Mutant("ref-ge-strict", "reference neurons fire on h > thr instead of h >= thr (no-grad path)", "neurons.py",
           "spike = (h - v_threshold >= 0).to(h.dtype)", "spike = (h - v_threshold > 0).to(h.dtype)",
           ("tests/test_ties.py", *SEMANTICS), issue=True),
    Mutant("ref-grad-sign", "the grad-enabled spike is computed on thr - h (sign inverted)", "neurons.py",
           "spike = surrogate_function(h - v_threshold)", "spike = surrogate_function(v_threshold - h)",
           ("tests/test_ties.py", "tests/test_readme.py"), issue=True),
    Mutant("threshold-node-ge", "NIR Threshold fires on x >= threshold (nir defines x > threshold; #14 had it "
           "the other way round)", "layers.py", "return (x > self.threshold).to(x.dtype)",
           "return (x >= self.threshold).to(x.dtype)", ("tests/test_ties.py", "tests/test_import_nodes.py"), issue=True),
    Mutant("rockpool-strict", "the Rockpool preset fires on v > thr", "neurons.py",
           "spikes = (v >= p.v_threshold) * torch.floor", "spikes = (v > p.v_threshold) * torch.floor", PRODUCERS,
           issue=True),
    Mutant("snntorch-leaky-ge", "the snnTorch Leaky preset fires on v >= thr", "neurons.py",
           'return heaviside(v - p.v_threshold), {"v": v}\n', 'return (v >= p.v_threshold).to(v.dtype), {"v": v}\n',
           PRODUCERS, issue=True),
    Mutant("snntorch-synaptic-ge", "the snnTorch Synaptic preset fires on v >= thr", "neurons.py",
           'return heaviside(v - p.v_threshold), {"v": v, "i": i}',
           'return (v >= p.v_threshold).to(v.dtype), {"v": v, "i": i}', PRODUCERS, issue=True),
    Mutant("norse-box-ge", "the Norse LIFBoxCell preset fires on v >= thr", "neurons.py",
           '(x + p.v_leak - s["v"])\n    z = heaviside(v - p.v_threshold)',
           '(x + p.v_leak - s["v"])\n    z = (v >= p.v_threshold).to(v.dtype)', PRODUCERS, issue=True),
    Mutant("norse-iaf-ge", "the Norse IAFCell preset fires on v >= thr", "neurons.py",
           'v = s["v"] + x\n    z = heaviside(v - p.v_threshold)', 'v = s["v"] + x\n    z = (v >= p.v_threshold).to(v.dtype)',
           PRODUCERS, issue=True),
    Mutant("lava-float-strict", "Lava float fires on v > 1 where the producer tests v >= 1", "targets/lava/lava_worker/network.py",
           "FLOAT_VTH = np.nextafter(1.0, 0.0)", "FLOAT_VTH = 1.0", ("tests/test_ties.py", *LAVA), issue=True),
    Mutant("snntorch-target-strict", "the snnTorch target drops the threshold's next float below for >=",
           "targets/snntorch.py", 'if d.threshold_test == ">=":', "if False:", ("tests/test_ties.py",
                                                                                 "tests/test_snntorch_target.py")),
    Mutant("emulation-ge", "the Loihi emulation fires on v >= vth << 6", "targets/lava/emulation_kernel.py",
           "fired[i] = y > threshold[i]", "fired[i] = y >= threshold[i]", LAVA),
    Mutant("emulation-floor", "the emulation's decays round towards -inf instead of towards 0",
           "targets/lava/emulation_kernel.py",
           "((product >> 63) & (DECAY_UNIT - 1))", "0", LAVA),
    # --- the Loihi mapping ---------------------------------------------------------------------------------------
    Mutant("lava-u-decay", "Loihi's du loses its -1 (the bit-accurate model decays u by du + 1)",
           "targets/lava/lava_worker/mapping.py", "astype(np.int64) - 1  # the bit-accurate",
           "astype(np.int64)  # the bit-accurate", LAVA, issue=True),
    Mutant("lava-vth-ceil", "the threshold mantissa rounds up, so the largest weight passes 254",
           "targets/lava/lava_worker/mapping.py", "np.floor(largest_mantissa(self.weight_bits) / peak)",
           "np.ceil(largest_mantissa(self.weight_bits) / peak)", LAVA),
    Mutant("lava-odd-mantissas", "mixed-sign weights keep odd mantissas (lava-nc keeps even ones)",
           "targets/lava/lava_worker/mapping.py", "bits + int(mixed))", "bits)", LAVA),
    Mutant("lava-leak-offset", "the normalised leak forgets v_reset's pull, (drive - dv v_reset) / span",
           "targets/lava/lava_worker/mapping.py", "leak = (per_neuron(d.drive) - dv * per_neuron(d.v_reset)) / span",
           "leak = per_neuron(d.drive) / span", LAVA),
    Mutant("emulation-u-decay", "the emulation decays u by du instead of du + 1", "targets/lava/emulation.py",
           'DECAY_UNIT - (p["du"] + 1)', 'DECAY_UNIT - p["du"]', LAVA),
    # --- the Xylo mapping ----------------------------------------------------------------------------------------
    Mutant("xylo-channel-ignored", "quantisation='channel' silently runs Rockpool's global quantiser", "targets/xylo.py",
           'quantiser = global_quantize if quantisation == "global" else channel_quantize',
           "quantiser = global_quantize", XYLO, issue=True),
    Mutant("xylo-lif-dash-syn", "a LIF gets dash_syn = 2 instead of Xylo's shortest synapse, 1", "targets/xylo.py",
           "dash_syn, current_decay, current_gain = np.ones(size), 0.0, 1.0",
           "dash_syn, current_decay, current_gain = np.full(size, 2.0), 0.0, 1.0", XYLO, issue=True),
    Mutant("xylo-dash-floor", "a decay's dash is floored instead of rounded", "targets/xylo.py",
           "return np.round(np.minimum(shifts, 63)).astype(int)", "return np.floor(np.minimum(shifts, 63)).astype(int)",
           XYLO),
    Mutant("xylo-bias-scale", "biases keep Rockpool's quantiser scale (its bugs) instead of their threshold's",
           "targets/xylo.py", 'spec[f"bias{suffix}"] = np.round(floats[f"bias{suffix}"] * ratio).astype(int)',
           'spec[f"bias{suffix}"] = np.round(spec[f"bias{suffix}"]).astype(int)', XYLO),
    # --- producers' dynamics -------------------------------------------------------------------------------------
    Mutant("norse-v-initial", "Norse's LIFBoxCell starts v at 0 instead of v_leak", "semantics.py",
           '"norse.lif_box", native, v_initial=_array(node.v_leak), ', '"norse.lif_box", native, ',
           (*PRODUCERS, "tests/test_loihi_emulation.py"), issue=True),
    Mutant("cuba-old-current", "CubaLIF's membrane takes last step's current (strict forward Euler)", "neurons.py",
           "    i = i * current_decay + x * current_gain\n    v = v * voltage_decay + i * voltage_gain + v_leak * (1.0 - voltage_decay)\n",
           "    v = v * voltage_decay + i * voltage_gain + v_leak * (1.0 - voltage_decay)\n    i = i * current_decay + x * current_gain\n",
           ("tests/test_equations.py", "tests/test_import_nodes.py")),
    Mutant("hard-reset-to-zero", "a hard reset goes to 0 instead of v_reset", "neurons.py",
           "return spike, spike * v_reset + (1.0 - spike) * h", "return spike, (1.0 - spike) * h",
           ("tests/test_equations.py", "tests/test_roundtrip.py")),
    Mutant("sinabs-no-lower-bound", "Sinabs' IAF loses its lower bound min_v_mem = -thr", "neurons.py",
           'return spikes, {"v": torch.maximum(v - spikes * p.v_threshold, p.v_min)}',
           'return spikes, {"v": v - spikes * p.v_threshold}', PRODUCERS),
    Mutant("rockpool-one-spike", "Rockpool's neurons emit one spike per step instead of floor(v / thr)", "neurons.py",
           "spikes = (v >= p.v_threshold) * torch.floor(v / p.v_threshold)", "spikes = (v >= p.v_threshold) * 1.0",
           PRODUCERS),
    # --- dt ------------------------------------------------------------------------------------------------------
    Mutant("dt-tolerance", "the dt check accepts dts 60% apart", "semantics.py",
           "math.isclose(recorded, dt, rel_tol=1e-9):", "math.isclose(recorded, dt, rel_tol=0.6):",
           (*SEMANTICS, "tests/test_api.py"), issue=True),
    Mutant("dt-override-recorded", "dt_override keeps the recorded dt", "semantics.py",
           "rel_tol=1e-9):\n        return dt\n",
           "rel_tol=1e-9):\n        return recorded if dt_override and recorded is not None else dt\n",
           (*SEMANTICS, "tests/test_api.py"), issue=True),
    # --- measuring agreement -------------------------------------------------------------------------------------
    Mutant("compare-no-delay", "compare stops shifting out a target's per-hop delay", "compare.py",
           "metrics = agreement(ref, got, profile.delay(hops.get(output_name, 0)), classifier)",
           "metrics = agreement(ref, got, 0, classifier)", ("tests/test_targets.py", "tests/test_snntorch_target.py")),
    Mutant("compare-no-layer-delay", "compare stops shifting out a layer's per-hop delay", "compare.py",
           "metrics = agreement(ref_layers[layer], got, profile.delay(hops.get(layer, 0)))",
           "metrics = agreement(ref_layers[layer], got)", ("tests/test_targets.py", "tests/test_snntorch_target.py")),
]


def mutated(mutant: Mutant, checkout: Path) -> str:
    """The mutant's file with its bug planted."""
    source = (checkout / "nirdeploy" / mutant.file).read_text()
    count = source.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name}: its source occurs {count} times in nirdeploy/{mutant.file} "
                         "(expected once); update the mutant to the code")
    return source.replace(mutant.old, mutant.new)


SNAPSHOT = (".ci", "nirdeploy", "tests", "benchmarks", "docs", "configs", "examples", "targets", "scripts",
            "README.md", "pyproject.toml")


def snapshot(folder: Path) -> Path:
    """The checkout's files the tests read, under ``folder``; the profiles also as nirdeploy.profiles (the
    package name they ship under, which the editable install maps to targets/)."""
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    for name in SNAPSHOT:
        source = ROOT / name
        (shutil.copytree(source, folder / name, ignore=ignore) if source.is_dir() else shutil.copy2(source, folder / name))
    shutil.copytree(ROOT / "targets", folder / "nirdeploy" / "profiles")
    return folder


def run_tests(tests: list, checkout: Path, timeout: float) -> tuple:
    """(passed, the first failing test or the reason) for ``tests`` run in ``checkout``, its package first."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    try:
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"the tests ran past {timeout} s"
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode == 0, (failed[0] if failed else done.stdout.strip().splitlines()[-1] if done.stdout else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutant only (repeatable)")
    parser.add_argument("--all-tests", action="store_true", help="run the whole suite for every mutant")
    parser.add_argument("--write", action="store_true", help="write docs/figures/mutants.json and docs/testing.md")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    args = parser.parse_args()
    unknown = set(args.only or ()) - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutant(s) {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in MUTANTS)}")
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.write and args.only:
        raise SystemExit("--write records every mutant; leave out --only")
    selection = lambda m: ["tests"] if args.all_tests else list(m.tests)
    with tempfile.TemporaryDirectory(prefix="nirdeploy-mutants-") as folder:
        original = snapshot(Path(folder) / "original")
        for mutant in chosen:  # every mutant applies, before anything runs
            mutated(mutant, original)
        if not args.no_baseline:
            tests = sorted({t for m in chosen for t in selection(m)})
            passed, detail = run_tests(tests, original, TIMEOUT)
            if not passed:
                raise SystemExit(f"the unmutated package fails its tests ({detail}); fix that first")
        results = []
        for mutant in chosen:
            checkout = Path(folder) / mutant.name
            shutil.copytree(original, checkout)
            (checkout / "nirdeploy" / mutant.file).write_text(mutated(mutant, checkout))
            start = time.perf_counter()
            passed, detail = run_tests(selection(mutant), checkout, TIMEOUT)
            shutil.rmtree(checkout)
            result = {"name": mutant.name, "what": mutant.what, "file": f"nirdeploy/{mutant.file}",
                      "issue": mutant.issue, "caught": not passed, "by": detail if not passed else None,
                      "tests": selection(mutant), "seconds": round(time.perf_counter() - start)}
            results.append(result)
            print(f"{'caught  ' if result['caught'] else 'SURVIVED'} {mutant.name}: {detail}", flush=True)
    surviving = [r["name"] for r in results if not r["caught"]]
    print(f"\n{len(results) - len(surviving)} of {len(results)} mutants caught; surviving: {', '.join(surviving) or 'none'}")
    if args.write:
        write_figures("mutants", render(results), {"results": results, "all_tests": args.all_tests,
                                                   "surviving": len(surviving), "mutants": len(results)},
                      quotable=[f"{len(surviving)} of {len(results)}"])
    sys.exit(1 if surviving else 0)


def render(results: list) -> str:
    surviving = sum(not r["caught"] for r in results)
    rows = ["| mutant | the bug | file | caught by |", "|---|---|---|---|"]
    for r in results:
        by = "**survived**" if not r["caught"] else f"`{r['by'].removeprefix('FAILED ').split(' - ')[0]}`"
        rows.append(f"| `{r['name']}`{' (#14)' if r['issue'] else ''} | {r['what']} | `{r['file']}` | {by} |")
    return "\n".join([f"{surviving} of {len(results)} mutants survive.", "", *rows])


if __name__ == "__main__":
    main()
