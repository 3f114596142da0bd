"""Peak memory of the exchange (benchmarks/exchange.py) and the simulation (benchmarks/simulation.py).

Each contender runs in a fresh process that has imported the same libraries. It builds its
model and does its work twice: one export + write + read + import, or one T=100, batch-64
simulation of the 2000-2000-2000 MLP. Prints the process's peak resident set size (VmHWM)
above the memory it held after the imports, which covers building the model and the first
(cold) run, and the peak the second (warm) run added above the memory held before it, and writes
the table into docs/performance.md.

    .venv/bin/python benchmarks/memory.py
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import exchange
import simulation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from docfigures import write_figures  # noqa: E402


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_work(work, imported_kib: int) -> dict:
    work()
    cold_peak = status_kib("VmHWM")
    before = status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    work()
    warm_peak = status_kib("VmHWM")
    return {"peak_mib": (max(cold_peak, warm_peak) - imported_kib) / 1024, "warm_mib": (warm_peak - before) / 1024}


def child(stage: str, model: str, contender: str) -> dict:
    imported_kib = status_kib("VmRSS")
    if stage == "exchange":
        build, roundtrip, _ = exchange.TOOLS[contender]
        net = build(model)
        example = torch.zeros(1, *exchange.MODELS[model]["example"])
        with tempfile.TemporaryDirectory() as folder:
            return measure_work(lambda: roundtrip(net, example, Path(folder, "model.nir")), imported_kib)
    run = simulation.CONTENDERS[contender]("cpu")
    x = simulation.inputs(64, "cpu")
    return measure_work(lambda: run(x), imported_kib)


def in_fresh_process(*args) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    jobs = [("exchange", model, tool) for model in exchange.MODELS for tool in exchange.TOOLS]
    jobs += [("simulation", "2000-2000-2000 MLP, T=100, batch 64", name) for name in simulation.CONTENDERS]
    rows = ["| stage | model | contender | peak MiB | warm run MiB |", "|---|---|---|---|---|"]
    found = []
    for stage, model, contender in jobs:
        result = in_fresh_process(stage, model, contender)
        found.append({"stage": stage, "model": model, "contender": contender, **result})
        rows.append(f"| {stage} | {model} | {contender} | {result['peak_mib']:.0f} | {result['warm_mib']:.0f} |")
        print(rows[-1])
    write_figures("memory", "\n".join(rows), found)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(*sys.argv[2:5])))
    else:
        main()
