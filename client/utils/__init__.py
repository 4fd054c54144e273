"""gradwire.utils: as torch.utils, for its data loading (gradwire.utils.data)."""
from . import data  # noqa: F401
