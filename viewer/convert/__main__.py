"""``python -m viewer.convert SRC -o OUT.h5``: convert without the window (no Qt needed)."""

import sys

from viewer.convert.command import main

sys.exit(main())
