"""Every file nirdeploy exports is written whole or not at all.

An interruption is simulated where it happens in life: inside the file format's own writer (h5py's
``create_dataset``, which nir.write and the netx writer call per array; ``Path.write_text``; matplotlib's PNG
writer), which here writes part of its data and then raises KeyboardInterrupt. Without atomic writes each of
these leaves a file at the final name: h5py closes an interrupted HDF5 file cleanly, so it reads as a smaller
graph.
"""

import json
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from spikingjelly.activation_based import layer, neuron

import nirdeploy
from graphs import DT, chain_graph, uniform_lif
from nirdeploy import errors
from nirdeploy.compare import CompareReport, agreement
from nirdeploy.errors import OutputExistsError
from nirdeploy.report import write_report


def small_net(width: int = 3):
    return torch.nn.Sequential(layer.Linear(4, width), neuron.LIFNode())


def interrupt_h5py_after(monkeypatch, datasets: int) -> list:
    """h5py writes ``datasets`` datasets, then the next one raises KeyboardInterrupt; returns the names written."""
    written, create = [], h5py.Group.create_dataset

    def create_then_interrupt(group, name, *args, **kwargs):
        if len(written) == datasets:
            raise KeyboardInterrupt
        written.append(name)
        return create(group, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_then_interrupt)
    return written


def same(a, b) -> bool:
    """Equal nested dicts of NIR fields (arrays compared by value and shape)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and np.array_equal(a, b)
    return a == b


def test_export_writes_a_file_that_nir_reads_back_equal(tmp_path):
    path = tmp_path / "net.nir"
    graph = nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path, dt=1e-3)
    assert list(tmp_path.iterdir()) == [path]
    back = nir.read(path)
    assert {tuple(e) for e in back.edges} == {tuple(e) for e in graph.edges}
    assert same({k: v for k, v in back.to_dict().items() if k != "edges"},
                {k: v for k, v in graph.to_dict().items() if k != "edges"})


def test_an_interrupted_export_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "net.nir"
    written = interrupt_h5py_after(monkeypatch, datasets=3)
    with pytest.raises(KeyboardInterrupt):
        nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path, dt=1e-3)
    assert len(written) == 3  # the writer had begun
    assert list(tmp_path.iterdir()) == []  # neither net.nir nor a temporary file


def test_an_interrupted_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(small_net(width=2), torch.zeros(1, 4), save_path=path, dt=1e-3)
    before = path.read_bytes()
    interrupt_h5py_after(monkeypatch, datasets=3)
    with pytest.raises(KeyboardInterrupt):
        nirdeploy.export_to_nir(small_net(width=5), torch.zeros(1, 4), save_path=path, dt=1e-3, overwrite=True)
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == before
    monkeypatch.undo()
    assert np.shape(nir.read(path).nodes["0"].weight) == (2, 4)


def test_an_existing_file_is_refused_in_the_readers_words(tmp_path, monkeypatch):
    path = tmp_path / "net.nir"
    path.write_text("a user's file")
    with pytest.raises(OutputExistsError, match="net.nir exists; pass overwrite=True to replace it"):
        nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    monkeypatch.setitem(errors._audience, "cli", True)  # what nirdeploy's CLI switches on before any work
    with pytest.raises(OutputExistsError, match="net.nir exists; add --overwrite to replace it"):
        nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    with pytest.raises(OutputExistsError, match="mine.net exists; set the target option overwrite: true"):
        (tmp_path / "mine.net").write_text("another")
        deploy_netx(tmp_path / "mine.net")
    assert path.read_text() == "a user's file"


def deploy_netx(path: Path, overwrite: bool = False):
    """A Linear -> LIF chain netx can hold, deployed to the Lava target's emulation (no Lava runtime needed)."""
    graph = chain_graph([("fc", nir.Linear(np.array([[0.5, 1.0], [1.0, -0.5], [0.25, 0.75]]))),
                         ("lif", uniform_lif(3))], 2, 3)
    return nirdeploy.deploy(graph, "lava", dt=DT, precision="fixed", simulator="emulation", netx_path=path,
                            overwrite=overwrite)


def test_an_interrupted_netx_file_leaves_no_file_and_keeps_an_old_one(tmp_path, monkeypatch):
    path = tmp_path / "net.net"
    written = interrupt_h5py_after(monkeypatch, datasets=4)
    with pytest.raises(KeyboardInterrupt):
        deploy_netx(path)
    assert len(written) == 4 and list(tmp_path.iterdir()) == []
    path.write_bytes(b"an older network")
    with pytest.raises(KeyboardInterrupt):
        deploy_netx(path, overwrite=True)
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == b"an older network"
    monkeypatch.undo()
    assert deploy_netx(path, overwrite=True).artifacts["netx"] == path
    with h5py.File(path) as f:
        assert f["layer/1/weight"].shape == (3, 2) and f["layer/1/neuron/type"][()] == b"CUBA"
    assert list(tmp_path.iterdir()) == [path]


def report_inputs() -> tuple:
    """(report, checks, agreement, runs) as nirdeploy.run hands them to write_report: two runs, so two plots each."""
    out = (torch.rand(20, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    row = {"accuracy": None, "output_train_match": None, "spikes_per_sample": 3.0, "simulated_s": 0.02, "wall_s": 0.1}
    report = {"ok": True, "failures": [], "config": "run.yaml", "graph": "model.nir", "dt": DT,
              "producer": "spikingjelly", "assumption": None, "summary": {"reference": row, "snntorch": row},
              "timings_s": {"export": 0.1}, "versions": {"nir": nir.version, "runtimes": {}},
              "targets": {"snntorch": {}}, "hardware": {}, "drawing": "graph.png"}
    table = CompareReport(DT, out.shape[0], rows=[{"target": "snntorch", "kind": "output", "name": "output",
                                                   **agreement(out, out)}])
    return report, {}, table, {"reference": ((out,), {}, 0.1), "snntorch": ((out,), {}, 0.1)}


EXPECTED = {"report.json", "report.md", "raster_snntorch.png", "counts_snntorch.png"}


def test_a_report_is_written_whole(tmp_path):
    report, checks, agreement, runs = report_inputs()
    write_report(tmp_path, report, checks, agreement, runs)
    assert {p.name for p in tmp_path.iterdir()} == EXPECTED
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (tmp_path / "report.md").read_text().endswith("![counts_snntorch](counts_snntorch.png)\n")
    assert all((tmp_path / name).read_bytes().startswith(b"\x89PNG") for name in EXPECTED if name.endswith(".png"))


def test_an_interrupted_report_leaves_only_whole_files(tmp_path, monkeypatch):
    write_text = Path.write_text

    def half_then_interrupt(self, data, *args, **kwargs):
        if ".md" in self.name:
            write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise KeyboardInterrupt
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", half_then_interrupt)
    report, checks, agreement, runs = report_inputs()
    with pytest.raises(KeyboardInterrupt):
        write_report(tmp_path, report, checks, agreement, runs)
    assert {p.name for p in tmp_path.iterdir()} == EXPECTED - {"report.md"}
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_an_interrupted_plot_leaves_no_file(tmp_path, monkeypatch):
    print_png = FigureCanvasAgg.print_png

    # matplotlib hands a print method from outside matplotlib every print_figure option (dpi, orientation, ...)
    def part_then_interrupt(canvas, target, *, metadata=None, pil_kwargs=None, **print_figure_options):
        if not isinstance(target, (str, Path)):  # matplotlib's dry run into memory, to measure the layout
            return print_png(canvas, target, metadata=metadata, pil_kwargs=pil_kwargs)
        Path(target).write_bytes(b"\x89PNG\r\n\x1a\n")  # a PNG signature and nothing else
        raise KeyboardInterrupt

    monkeypatch.setattr(FigureCanvasAgg, "print_png", part_then_interrupt)
    report, checks, agreement, runs = report_inputs()
    with pytest.raises(KeyboardInterrupt):
        write_report(tmp_path, report, checks, agreement, runs)
    assert {p.name for p in tmp_path.iterdir()} == {"report.json"}
