"""Datasets: where copies live (`store`), file readers (`idx`, `readers`), tensors in memory
(`load`), batches (`batches`) and CIFAR's augmentation on whole batches (`augment`).

Importing the package loads nothing: `store`, `idx` and `readers` are torch-free.
"""
