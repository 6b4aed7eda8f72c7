"""`python -m edge.cli` runs the same CLI as the `store-edge` script."""

import sys

from edge.cli import main

sys.exit(main())
