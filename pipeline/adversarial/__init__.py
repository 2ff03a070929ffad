"""Adversarial examples: classifiers to attack, the attacks (Szegedy, FGSM, PGD) and their evaluation.

Every attack works on images in the pixel box [0, 1] and never modifies its input tensor.
"""
