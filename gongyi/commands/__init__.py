"""Command groups of the `gongyi` CLI, one module per capability, each exposing `register(app)`."""
