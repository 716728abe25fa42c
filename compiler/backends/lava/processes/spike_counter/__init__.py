"""The SpikeCounter process: counts spikes inside the network (see ``process.py``)."""
