#!/usr/bin/env python3
"""Strata: look inside trained neural nets. Double-click to open the window on the demo net.

    python main.py [NET] [--samples FILE]      the window
    python main.py info|render|export|convert  the command line (see --help)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# One BLAS thread unless the user says otherwise, set before numpy loads: Strata's
# GEMMs are small, and spinning BLAS threads made them up to 10x slower on 2 cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from viewer.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
