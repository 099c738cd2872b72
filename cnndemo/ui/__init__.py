"""The web UI: the only package that imports gradio. One module per tab, each with build(context)."""
