"""relubench's experiments, each a module run from the checkout: `python -m experiments.NAME`.

experiments/README.md lists them; they share benchmarks/harness.py with the benchmarks.
"""
