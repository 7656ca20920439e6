"""``python -m ferattention.bench NAME [options]``: see :mod:`ferattention.bench.saliency`."""

import sys

from .saliency import main

sys.exit(main())
