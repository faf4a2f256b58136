"""ptenv: from a fresh machine to a proven PyTorch 2.x environment."""

__version__ = "0.1.0"
