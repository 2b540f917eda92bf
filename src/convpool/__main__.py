"""`python -m convpool`: the same as the `convpool` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
