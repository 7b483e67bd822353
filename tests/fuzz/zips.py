"""Zip edits the fuzzer shares between readers (.keras, .npz, .pt2).

Members are rewritten with :mod:`zipfile`; headers are patched in place;
a bomb member is appended by hand, since zipfile cannot write precomputed
deflate data, and never held unpacked in memory.
"""

from __future__ import annotations

import random
import struct
import zipfile
import zlib

_BOMB_CACHE: dict[int, bytes] = {}


def deflated_zeros(size: int) -> bytes:
    """``size`` zero bytes as a raw deflate stream (cached: bombs repeat across cases)."""
    if size not in _BOMB_CACHE:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = bytes(1 << 20)
        out = [c.compress(block) for _ in range(size >> 20)]
        _BOMB_CACHE[size] = b"".join(out) + c.flush()
    return _BOMB_CACHE[size]


def rewrite_zip(path: str, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> None:
    """Write ``members`` (name -> bytes, in order) as the whole archive at ``path``."""
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)


_MEMBER_CAP = 64 << 20


def read_zip(path: str) -> dict[str, bytes]:
    """Every member of the archive at ``path``, name -> bytes, in archive order.

    Raises ValueError for a member over 64 MB (an earlier bomb): rewritten, it
    would make the case a gigabyte-sized file instead of a small one asking
    for gigabytes.
    """
    with zipfile.ZipFile(path) as z:
        big = [i.filename for i in z.infolist() if i.file_size > _MEMBER_CAP]
        if big:
            raise ValueError(f"member {big[0]} is a bomb")
        return {n: z.read(n) for n in z.namelist()}


def patch_zip_headers(path: str, field: str, rng: random.Random) -> str:
    """Set the compression method or the encryption flag in every header."""
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    value = rng.choice([99, 14, 93, 6, 1]) if field == "method" else None
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = data.find(sig)
        while i >= 0:
            if field == "method":
                data[i + method_at:i + method_at + 2] = struct.pack("<H", value)
            else:
                data[i + flag_at] |= 1
            i = data.find(sig, i + 4)
    with open(path, "wb") as fh:
        fh.write(data)
    return f"zip {field} {value}"


def zip_bomb(path: str, name: str, header: bytes, size: int) -> None:
    """Replace member ``name`` by ``header`` + ``size`` zero bytes, deflated (a raw-written member)."""
    members = read_zip(path)
    members.pop(name, None)
    rewrite_zip(path, members)
    body = deflated_zeros(size)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed_head = c.compress(header) + c.flush(zlib.Z_SYNC_FLUSH)
    crc, block = zlib.crc32(header), bytes(1 << 20)  # never the whole member in memory
    for _ in range(size >> 20):
        crc = zlib.crc32(block, crc)
    unpacked = len(header) + (size >> 20 << 20)
    packed = packed_head + body
    with open(path, "r+b") as fh:
        # Append a member by hand: zipfile cannot write precomputed deflate data.
        data = bytearray(fh.read())
        end = data.rfind(b"PK\x05\x06")
        central_at = struct.unpack("<I", data[end + 16:end + 20])[0]
        central, tail = data[central_at:end], data[end:]
        fname = name.encode()
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed),
                            unpacked & 0xFFFFFFFF, len(fname), 0) + fname
        offset = central_at
        record = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(packed),
                             unpacked & 0xFFFFFFFF, len(fname), 0, 0, 0, 0, 0, offset) + fname
        body_all = bytes(data[:central_at]) + local + packed
        new_central = bytes(central) + record
        count = struct.unpack("<H", tail[10:12])[0] + 1
        tail[8:10] = struct.pack("<H", count)
        tail[10:12] = struct.pack("<H", count)
        tail[12:16] = struct.pack("<I", len(new_central))
        tail[16:20] = struct.pack("<I", len(body_all))
        fh.seek(0)
        fh.truncate()
        fh.write(body_all + new_central + bytes(tail))
