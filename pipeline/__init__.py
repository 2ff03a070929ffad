"""A deep-learning lecture's architectures as one offline-capable pipeline.

Modules are organised one concept each; see README.md for the map.
"""

__version__ = "0.1.0"
