"""The ``nirdeploy`` command: each subcommand is one call of the Python API plus formatting.

Exit codes: 0 success; 1 a check failed or agreement is below the config's
thresholds; 2 bad usage or bad input; 3 an internal error (a bug: please report it).
Errors print as one paragraph; ``--debug``, anywhere on the line, adds the traceback.
"""

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from .errors import NirdeployError, cli_words

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def cmd_run(args) -> int:
    from .config import load_config
    from .run import run_config

    config = load_config(args.config)
    if args.producer:
        config.producer = args.producer
    if args.dt is not None:
        config.dt = args.dt
    config.dt_override = config.dt_override or args.dt_override
    result = run_config(config, targets=args.target, out=args.out, progress=sys.stderr.isatty(),
                        workers=args.workers, address=args.address)
    print((result.folder / "report.md").read_text())
    print(f"run folder: {result.folder}")
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_sweep(args) -> int:
    from .sweep import run_sweep

    result = run_sweep(args.sweep, out=args.out, workers=args.workers, address=args.address,
                       progress=sys.stderr.isatty())
    print((result.folder / "summary.md").read_text())
    if result.skipped:
        print(f"skipped {len(result.skipped)} cell(s) an earlier run finished: {', '.join(result.skipped)}")
    print(f"sweep folder: {result.folder}")
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_check(args) -> int:
    from .check import check

    reports = [check(args.graph, target, dt=args.dt, producer=args.producer, dt_override=args.dt_override)
               for target in args.target]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        print("\n\n".join(str(r) for r in reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def cmd_draw(args) -> int:
    from .draw import draw_graph

    print(f"wrote {draw_graph(args.graph, args.output, overwrite=args.overwrite)}")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from .describe import describe_graph, format_description
    from .graphfile import read_graph
    from .semantics import choose_producer, recorded_dt, resolve
    from .validate import validate_graph

    graph, source = read_graph(args.graph), f"NIR file {args.graph}"
    validate_graph(graph, source, choose_producer(args.producer, graph)[0])  # before reading its dt
    known_dt = args.dt is not None or recorded_dt(graph) is not None
    semantics = resolve(graph, args.dt, args.producer, args.dt_override, source) if known_dt else None
    description = describe_graph(graph, semantics)
    print(json.dumps(description, indent=2) if args.json else format_description(description))
    return EXIT_OK


def cmd_targets(args) -> int:
    from .table import format_table
    from .targets import Target, available_targets

    rows = [("target", "ready", "runtime", "description")]
    for name, (profile, adapter) in sorted(available_targets().items()):
        ready, detail = (adapter or Target)(profile).runtime_status()
        rows.append((name, "yes" if ready else "no", detail, profile.description))
    print("\n".join(format_table(rows)))
    return EXIT_OK


def cmd_setup(args) -> int:
    from .targets.lava import runtime

    runtime.setup(python=args.python, folder=args.folder, force=args.force)
    return EXIT_OK


def cmd_export(args) -> int:
    from .run import export_model, load_python_model

    weights = Path(args.weights) if args.weights else None
    net = load_python_model(args.model, weights, Path.cwd(), "the model argument")
    graph = export_model(net, tuple(args.example_shape), Path(args.output), args.dt, args.overwrite, "--example-shape")
    print(f"wrote {args.output}: {len(graph.nodes)} nodes, dt={args.dt:g} s")
    return EXIT_OK


def worker_count(text: str) -> int:
    """--workers: a whole number of workers, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1 or more)")
    return int(text)


def positive_seconds(text: str) -> float:
    """--dt: a positive number of seconds, written as Python reads floats (1e-3, 0.001)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 1e-3)") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def add_conventions(command) -> None:
    from .semantics import PRODUCERS

    command.add_argument("--producer", choices=list(PRODUCERS), help="the framework that wrote the graph, whose "
                         "conventions it follows (default: those the graph records, else spikingjelly, with a warning)")
    command.add_argument("--dt-override", action="store_true", help="run at --dt even where the graph records "
                         "another dt, re-discretising every time constant")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="nirdeploy", description="Deploy spiking networks through NIR.")
    main.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    main.add_argument("--version", action="version", version=f"nirdeploy {__version__}")
    # Each subcommand takes --debug too (after its name); SUPPRESS keeps a --debug given before the name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    subparsers = main.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], **kwargs)

    run = command("run", help="export, check, deploy, run and compare as a config says")
    run.add_argument("config", help="a run configuration (YAML)")
    run.add_argument("--target", action="append", help="target to use instead of the config's (repeatable)")
    run.add_argument("--out", type=Path, help="folder that receives the run folder (default: the config's output)")
    run.add_argument("--dt", type=positive_seconds, help="time step in seconds instead of the config's dt")
    run.add_argument("--workers", type=worker_count, metavar="N", help="shard every target's samples over N Ray workers "
                     "(needs nirdeploy[ray]); the figures equal a run in one process")
    run.add_argument("--address", help="run the workers on the Ray cluster at ADDRESS ('auto' or ray://HOST:PORT); "
                     "without --workers, one shard per CPU of the cluster")
    add_conventions(run)
    run.set_defaults(handler=cmd_run)

    swp = command("sweep", help="run every cell of a grid over targets, options, dt and steps as Ray tasks; "
                                "summarise them; a rerun skips finished cells")
    swp.add_argument("sweep", help="a sweep file (YAML; see docs/scaleout.md)")
    swp.add_argument("--out", type=Path, help="folder that receives the sweep folder (default: the sweep's output)")
    swp.add_argument("--workers", type=worker_count, metavar="N", help="run N cells at once on a local Ray "
                     "(default: one per CPU)")
    swp.add_argument("--address", help="run the cells on the Ray cluster at ADDRESS ('auto' or ray://HOST:PORT)")
    swp.set_defaults(handler=cmd_sweep)

    chk = command("check", help="check a graph against targets")
    chk.add_argument("graph", help="a .nir file")
    chk.add_argument("--target", action="append", required=True, help="target name, e.g. xylo:syns63300 (repeatable)")
    chk.add_argument("--dt", type=positive_seconds, help="time step in seconds (default: the graph's recorded dt)")
    add_conventions(chk)
    chk.add_argument("--json", action="store_true", help="print JSON")
    chk.set_defaults(handler=cmd_check)

    drw = command("draw", help="draw a graph: nodes with type, shape and key parameters, recurrent edges marked")
    drw.add_argument("graph", help="a .nir file")
    drw.add_argument("-o", "--output", required=True, help="the picture to write: .png or .svg")
    drw.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    drw.set_defaults(handler=cmd_draw)

    ins = command("inspect", help="nodes, edges, shapes, parameters and metadata of a graph")
    ins.add_argument("graph", help="a .nir file")
    ins.add_argument("--dt", type=positive_seconds, help="time step in seconds for the neurons' per-step dynamics "
                     "(default: the graph's recorded dt; without either, only the fields are shown)")
    add_conventions(ins)
    ins.add_argument("--json", action="store_true", help="print JSON")
    ins.set_defaults(handler=cmd_inspect)

    tgt = command("targets", help="every target and whether its runtime is ready")
    tgt.set_defaults(handler=cmd_targets)

    setup = command("setup", help="create a target's runtime (lava: a Python 3.10 venv with lava-nc)")
    setup.add_argument("runtime", choices=["lava"], help="the runtime to create")
    setup.add_argument("--python", help="a Python 3.10 interpreter (default: $NIRDEPLOY_PYTHON310, PATH, pyenv)")
    setup.add_argument("--folder", type=Path, help="where to create it (default: $NIRDEPLOY_LAVA_RUNTIME or "
                       "~/.cache/nirdeploy/lava-0.10.0)")
    setup.add_argument("--force", action="store_true", help="recreate it even if it is ready")
    setup.set_defaults(handler=cmd_setup)

    exp = command("export", help="export a model defined in Python to a .nir file")
    exp.add_argument("model", help="package.module:function or file.py:function returning an nn.Module")
    exp.add_argument("--example-shape", type=int, nargs="+", required=True, help="example input shape, with batch")
    exp.add_argument("--weights", help="a state dict file, loaded with weights_only=True")
    exp.add_argument("--dt", type=positive_seconds, default=1e-4, help="time step in seconds (default 1e-4)")
    exp.add_argument("-o", "--output", required=True, help="the .nir file to write")
    exp.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    exp.set_defaults(handler=cmd_export)
    return main


def main(argv=None) -> int:
    with cli_words():
        return _main(argv)


def _main(argv) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly; Python's flush at exit would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"nirdeploy {args.command}: interrupted", file=sys.stderr)
        return 130
    except (NirdeployError, OSError) as error:
        return _fail(args, error, str(error) if isinstance(error, NirdeployError) else _os_error(error), EXIT_BAD_INPUT)
    except Exception as error:
        return _fail(args, error, f"internal error, {type(error).__name__}: {error}. This is a bug in nirdeploy; "
                     "rerun with --debug and report the traceback", EXIT_INTERNAL)


def _os_error(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _fail(args, error: Exception, message: str, code: int) -> int:
    if args.debug:
        traceback.print_exception(error)
    print(f"nirdeploy {args.command}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
