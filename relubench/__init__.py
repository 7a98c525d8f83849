"""relubench: an experiment runner for the ReLU family of activation functions."""

__version__ = "0.1.0"
