"""Torch-free facts, the bottom layer: one entry per activation, per model, per dataset.

Config, the network, the runner and the analysis all read these; nothing here imports torch
(the network builds modules from the dotted class paths an entry names).
"""
