"""Generative adversarial networks: the lecture's costs, an MLP GAN, DCGAN, text-to-image GAN-CLS,
and their offline evaluation (classifier-FID, class coverage, latent-space figures)."""
