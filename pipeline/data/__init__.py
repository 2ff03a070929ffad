"""Dataset readers and preprocessing stages. Nothing here imports models or training."""
