"""``python -m rnnshape`` is the console script."""

import sys

from rnnshape.cli import main

sys.exit(main())
