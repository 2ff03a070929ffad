"""Model components. Nothing here imports training, serving or the CLI."""
