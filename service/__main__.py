"""`python -m gradwire.service`: the same as the gradwire-server script."""
import sys

from .main import main

sys.exit(main())
