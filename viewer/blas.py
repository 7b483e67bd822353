"""How many threads BLAS may use: one, unless the user chose otherwise.

Call :func:`limit_blas_threads` before numpy is first imported; BLAS reads
these variables once, when it loads. Imports nothing heavy, so start-up code
can call it first.
"""

from __future__ import annotations

import os

#: The variables OpenBLAS, OpenMP and MKL read for their thread count.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    """Use one BLAS thread, unless the user set a count.

    Strata's GEMMs are small: BLAS threads gain little on them and, spinning
    beside the drawing thread, made a small conv layer up to ten times slower
    on a busy two-core machine. Sweep workers get one thread each too, so the
    in-process sweep and the workers round alike.
    """
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
