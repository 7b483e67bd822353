"""A bounds-checked reader of FlatBuffers tables, as TFLite files store them.

FlatBuffers is a binary layout in which tables point at their vtables and at
vectors, strings and other tables through 32-bit offsets. The reader follows
those offsets only after checking that what they point at lies inside the
buffer, so a truncated or hostile file ends in one :class:`FlatBufferError`
naming the problem, never in a read outside the buffer or a huge allocation.
(The ``flatbuffers`` package's generated readers check nothing, which is why
Strata reads the few tables it needs itself.)

Only reading, only what TFLite's schema uses: tables, scalars, strings,
vectors of scalars, of tables and of strings.
"""

from __future__ import annotations

import struct

import numpy as np

_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
SCALARS = {"bool": "<?", "i8": "<b", "u8": "<B", "i16": "<h", "u16": "<H", "i32": "<i",
           "u32": "<I", "i64": "<q", "u64": "<Q", "f32": "<f", "f64": "<d"}


class FlatBufferError(ValueError):
    """The buffer is not a well-formed FlatBuffer: the message says where it breaks."""


class Table:
    """One table of a FlatBuffer: fields by their number in the schema.

    Parameters
    ----------
    buf : bytes or memoryview
        The whole buffer.
    pos : int
        Where the table starts.
    what : str
        The table's name in the schema, for error messages.
    """

    __slots__ = ("buf", "pos", "what", "_fields")

    def __init__(self, buf: bytes | memoryview, pos: int, what: str) -> None:
        self.buf, self.pos, self.what = buf, pos, what
        _need(buf, pos, 4, f"{what} table")
        vtable = pos - _I32.unpack_from(buf, pos)[0]
        _need(buf, vtable, 4, f"{what} vtable")
        vt_size, table_size = _U16.unpack_from(buf, vtable)[0], _U16.unpack_from(buf, vtable + 2)[0]
        if vt_size < 4 or vt_size % 2:
            raise FlatBufferError(f"{what} vtable has a bad size ({vt_size})")
        _need(buf, vtable, vt_size, f"{what} vtable")
        _need(buf, pos, max(table_size, 4), f"{what} table")
        count = (vt_size - 4) // 2
        self._fields = [_U16.unpack_from(buf, vtable + 4 + 2 * i)[0] for i in range(count)]
        for offset in self._fields:
            if offset and offset + 1 > table_size:
                raise FlatBufferError(f"{what} table has a field outside the table")

    def _field(self, index: int) -> int:
        """Absolute position of field ``index``, or 0 when the field is absent."""
        if index >= len(self._fields) or not self._fields[index]:
            return 0
        return self.pos + self._fields[index]

    def has(self, index: int) -> bool:
        return bool(self._field(index))

    def scalar(self, index: int, kind: str, default: float | int | bool = 0) -> float | int | bool:
        """A scalar field (``kind`` is a key of :data:`SCALARS`), or its default."""
        pos = self._field(index)
        if not pos:
            return default
        fmt = SCALARS[kind]
        _need(self.buf, pos, struct.calcsize(fmt), f"{self.what} field {index}")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def _target(self, index: int) -> int:
        pos = self._field(index)
        if not pos:
            return 0
        _need(self.buf, pos, 4, f"{self.what} field {index}")
        target = pos + _U32.unpack_from(self.buf, pos)[0]
        _need(self.buf, target, 4, f"{self.what} field {index}")
        return target

    def table(self, index: int, what: str) -> "Table | None":
        target = self._target(index)
        return Table(self.buf, target, what) if target else None

    def string(self, index: int, default: str = "") -> str:
        target = self._target(index)
        return _string(self.buf, target, f"{self.what} field {index}") if target else default

    def vector(self, index: int, kind: str) -> np.ndarray | None:
        """A vector of scalars as a read-only numpy array (no copy), or None."""
        target = self._target(index)
        if not target:
            return None
        dtype = np.dtype(SCALARS[kind])
        n = _length(self.buf, target, dtype.itemsize, f"{self.what} field {index}")
        return np.frombuffer(self.buf, dtype, n, target + 4)

    def bytes_at(self, index: int) -> memoryview | None:
        """A vector of bytes as a view of the buffer, or None."""
        target = self._target(index)
        if not target:
            return None
        n = _length(self.buf, target, 1, f"{self.what} field {index}")
        return memoryview(self.buf)[target + 4:target + 4 + n]

    def tables(self, index: int, what: str) -> list["Table"]:
        """A vector of tables (empty when absent)."""
        return [Table(self.buf, pos, what) for pos in self._offsets(index, what)]

    def strings(self, index: int) -> list[str]:
        return [_string(self.buf, pos, f"{self.what} field {index}") for pos in self._offsets(index, "string")]

    def _offsets(self, index: int, what: str) -> list[int]:
        target = self._target(index)
        if not target:
            return []
        n = _length(self.buf, target, 4, f"{self.what} field {index}")
        out = []
        for i in range(n):
            slot = target + 4 + 4 * i
            pos = slot + _U32.unpack_from(self.buf, slot)[0]
            _need(self.buf, pos, 4, f"{what} {i} of {self.what} field {index}")
            out.append(pos)
        return out


def root(buf: bytes | memoryview, what: str, identifier: bytes | None = None) -> Table:
    """The root table of ``buf``, after checking the file identifier if one is given."""
    _need(buf, 0, 8, "the root offset")
    if identifier is not None and bytes(buf[4:8]) != identifier:
        raise FlatBufferError(f"no {identifier.decode()!r} file identifier at offset 4")
    return Table(buf, _U32.unpack_from(buf, 0)[0], what)


def _need(buf: bytes | memoryview, pos: int, size: int, what: str) -> None:
    if pos < 0 or pos + size > len(buf):
        raise FlatBufferError(f"{what} lies outside the file (offset {pos}, {size} bytes, "
                              f"file of {len(buf)} bytes): truncated or damaged")


def _length(buf: bytes | memoryview, pos: int, itemsize: int, what: str) -> int:
    n = _U32.unpack_from(buf, pos)[0]
    _need(buf, pos + 4, n * itemsize, f"{what} ({n} items)")
    return n


def _string(buf: bytes | memoryview, pos: int, what: str) -> str:
    n = _length(buf, pos, 1, what)
    return bytes(buf[pos + 4:pos + 4 + n]).decode("utf-8", errors="replace")
