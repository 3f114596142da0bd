"""Property tests of what users hand to nirdeploy besides graphs: run configs and the spikes given to
``Deployment.run``. Each either works or fails with a NirdeployError, never with a library's exception;
for inputs, an oracle written from the documented contract says which."""

import math
import time

import nir
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nirdeploy
from nirdeploy.config import DATASET_KEYS, MODEL_KEYS, POISSON_KEYS, THRESHOLD_KEYS, TOP_KEYS, load_config
from nirdeploy.errors import NirdeployError

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WIDTH = 4


@pytest.fixture(scope="module")
def deployment():
    graph = nir.NIRGraph.from_list(nir.Input(np.array([WIDTH])), nir.Linear(np.full((3, WIDTH), 0.5)),
                                   nir.IF(np.full(3, 1e3), np.ones(3)), nir.Output(np.array([3])))
    return nirdeploy.deploy(graph, "snntorch", dt=1e-3)


def reference_spikes(steps_batch_width: tuple, values: np.ndarray) -> np.ndarray:
    """The network above by hand, SpikingJelly's IF at dt = 1/r: v += 0.5 sum(x); at v >= 1 spike, v = 0."""
    steps, batch, _ = steps_batch_width
    v, out = np.zeros((batch, 3)), np.zeros((steps, batch, 3))
    for t in range(steps):
        v = v + 0.5 * values[t].sum(-1, keepdims=True)
        out[t] = v >= 1
        v = np.where(out[t] > 0, 0.0, v)
    return out


dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.uint8, np.bool_, np.complex64, object, str])
# Mostly [T, B, 4] with T or B possibly 0, else any rank and width.
shapes = st.one_of(st.tuples(st.integers(0, 6), st.integers(0, 3), st.just(WIDTH)),
                   st.lists(st.integers(0, 5), max_size=4).map(tuple))


@SETTINGS
@given(shape=shapes, dtype=dtypes, poison=st.sampled_from([None, math.nan, math.inf, -math.inf]),
       transposed=st.booleans(), as_tensor=st.booleans())
def test_run_inputs_work_or_are_refused_cleanly(deployment, shape, dtype, poison, transposed, as_tensor):
    rng = np.random.default_rng(sum(shape))
    values = (rng.random(shape) < 0.5).astype(np.float64)
    if poison is not None and values.size and np.dtype(dtype).kind in "fc":
        values.flat[values.size // 2] = poison
    array = np.asarray(values.astype(dtype) if np.dtype(dtype).kind != "U" else values.astype(str))
    swap = (lambda a: a.swapaxes(0, 1)) if transposed and array.ndim >= 2 else (lambda a: a)
    given_input = swap(np.ascontiguousarray(swap(array)))  # the same values, maybe in a non-contiguous layout
    if as_tensor and np.dtype(dtype).kind in "biufc":
        given_input = swap(torch.from_numpy(np.ascontiguousarray(swap(array))))
    finite = np.dtype(dtype).kind in "biuf" and np.all(np.isfinite(array.astype(np.float64)))
    valid = len(shape) == 3 and shape[0] >= 1 and shape[1] >= 1 and shape[2] == WIDTH and finite
    start = time.monotonic()
    try:
        out = deployment.run(given_input)
    except NirdeployError as error:
        assert not valid, f"a valid input was refused: {error}"
        assert "takes [T, B, 4]" in str(error) or "input(s)" in str(error)
    else:
        assert valid, f"an invalid input of shape {shape} ({dtype}) ran"
        np.testing.assert_array_equal(out.numpy(), reference_spikes(shape, array.astype(np.float64)))
    assert time.monotonic() - start < 10


def test_run_refuses_a_wrong_number_of_inputs(deployment):
    with pytest.raises(NirdeployError, match="takes 1 input"):
        deployment.run(torch.zeros(2, 1, WIDTH), torch.zeros(2, 1, WIDTH))
    with pytest.raises(NirdeployError, match="takes 1 input"):
        deployment.run()


# Configs: documents built from the keys the loader knows, with values of every YAML kind.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["snntorch", "xylo", "lava/fixed", "digits", "1e-3",
                                                           "model.nir", "../x", "quickstart.py:build"]))
KEYS = sorted(TOP_KEYS | MODEL_KEYS | POISSON_KEYS | DATASET_KEYS | THRESHOLD_KEYS | {"nir", "file", "poisson",
                                                                                      "dataset", "snntorch"})
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                      max_leaves=25)
documents = st.fixed_dictionaries({}, optional={key: values for key in sorted(TOP_KEYS)})


@SETTINGS
@given(document=documents)
def test_configs_load_or_are_refused_cleanly(document, tmp_path):
    (tmp_path / "model.nir").write_bytes(b"")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        config = load_config(path)
    except NirdeployError as error:
        assert str(path) in str(error)
    else:  # what loaded is what the documented schema allows
        assert 1e-9 <= config.dt <= 1.0 and config.targets
        assert (config.nir_path is None) != (config.python is None)
        assert sum(x is not None for x in (config.poisson, config.input_file, config.dataset)) == 1


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_loads_or_is_refused_cleanly(text, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except NirdeployError as error:
        assert str(path) in str(error)
