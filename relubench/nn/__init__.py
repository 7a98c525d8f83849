"""The network: activation modules from the registry (`activations`), the fast CPU kernels
(`fast_prelu`, `fast_elu`), the models (`models`) and the probe (`probe`). Imports torch.
"""
