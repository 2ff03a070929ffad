"""Unsupervised models: PCA and its linear-network twin, deep/conv/sparse autoencoders, binary codes
for retrieval, restricted Boltzmann machines and deep belief nets.

Modules here import nothing from training, tasks or the CLI; they work on tensors and arrays.
"""
