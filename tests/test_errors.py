"""Bad input gives a documented nirdeploy error that names the culprit and the fix."""

from dataclasses import dataclass

import h5py
import nir
import numpy as np
import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import layer, neuron

import nirdeploy
from nirdeploy import (
    DtMismatchError,
    ExampleInputError,
    GraphFileError,
    InvalidArgumentError,
    OutputExistsError,
    UnsupportedModuleError,
    UnsupportedNodeError,
)


def small_net():
    return nn.Sequential(layer.Linear(4, 3), neuron.LIFNode())


def test_unsupported_module_names_path_type_and_alternatives():
    net = nn.Sequential(nn.Sequential(layer.Conv2d(1, 2, 3), nn.MaxPool2d(2)), neuron.IFNode())
    with pytest.raises(UnsupportedModuleError) as info:
        nirdeploy.export_to_nir(net, torch.zeros(1, 1, 8, 8))
    message = str(info.value)
    assert "'0.1'" in message and "MaxPool2d" in message and "AvgPool2d" in message


def test_unsupported_operation_is_named():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = layer.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(UnsupportedModuleError, match="mul"):
        nirdeploy.export_to_nir(Scaled(), torch.zeros(1, 4))


def test_wrong_example_input_shape():
    with pytest.raises(ExampleInputError, match=r"\(1, 5\)"):
        nirdeploy.export_to_nir(small_net(), torch.zeros(1, 5))


def test_export_leaves_neuron_state_alone():
    net = small_net()
    net(torch.ones(1, 4) * 3)
    v = net[1].v.clone()
    nirdeploy.export_to_nir(net, torch.zeros(2, 4))
    assert torch.equal(net[1].v, v)


def test_training_mode_batchnorm_and_dropout_are_refused():
    net = nn.Sequential(layer.Linear(4, 3), layer.BatchNorm1d(3), neuron.IFNode())
    with pytest.raises(UnsupportedModuleError, match="eval"):
        nirdeploy.export_to_nir(net, torch.zeros(2, 4))
    net = nn.Sequential(layer.Linear(4, 3), nn.Dropout(), neuron.IFNode())
    with pytest.raises(UnsupportedModuleError, match="eval"):
        nirdeploy.export_to_nir(net, torch.zeros(2, 4))


def test_batchnorm_without_conv_is_refused():
    net = nn.Sequential(layer.BatchNorm1d(4), layer.Linear(4, 3), neuron.IFNode()).eval()
    with pytest.raises(UnsupportedModuleError, match="BatchNorm1d"):
        nirdeploy.export_to_nir(net, torch.zeros(2, 4))


def test_existing_file_is_not_overwritten(tmp_path):
    path = tmp_path / "net.nir"
    path.write_text("precious")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    assert path.read_text() == "precious"
    nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path, overwrite=True)
    assert isinstance(nir.read(path), nir.NIRGraph)


def test_dt_mismatch_names_both_values(tmp_path):
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path, dt=1e-3)
    with pytest.raises(DtMismatchError) as info:
        nirdeploy.import_from_nir(path, dt=1e-4)
    assert "0.001" in str(info.value) and "0.0001" in str(info.value) and "dt_override" in str(info.value)
    gm = nirdeploy.import_from_nir(path, dt=1e-4, dt_override=True)
    assert gm is not None


def test_missing_file(tmp_path):
    with pytest.raises(GraphFileError, match="does not exist"):
        nirdeploy.import_from_nir(tmp_path / "nothing.nir")


def test_corrupt_hdf5(tmp_path):
    path = tmp_path / "broken.nir"
    nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(GraphFileError, match="broken.nir"):
        nirdeploy.import_from_nir(path)
    (tmp_path / "text.nir").write_text("not hdf5")
    with pytest.raises(GraphFileError, match="text.nir"):
        nirdeploy.import_from_nir(tmp_path / "text.nir")


def test_missing_parameter_names_the_node(tmp_path):
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    with h5py.File(path, "r+") as file:
        del file["node/nodes/1/tau"]
    with pytest.raises(GraphFileError, match="node '1' \\(LIF\\) lacks the field\\(s\\) tau"):
        nirdeploy.import_from_nir(path)


def test_shape_mismatch_names_both_nodes(tmp_path):
    path = tmp_path / "net.nir"
    nirdeploy.export_to_nir(small_net(), torch.zeros(1, 4), save_path=path)
    with h5py.File(path, "r+") as file:
        del file["node/nodes/1/v_threshold"]
        file["node/nodes/1/v_threshold"] = np.ones(5)
    with pytest.raises(GraphFileError, match="net.nir.*'1'"):
        nirdeploy.import_from_nir(path)


def test_shape_mismatch_in_memory_names_both_nodes():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([4])}),
            "fc": nir.Linear(np.ones((3, 4))),
            "lif": nir.IF(r=np.ones(5), v_threshold=np.ones(5)),
            "output": nir.Output(output_type={"output": np.array([5])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )
    with pytest.raises(UnsupportedNodeError, match=r"'fc' gives \[3\] but 'lif' takes \[5\]"):
        nirdeploy.import_from_nir(graph)


def test_unsupported_node_type_is_named():
    @dataclass(eq=False)
    class Dendrite(nir.NIRNode):
        gain: np.ndarray

        def __post_init__(self):
            self.input_type = {"input": np.array(self.gain.shape)}
            self.output_type = {"output": np.array(self.gain.shape)}

    graph = nir.NIRGraph.from_list(nir.Affine(np.ones((3, 4)), np.zeros(3)), Dendrite(np.ones(3)))
    with pytest.raises(UnsupportedNodeError, match="'dendrite'.*Dendrite.*Supported node types: Input"):
        nirdeploy.import_from_nir(graph)


def test_algebraic_loop_is_refused_with_the_cycle():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "fc": nir.Linear(np.ones((2, 2))),
            "scale": nir.Scale(np.ones(2)),
            "rec": nir.Linear(np.ones((2, 2))),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "fc"), ("fc", "scale"), ("scale", "rec"), ("rec", "fc"), ("scale", "output")],
    )
    with pytest.raises(UnsupportedNodeError, match="fc -> scale -> rec -> fc.*no neuron or delay"):
        nirdeploy.import_from_nir(graph)


def test_delay_that_is_not_a_whole_number_of_steps():
    graph = nir.NIRGraph.from_list(nir.Linear(np.ones((2, 2))), nir.Delay(np.array([1e-3, 2.5e-3])))
    with pytest.raises(UnsupportedNodeError, match="'delay'.*multiples of dt=0.001"):
        nirdeploy.import_from_nir(graph, dt=1e-3)


def test_non_finite_and_negative_parameters():
    lif = nir.LIF(tau=np.array([1e-3, -1.0]), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(UnsupportedNodeError, match="'lif'.*tau"):
        nirdeploy.import_from_nir(nir.NIRGraph.from_list(nir.Linear(np.ones((2, 2))), lif))
    bad = nir.Affine(np.full((2, 2), np.nan), np.zeros(2))
    with pytest.raises(UnsupportedNodeError, match="'affine'.*weight"):
        nirdeploy.import_from_nir(nir.NIRGraph.from_list(bad))


@pytest.mark.parametrize("kwargs", [{"dt": 0}, {"dt": -1e-3}, {"dt": float("nan")}, {"step_mode": "x"}])
def test_bad_arguments(kwargs):
    graph = nir.NIRGraph.from_list(nir.Linear(np.ones((2, 2))))
    with pytest.raises(InvalidArgumentError):
        nirdeploy.import_from_nir(graph, **kwargs)


def test_all_errors_share_one_base_class():
    for cls in (DtMismatchError, ExampleInputError, GraphFileError, InvalidArgumentError, OutputExistsError,
                UnsupportedModuleError, UnsupportedNodeError):
        assert issubclass(cls, nirdeploy.NirdeployError)
