"""``python -m asyncinfer``: the same program as the ``asyncinfer`` command."""

import sys

from ._cli import main

sys.exit(main())
