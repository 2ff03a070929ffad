"""Ray Serve application for translation and captioning; holds no model code (see pipeline.inference)."""
