"""Task-specific CLI verbs. Each module here defines ``register(subparsers)``; the CLI finds them all."""
