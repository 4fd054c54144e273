"""gradwire: automatic differentiation as a network service."""
