"""``python -m asyncinfer``: the same program as the ``asyncinfer`` command (see docs/cli.md)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
