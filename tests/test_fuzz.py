"""Hostile .nir input (tests/fuzz_corpus.py) through what a user does with it, and property tests of the reader.

(a) Every corpus case (``$NIRDEPLOY_FUZZ_CASES`` in all, default 250) goes through import_from_nir in both
step modes, check for snntorch, xylo and lava, and, for files, ``nirdeploy inspect`` and ``nirdeploy
check --target snntorch`` (in process; the console script itself as a subprocess on a sample), each in a
worker under an address-space limit and a time bound. Each must be a clean refusal or a valid result, as the
case expects by construction: an invalid case accepted, a control refused, a crash or a hang fails its
family's test. scripts/fuzz.py runs the long setting.

(b) Hypothesis draws field values (dtype, shape, finiteness, range) for a small Affine -> LIF graph and
convolution geometries for a Conv2d, and compares nirdeploy's verdict with one computed here (for the
convolution, by torch itself).
"""

import warnings

import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_corpus as fc
import nirdeploy
from nirdeploy.errors import NirdeployError

CASES = fc.default_cases(250)
SCRIPT_CASES = 6  # console-script runs (two commands each), spread over the families


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cases = fc.generate(CASES, tmp_path_factory.mktemp("fuzz"))
    return cases, fc.run_corpus(cases, script_cases=SCRIPT_CASES)


@pytest.mark.parametrize("family", list(fc.FAMILIES))
def test_family_is_refused_cleanly_or_read_validly(corpus, family):
    cases, records = corpus
    mine = [r for r in records if r.case.family == family]
    assert mine, f"no case of {family} ran"
    failed = [r.describe() for r in mine if r.failed]
    assert not failed, f"{len(failed)} of {len(mine)} operations failed:\n" + "\n\n".join(failed[:10])
    unnamed = [f"{r.case.name} [{r.op}] does not name {r.unnamed}: {r.detail[:300]}" for r in mine if r.unnamed]
    assert not unnamed, "refusals must name the file and the node:\n" + "\n".join(unnamed[:10])


def test_every_case_went_through_every_operation(corpus):
    cases, records = corpus
    done = {(r.case.family, r.case.index, r.op) for r in records}
    for case in cases:
        for op in fc.operations_for(case, script=False):
            assert (case.family, case.index, op) in done, f"{case.name} skipped {op}"
    scripted = {(r.case.family, r.op) for r in records if r.op in fc.SCRIPT_OPERATIONS}
    assert len(scripted) >= SCRIPT_CASES, "the console script ran on too few cases"
    assert {r.verdict for r in records} >= {"error", "valid"}
    assert len(cases) >= min(CASES, 200) * 0.9 and len(fc.FAMILIES) >= 20


def test_the_verdicts_catch_what_they_must():
    """The classification fails garbage, refused controls, tracebacks and messages that are not one paragraph."""
    bad, good = (fc.Case("f", 0, "x", expect) for expect in (fc.INVALID, fc.VALID))
    assert fc.verdict(bad, "import:s", "valid", "ran 3 steps") == "garbage"
    assert fc.verdict(bad, "cli:inspect", "valid", "exit 0") == "garbage"
    assert fc.verdict(good, "check:xylo", "error", "GraphFileError: ...") == "refused"
    assert fc.verdict(fc.Case("f", 0, "x", fc.EITHER), "import:m", "valid", "") == "valid"
    loop = fc.Case("f", 0, "x", fc.INVALID, report_rule="algebraic loop")
    assert fc.verdict(loop, "check:lava", "valid", "ok=False") == "garbage"
    assert fc.verdict(loop, "check:lava", "valid", "refused by report: the cycle a -> a") == "error"
    assert fc.cli_outcome("inspect", 2, "Traceback (most recent call last):\n  ...\nValueError: x")["outcome"] == "crash"
    assert fc.cli_outcome("inspect", 2, "nirdeploy inspect: one\n\ntwo")["outcome"] == "crash"
    assert fc.cli_outcome("inspect", 1, "")["outcome"] == "crash"
    assert fc.cli_outcome("check", 2, "warning: x\nnirdeploy check: NIR file f: node 'a' ...")["outcome"] == "error"


def test_the_worker_bounds_time_and_memory(tmp_path):
    """An operation past the time bound is a hang (and the worker is replaced); one past the address-space
    limit fails inside the worker instead of taking the machine's memory."""
    case = fc.generate(1, tmp_path, families=["control"])[0]
    worker = fc.Worker(time_limit=0.001)
    try:
        assert worker.run(case, "import:s")["outcome"] == "hang"
    finally:
        worker.close()
    graph = fc._chain({"input": nir.Input(input_type={"input": np.array([4])}), "scale": nir.Scale(np.ones(4)),
                       "output": nir.Output(output_type={"output": np.array([4])})})
    scale = fc.Edit(("scale",), "scale", fc.HugeView((2**15, 2**15)))  # 8 GiB as float64, within a 64 GiB budget
    huge = fc.Case("memory", 0, "an 8 GiB Scale", fc.INVALID, build=(fc.with_edits, (graph, [scale])))
    worker = fc.Worker(budget="64GiB", headroom=2**30)
    try:
        result = worker.run(huge, "import:m")
        assert worker.run(case, "import:s")["outcome"] == "valid"  # the same worker goes on
    finally:
        worker.close()
    assert result["outcome"] == "crash" and "memory" in result["detail"].lower(), result


def test_the_corpus_is_deterministic(tmp_path):
    first = fc.generate(60, tmp_path / "a", seed=3)
    again = fc.generate(60, tmp_path / "b", seed=3)
    other = fc.generate(60, tmp_path / "c", seed=4)
    labels = lambda cases: [(c.family, c.label, c.expect) for c in cases]
    assert labels(first) == labels(again) != labels(other)


# --- (b) properties ----------------------------------------------------------------------------------------------
N_IN, N = 3, 4
NEURON_FIELDS = ("tau", "r", "v_leak", "v_threshold", "v_reset")
POSITIVE = ("tau", "r")


def arrays(draw, shape):
    """An array of ``shape`` with a drawn dtype and values (NaN, inf, huge, tiny, negative included)."""
    kind = draw(st.sampled_from(["float64", "float32", "float16", "int64", "bool", "complex", "text"]))
    count = int(np.prod(shape))
    if kind in ("float64", "float32", "float16"):
        width = {"float64": 64, "float32": 32, "float16": 16}[kind]
        values = draw(st.lists(st.floats(width=width, allow_nan=True, allow_infinity=True), min_size=count,
                               max_size=count))
        return np.array(values, dtype=kind).reshape(shape)
    if kind == "int64":
        return np.array(draw(st.lists(st.integers(-5, 5), min_size=count, max_size=count)), dtype=np.int64).reshape(shape)
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count))).reshape(shape)
    if kind == "complex":
        return np.full(shape, complex(draw(st.floats(0.1, 2)), draw(st.floats(-1, 1))))
    return np.full(shape, draw(st.sampled_from(["fast", "1.0", ""])))


@st.composite
def field_edits(draw):
    """(node, field, value): one field of the Affine 'fc' (weight (N, N_IN), bias (N,)) or the LIF 'lif'."""
    node = draw(st.sampled_from(["fc", "lif"]))
    field = draw(st.sampled_from(["weight", "bias"] if node == "fc" else NEURON_FIELDS))
    right = (N, N_IN) if field == "weight" else (N,)
    shape = draw(st.sampled_from([right, right, right, (), (1,), (N + 1,), (N, 2), (N_IN, N), (0,)]))
    return node, field, arrays(draw, shape)


def verdict_of(node, field, value) -> str:
    """What the reader must do with ``value`` in ``field``, worked out here: 'valid', 'invalid' or 'either'
    (bool values, and one value shared by a population, where NIR asks for one per neuron)."""
    if value.dtype.kind not in "biuf" or value.size == 0:
        return "invalid"
    number = value.astype(np.float64)
    right = (N, N_IN) if field == "weight" else (N,)
    if not np.all(np.isfinite(number)):
        return "invalid"
    shared = field != "weight" and value.shape in ((), (1,))  # one value for all: NIR says one per neuron
    if value.shape != right and not shared:
        return "invalid"
    lif = base_graph().nodes["lif"]
    fields = {f: np.asarray(getattr(lif, f), dtype=np.float64) for f in NEURON_FIELDS}
    if node == "lif":
        fields[field] = number
    if any(np.any(fields[f] <= 0) for f in POSITIVE) or np.any(fields["v_threshold"] <= fields["v_reset"]):
        return "invalid"
    return "either" if value.dtype.kind == "b" or shared else "valid"


def base_graph() -> nir.NIRGraph:
    r = np.random.default_rng(0)
    return fc._chain({"input": nir.Input(input_type={"input": np.array([N_IN])}),
                      "fc": nir.Affine(r.uniform(-1, 1, (N, N_IN)), r.uniform(0, 0.2, N)),
                      "lif": nir.LIF(tau=np.full(N, 5e-3), r=np.full(N, 1.2), v_leak=np.zeros(N),
                                     v_threshold=np.full(N, 0.5), v_reset=np.full(N, -0.1)),
                      "output": nir.Output(output_type={"output": np.array([N])})})


def import_and_run(source, shape_in, shape_out):
    """Import at fc.DT and run 3 steps of [T, B, ...] spikes: the output has the declared shape and is spikes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = nirdeploy.import_from_nir(source, dt=fc.DT, step_mode="m")
        out = gm((torch.rand(3, 2, *shape_in, generator=torch.Generator().manual_seed(0)) < 0.5).float())
    assert tuple(out.shape) == (3, 2, *shape_out)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edit=field_edits(), through_file=st.booleans())
def test_field_values_are_refused_cleanly_or_read_validly(tmp_path_factory, edit, through_file):
    node, field, value = edit
    graph = base_graph()
    setattr(graph.nodes[node], field, value)
    expected = verdict_of(node, field, value)
    source = graph
    if through_file:
        path = tmp_path_factory.mktemp("field") / "graph.nir"
        tree = fc.tree_of(graph)
        tree["nodes"][node][field] = value
        fc.write_tree(path, tree)
        source = str(path)
    try:
        out = import_and_run(source, (N_IN,), (N,))
    except NirdeployError as error:
        assert expected != "valid", f"{field} = {value!r} refused: {error}"
        assert node in str(error) or field in str(error) or "'lif'" in str(error), str(error)
        return
    assert expected != "invalid", f"{node}.{field} = {value!r} accepted"
    assert set(torch.unique(out).tolist()) <= {0.0, 1.0}


@st.composite
def convolutions(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = draw(st.integers(1, 3)) * groups + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes not divisible
    c_out = draw(st.integers(1, 3)) * groups
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    geometry = {k: (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if draw(st.booleans()) else draw(st.integers(1, 3))
                for k in ("stride", "dilation")}
    geometry["padding"] = draw(st.sampled_from([0, 1, 2, (0, 2), (2, 1), "valid", "same"]))
    return groups, c_in, c_out, kernel, size, geometry, draw(st.sampled_from([0, 0, 0, 1]))


@settings(max_examples=300, deadline=None)
@given(conv=convolutions())
def test_convolution_geometry_matches_torch(conv):
    """A Conv2d whose Output declares the shape torch computes is imported and gives that shape; one torch
    cannot compute, or whose Output declares another shape, is refused cleanly."""
    groups, c_in, c_out, kernel, size, geometry, off = conv
    weight = np.random.default_rng(1).uniform(-1, 1, (c_out, max(c_in // groups, 1), *kernel))
    try:
        shape = tuple(torch.nn.functional.conv2d(torch.zeros(1, c_in, *size), torch.as_tensor(weight).float(),
                                                 groups=groups, **geometry).shape[1:])
    except (RuntimeError, ValueError):
        shape = None
    declared = (c_out, 1, 1) if shape is None else (shape[0], shape[1] + off, shape[2])
    try:
        node = nir.Conv2d(input_shape=size, weight=weight, bias=np.zeros(c_out), groups=groups, **geometry)
    except Exception:
        return  # nir itself cannot build it: nothing reaches nirdeploy
    graph = fc._chain({"input": nir.Input(input_type={"input": np.array([c_in, *size])}), "conv": node,
                       "output": nir.Output(output_type={"output": np.array(declared)})})
    try:
        import_and_run(graph, (c_in, *size), declared)
    except NirdeployError:
        assert shape is None or off, f"refused though torch gives {shape}"
        return
    assert shape is not None and not off, f"accepted though torch gives {shape} for a declared {declared}"
