"""``python -m wirespeed``: see :mod:`wirespeed.cli`."""

import sys

from .cli import main

sys.exit(main())
