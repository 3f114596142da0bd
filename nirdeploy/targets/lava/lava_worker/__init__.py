"""The Lava side of the Lava target, run by the Python 3.10 runtime as ``python -m lava_worker DIR``.

It imports only numpy, scipy, h5py, nir and lava (never nirdeploy's torch-based
package): nirdeploy puts a folder holding just this package on PYTHONPATH.
``mapping`` and ``linear`` (numpy, scipy and nir) are shared with nirdeploy's checks.
"""
