"""Inference API: rebuild a model from its checkpoint alone and run it. Serving imports only this."""
