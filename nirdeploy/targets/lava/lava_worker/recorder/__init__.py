"""A sink that writes its spikes to a .npy file from inside its process on the last step.

Lava executes every module in a Process's folder to find its models, so this
folder holds only the process and its models.
"""
