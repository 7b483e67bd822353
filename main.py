#!/usr/bin/env python3
"""Strata: look inside trained neural nets. Double-click to open the window on the demo net.

    python main.py [NET] [--samples FILE]      the window
    python main.py info|render|export|convert  the command line (see --help)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from viewer.allocator import keep_freed_memory  # noqa: E402
from viewer.blas import limit_blas_threads  # noqa: E402

limit_blas_threads()  # before numpy loads
keep_freed_memory()   # forward passes reuse their freed arrays

from viewer.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
