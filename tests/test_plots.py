"""The run folder's plots (nirdeploy.report): what a reader needs is on them, and the data are the runs' own,
delay-aligned, checked against numpy sums of the spikes."""

import numpy as np
import torch
from PIL import Image

from graphs import spikes
from nirdeploy.report import aligned_panels, counts_figure, plot_target, raster_figure


def runs(delay: int):
    """(reference, target) as (outputs, layers): the target's spikes are the reference's ``delay`` steps later."""
    hidden, out = spikes((3, 4), batch=3, steps=30, seed=1), spikes(5, batch=3, steps=30, seed=2)
    late = lambda x: torch.cat([x.new_zeros(delay, *x.shape[1:]), x])  # noqa: E731
    return ((out,), {"hidden": hidden, "out": out}), ((late(out),), {"hidden": late(hidden), "out": late(out)})


def offsets(collection) -> set:
    return {tuple(p) for p in np.asarray(collection.get_offsets()).tolist()}


def test_the_raster_shows_every_layer_of_one_named_sample_delay_aligned_with_a_legend():
    reference, target = runs(delay=2)
    delays = {("layer", "hidden"): 2, ("layer", "out"): 2, ("output", "output"): 2}
    figure = raster_figure("lava/fixed", aligned_panels(reference, target, delays))
    assert [axis.get_title() for axis in figure.axes] == ["layer hidden: sample 0 of 3", "layer out: sample 0 of 3"]
    for axis, layer in zip(figure.axes, ("hidden", "out")):
        labels = [text.get_text() for text in axis.get_legend().get_texts()]
        assert labels == ["reference", "lava/fixed, shifted back 2 steps\n(its delay)"]
        ref, got = axis.collections
        sample = reference[1][layer][:, 0].reshape(30, -1).numpy()
        assert offsets(ref) == {(float(t), float(n)) for t, n in zip(*np.nonzero(sample))}
        assert offsets(got) == offsets(ref)  # aligned: the target's spikes sit on the reference's
    assert figure.texts[0].get_text() == "spikes: reference and lava/fixed"


def test_counts_are_per_neuron_sums_over_samples_one_legend_entry_per_layer():
    reference, target = runs(delay=1)
    target[1]["out"][5:, 1] = 0  # the target misses sample 1's spikes after step 4
    figure = counts_figure("xylo", aligned_panels(reference, target, {("layer", "hidden"): 1, ("layer", "out"): 1}))
    (axis,) = figure.axes
    assert axis.get_title() == "per-neuron spike counts, summed over 3 samples x 30 steps"
    assert [t.get_text() for t in axis.get_legend().get_texts()] == [
        "layer hidden (12 neurons)", "layer out (5 neurons)", "equal counts"]
    out = reference[1]["out"].numpy()
    expected_target = out.sum((0, 1)) - out[4:, 1].sum(0)  # the target's steps 5.. are the reference's 4..
    points = np.asarray(axis.collections[1].get_offsets())
    np.testing.assert_array_equal(points[:, 0], out.sum((0, 1)))
    np.testing.assert_array_equal(points[:, 1], expected_target)


def test_file_names_hold_no_colon_and_the_pngs_open(tmp_path):
    reference, target = runs(delay=0)
    paths = plot_target(tmp_path, "xylo:syns65302/float", reference, target, {})
    assert [p.name for p in paths] == ["raster_xylo-syns65302-float.png", "counts_xylo-syns65302-float.png"]
    assert all(Image.open(p).size[0] >= 500 for p in paths)


def test_outputs_are_plotted_where_the_target_records_no_layers():
    reference, target = runs(delay=3)
    panels = aligned_panels(reference, (target[0], {}), {("output", "output"): 3})
    assert [(title, delay) for title, _, _, delay in panels] == [("output 0", 3)]
    assert torch.equal(panels[0][1], panels[0][2])
