"""ptenv: from a fresh machine to a proven PyTorch 2.x environment."""

__version__ = "0.1.0"

# The official PyTorch wheel index root; a variant index is <base>/<variant>.
DEFAULT_INDEX_BASE = "https://download.pytorch.org/whl"
