"""A sweep's finished shards in its output folder, so a rerun skips them.

    folder = ShardFolder(os.path.join(outdir, "shards"), fingerprint)
    done = folder.finished(n_shards)      # {shard number: ShardState} of this very sweep
    folder.save(3, state)                 # atomic: beside the file, then renamed

Each shard is one HDF5 file ``shard-00003.h5`` (:mod:`viewer.analysis.sweep_state`)
carrying the sweep's *fingerprint*: the net and samples files (path, size,
modification time), the layers, the swept indices and every option that changes
a number. Files of another fingerprint (another command into the same folder)
are removed when the sweep starts, and said so, rather than merged.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from typing import Any

import numpy as np

from viewer.analysis.sweep_state import ShardState, load_state, save_state
from viewer.errors import StrataError

#: Bumped when the shard files' content changes meaning.
STATE_VERSION = 1

_NAME = re.compile(r"shard-(\d{5})\.h5$")


def fingerprint(sweep: Any, shard_size: int, net_path: str | None,
                samples_path: str | None, samples_source: str) -> dict:
    """What makes a sweep's shards its own: any change means starting afresh.

    Parameters
    ----------
    sweep : Sweep
    shard_size : int
    net_path, samples_path : str or None
        Files whose size and modification time are recorded.
    samples_source : str
        The samples as shown to the user (file and dataset).
    """
    spec = sweep.spec
    files = {}
    # A glob of sample files (viewer.data.hdf5_shards): each file it matches.
    parts = getattr(getattr(sweep.samples, "_reader", None), "files", None) or []
    named = [("net", net_path), ("samples", samples_path)]
    named += [(f"samples {i}", path) for i, path in enumerate(parts)]
    for name, path in named:
        if path and os.path.exists(path):
            st = os.stat(path)
            files[name] = [os.path.abspath(path), st.st_size, st.st_mtime_ns]
    return {
        "version": STATE_VERSION, "files": files, "samples": samples_source,
        "preprocess": repr(getattr(sweep.samples, "preprocess", None)),
        "layers": list(spec.layers), "targets": list(spec.targets), "k": spec.k,
        "threshold": spec.threshold, "predict": spec.predict, "seed": spec.seed,
        "n_fit": spec.n_fit, "shard_size": int(shard_size),
        "indices": hashlib.sha256(np.ascontiguousarray(spec.indices).tobytes()).hexdigest(),
    }


class ShardFolder:
    """The shard files of one sweep in ``folder`` (created when missing).

    Parameters
    ----------
    folder : str
    fingerprint : dict
        See :func:`fingerprint`.
    """

    def __init__(self, folder: str, fingerprint: dict) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise StrataError(f"{folder}: cannot create the folder "
                              f"({exc.strerror or exc})") from None
        self.removed = 0

    def path(self, shard: int) -> str:
        """The file of shard number ``shard``."""
        return os.path.join(self.folder, f"shard-{shard:05d}.h5")

    def finished(self, n_shards: int) -> dict[int, ShardState]:
        """The shards of this sweep already done; others' files are removed (counted in
        ``removed``), as are damaged ones (a state file is never half written, but may be
        another program's)."""
        done: dict[int, ShardState] = {}
        for path in sorted(glob.glob(os.path.join(glob.escape(self.folder), "shard-*.h5"))):
            match = _NAME.search(path)
            try:
                state, theirs = load_state(path)
            except StrataError:
                theirs, state = None, None
            shard = int(match.group(1)) if match else -1
            if theirs == self.fingerprint and 0 <= shard < n_shards:
                done[shard] = state
                continue
            os.remove(path)
            self.removed += 1
        return done

    def save(self, shard: int, state: ShardState) -> None:
        """Write a finished shard's state (atomically)."""
        try:
            save_state(self.path(shard), state, self.fingerprint)
        except OSError as exc:
            raise StrataError(f"{self.path(shard)}: cannot write "
                              f"({exc.strerror or exc})") from None
