"""``python -m siamese``: the ``siamese`` command."""

import sys

from .cli import main

sys.exit(main())
