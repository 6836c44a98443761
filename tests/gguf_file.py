"""Write a copy of a GGUF file with metadata keys removed or set: a test double for "another
model" (a GGUF without a chat template, a tokenizer that adds BOS) built from the embedded one.

GGUF v3: magic, version, tensor count, key/value count; the key/value pairs; the tensor infos;
padding to `general.alignment` (32 by default); the tensor data, whose offsets are relative to
its start, so only the header before it changes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
STRING, ARRAY, BOOL = 8, 9, 7


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str):
        (value,) = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return value

    def string(self) -> bytes:
        n = self.take("Q")
        self.at += n
        return self.data[self.at - n:self.at]

    def skip_value(self, kind: int) -> None:
        if kind == STRING:
            self.string()
        elif kind == ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in _SCALARS:
                self.at += struct.calcsize("<" + _SCALARS[item]) * count
            else:
                for _ in range(count):
                    self.skip_value(item)
        else:
            self.at += struct.calcsize("<" + _SCALARS[kind])


def _string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def rewrite_gguf(source: Path, target: Path, *, remove: tuple[str, ...] = (),
                 set_bool: Mapping[str, bool] | None = None) -> Path:
    data = source.read_bytes()
    reader = _Reader(data)
    assert reader.data[:4] == b"GGUF", f"{source} is not a GGUF file"
    reader.at = 4
    version, n_tensors, n_kv = reader.take("I"), reader.take("Q"), reader.take("Q")
    pairs: list[tuple[bytes, bytes]] = []
    alignment = 32
    for _ in range(n_kv):
        key = reader.string()
        start = reader.at
        kind = reader.take("I")
        if key == b"general.alignment":
            alignment = reader.take("I")
            reader.at -= 4
        reader.skip_value(kind)
        pairs.append((key, data[start:reader.at]))
    infos_start = reader.at
    for _ in range(n_tensors):
        reader.string()
        dims = reader.take("I")
        reader.at += 8 * dims + 4 + 8
    infos = data[infos_start:reader.at]
    data_start = reader.at + (-reader.at % alignment)

    wanted = dict(set_bool or {})
    kept = [(k, v) for k, v in pairs if k.decode() not in remove and k.decode() not in wanted]
    kept += [(k.encode(), struct.pack("<I?", BOOL, v)) for k, v in wanted.items()]
    header = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kept))
    header += b"".join(_string(k) + v for k, v in kept) + infos
    header += b"\0" * (-len(header) % alignment)
    with target.open("wb") as out:
        out.write(header)
        out.write(memoryview(data)[data_start:])
    return target
