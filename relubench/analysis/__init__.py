"""The analysis, torch-free: run folders loaded (`load`), grouped with statistics (`stats`),
rendered (`cells`, `formats`, `terminal`), drawn (`curves`, `plots`), reported (`report`) and
exported to TensorBoard (`tensorboard`).

`from relubench.analysis.load import load_runs` gives every run as a pandas DataFrame.
"""
