"""Which converter a file needs: guessed from its first bytes, then its name.

Sniffing first, because extensions lie (a .h5 that is really a zip, an .onnx
renamed .bin); the extension decides only where the bytes cannot.
"""

from __future__ import annotations

import os

from viewer.errors import ConversionError, file_error

FORMATS = ("keras", "onnx", "lasagne", "theano", "tflite", "pt2")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"  # the FlatBuffers file identifier, at offset 4
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".p")
#: Model files the window converts on opening, by extension, and their converter.
MODEL_EXTENSIONS = {".keras": "keras", ".onnx": "onnx", ".tflite": "tflite", ".pt2": "pt2"}


def guess_format(path: str | os.PathLike) -> str:
    """The converter for ``path``: one of :data:`FORMATS`.

    Keras: an HDF5 file (Keras 1/2/3 ``model.save``) or a zip with a
    config.json (Keras 3 ``.keras``). TFLite: "TFL3" at offset 4 (or a
    ``.tflite`` name). torch.export: a zip with the ``.pt2`` archive's
    ``archive_format`` or ``models/*.json`` (or a ``.pt2`` name). ONNX: a
    ``.onnx`` file. A pickle
    (``.pkl``/``.pickle``) holds Theano or Lasagne objects and is reported as
    "theano"; the Theano converter tells Lasagne layers from raw graphs after
    loading it (which needs ``trust_pickle``).

    Raises
    ------
    FileFormatError
        No such file, an empty one, or one no converter reads; the message
        says what the file looks like.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise file_error(path, "no such file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise file_error(path, "empty file")
    ext = os.path.splitext(path)[1].lower()
    # The HDF5 signature may also sit at byte 512, 1024, ... (a user block).
    if head == HDF5_SIGNATURE or _hdf5_at_offset(path):
        return "keras"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if head.startswith(b"PK"):
        kind = _zip_kind(path)
        if kind:
            return kind
        if ext == ".pt2":
            return "pt2"  # the reader says what is missing
        if ext == ".npz":  # an np.savez archive is a zip too
            raise file_error(path, "an .npz holds weights only; build the Lasagne net in Python, "
                                   "load the weights into it and pass the net to convert() "
                                   "(see the README)")
        raise file_error(path, "a zip archive that is not a Keras 3 .keras model (no "
                               "config.json in it) nor a torch.export .pt2 archive (no archive_format)")
    if MODEL_EXTENSIONS.get(ext) in ("onnx", "tflite"):
        return MODEL_EXTENSIONS[ext]
    if ext in PICKLE_EXTENSIONS or head[:1] == b"\x80":
        return "theano"
    raise file_error(path, "not a format Strata converts (Keras .h5/.keras, ONNX, TFLite, "
                           "torch.export .pt2, a Theano/Lasagne pickle); pass the format "
                           "explicitly if it is one")


def model_by_content(path: str | os.PathLike) -> str | None:
    """The converter a non-HDF5 file's bytes name (TFLite's identifier, a model zip), else None.

    For opening a model whatever its name; reads the first bytes and, for a
    zip, its member names only.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if head.startswith(b"PK"):
        return _zip_kind(os.fspath(path))
    return None


def _hdf5_at_offset(path: str) -> bool:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        offset = 512
        while offset + 8 <= min(size, 1 << 20):
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
            offset *= 2
    return False


def _zip_kind(path: str) -> str | None:
    """"keras" or "pt2" by the members' names (nothing is extracted), else None."""
    import zipfile  # with its compressors: ~5 ms the window's start-up need not pay

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return None  # the converter's reader says what is wrong
    if "config.json" in names:
        return "keras"
    if any(n.split("/")[-1] == "archive_format" or (n.split("/")[-2:-1] == ["models"] and n.endswith(".json"))
           or n.endswith("serialized_exported_program.json") for n in names):
        return "pt2"
    return None


def check_format(name: str) -> str:
    """Validate an explicitly given format name."""
    if name not in FORMATS:
        raise ConversionError(f"unknown source format {name!r} (known: {', '.join(FORMATS)})")
    return name
