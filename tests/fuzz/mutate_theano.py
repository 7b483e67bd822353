"""Structural mutations of the Lasagne/Theano reader's inputs: pickles and weight files.

Strata never loads a pickle unless told to trust it (``--trust-pickle``),
and the fuzzer never tells it to, so every pickle here must be refused by
name without being loaded. The canaries make loading visible: unpickled,
one creates a file beside the input, which the runner sees as
``wrote-input``. The same canary hides in an ``.npz`` member as an object
array, for readers that would call ``np.load`` with ``allow_pickle``.
"""

from __future__ import annotations

import os
import pickle
import random
import struct

from fuzz.zips import read_zip, rewrite_zip


def canary_pickle(folder: str, protocol: int = 0) -> bytes:
    """A pickle that creates ``folder/UNPICKLED`` when loaded (``protocol`` 0 or 2)."""
    target = os.path.join(folder, "UNPICKLED")
    if protocol == 0:
        return f"c__builtin__\nopen\n(V{target}\nVw\ntR.".encode()
    path = target.encode()
    return (b"\x80\x02c__builtin__\nopen\nq\x00X" + struct.pack("<I", len(path)) + path
            + b"X\x01\x00\x00\x00w\x86q\x01Rq\x02.")


def canary_npy(folder: str) -> bytes:
    """An .npy object array whose body is :func:`canary_pickle`."""
    text = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + canary_pickle(folder, 2)


def pickle_structure(rng: random.Random, paths: list[str]) -> str:
    """Replace a pickle with a canary, a huge declared length or a deep nest; or cut it."""
    folder = os.path.dirname(paths[0])
    roll = rng.randrange(5)
    if roll <= 1:
        data, what = canary_pickle(folder, 2 * roll), f"canary pickle (protocol {2 * roll})"
    elif roll == 2:  # BINBYTES8 declaring far more bytes than the file holds
        data, what = b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"\0" * 64, "declared 1 TB"
    elif roll == 3:
        depth = rng.choice([1000, 100_000])
        data, what = b"\x80\x02" + b"]" * depth + b"." , f"nested {depth} lists"
    else:
        with open(paths[0], "rb") as fh:
            data = fh.read()
        data = data[:rng.randrange(len(data))]
        what = f"pickle cut to {len(data)}"
    with open(paths[0], "wb") as fh:
        fh.write(data)
    return what


def weights_structure(rng: random.Random, paths: list[str]) -> str:
    """A Lasagne ``np.savez`` weights file with one member an object array holding a canary."""
    members = read_zip(paths[0])
    name = rng.choice(sorted(members))
    members[name] = canary_npy(os.path.dirname(paths[0]))
    rewrite_zip(paths[0], members)
    return f"canary object array {name}"


def lasagne_params(rng_seed: int = 0) -> bytes:
    """A pickle of weights as Lasagne code often saves them: a list of float32 arrays."""
    import numpy as np
    rng = np.random.default_rng(rng_seed)
    params = [rng.standard_normal(shape).astype(np.float32) for shape in ((4, 2, 3, 3), (4,), (36, 6), (6,))]
    return pickle.dumps(params, protocol=2)
