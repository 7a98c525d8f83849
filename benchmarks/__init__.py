"""relubench's benchmarks, each a module run from the checkout: `python -m benchmarks.NAME`.

benchmarks/README.md lists them; benchmarks/harness.py is what they share.
"""
