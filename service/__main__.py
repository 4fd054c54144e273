"""`python -m gradwire.service`: the same as the gradwire-server script."""
import sys

from .main import main

if __name__ == "__main__":   # not when a spawned worker process re-imports this module
    sys.exit(main())
