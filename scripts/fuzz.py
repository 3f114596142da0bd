"""The long fuzz run: every family of hostile NIR input (tests/fuzz_corpus.py) through what a user does with it.

    .venv/bin/python scripts/fuzz.py                  # 700 cases; figures into docs/reliability.md
    .venv/bin/python scripts/fuzz.py --cases 2000 --seed 1 --no-write

Each case goes through import_from_nir (step modes 's' and 'm'), check (snntorch, xylo, lava) and, for
files, `nirdeploy inspect` and `nirdeploy check --target snntorch` (in process, and the console script
itself on one file case per family), in a worker process under an address-space limit and a time bound
per operation. Each operation is classified (tests/fuzz_corpus.py, the one place for it): clean error,
valid result, crash, hang, garbage accepted (an invalid case read as valid), control refused. The exit
status is 1 when any operation crashed, hung, accepted garbage or refused a control.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import fuzz_corpus as fc  # noqa: E402
from docfigures import write_figures  # noqa: E402


def progress(number: int, total: int, case) -> None:
    if number % 50 == 0 or number == total:
        print(f"  {number}/{total} cases ({case.family})", file=sys.stderr, flush=True)


def families_table() -> str:
    rows = ["| family | what it feeds the reader |", "|---|---|"]
    rows += [f"| {name} | {description} |" for name, (_, description, _) in fc.FAMILIES.items()]
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=700, help="cases in all, over every family (default 700)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus seed (default 0)")
    parser.add_argument("--script-cases", type=int, default=None,
                        help="file cases the console script runs (default: one per family)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/reliability.md alone")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        cases = fc.generate(args.cases, Path(folder), seed=args.seed)
        print(f"{len(cases)} cases in {len(fc.FAMILIES)} families", file=sys.stderr)
        start = time.perf_counter()
        records = fc.run_corpus(cases, script_cases=args.script_cases, progress=progress)
        elapsed = time.perf_counter() - start
    table = fc.summary(records)
    failures = [r for r in records if r.failed]
    settings = (f"{len(cases)} cases (seed {args.seed}), {len(records)} operations; memory budget "
                f"`NIRDEPLOY_MEMORY_BUDGET={fc.BUDGET}` and an address-space limit of the worker's size plus "
                f"{fc.HEADROOM / 2**30:.0f} GiB; at most {fc.TIME_LIMIT:.0f} s per operation "
                f"({fc.SCRIPT_TIME_LIMIT:.0f} s per console-script call). The run took {elapsed:.0f} s.")
    markdown = "\n\n".join([f"Measured by `scripts/fuzz.py --cases {args.cases} --seed {args.seed}`: {settings}",
                            fc.format_summary(table), families_table()])
    print(markdown)
    for record in failures[:40]:
        print(f"\nFAILED {record.describe()}")
    if not args.no_write:
        data = {"cases": len(cases), "seed": args.seed, "operations": len(records), "seconds": round(elapsed, 1),
                "budget": fc.BUDGET, "time_limit_s": fc.TIME_LIMIT, "families": table,
                "failures": [f"{r.case.name} [{r.op}]: {r.verdict}" for r in failures]}
        write_figures("reliability", markdown, data)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
