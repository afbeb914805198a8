"""gguf_write.py -- write GGUF v3 files (metadata + F32 tensors) with struct."""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32 = 0, 1, 2, 3, 4, 5, 6
T_BOOL, T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 7, 8, 9, 10, 11, 12
GGML_TYPE_F32 = 0

_SCALAR = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
    T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?",
    T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, value):
    if vtype == T_STRING:
        return _str(value)
    return struct.pack(_SCALAR[vtype], value)


class GGUFWriter:
    """Collects key/value pairs and tensors, then writes one file.

    Keys keep insertion order; tensors are F32 and laid out in the order
    added, each aligned to ALIGNMENT bytes.
    """

    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, None, value))

    def add_array(self, key, etype, values):
        self.kv.append((key, T_ARRAY, etype, list(values)))

    def add_tensor(self, name, array):
        a = np.ascontiguousarray(array, dtype="<f4")
        if a.ndim < 1 or a.ndim > 4:
            raise ValueError("tensor %s has %d dims" % (name, a.ndim))
        self.tensors.append((name, a))

    def _kv_bytes(self):
        out = bytearray()
        for key, vtype, etype, value in self.kv:
            out += _str(key) + struct.pack("<I", vtype)
            if vtype == T_ARRAY:
                out += struct.pack("<IQ", etype, len(value))
                for v in value:
                    out += _value(etype, v)
            else:
                out += _value(vtype, value)
        return bytes(out)

    def write(self, path):
        infos = bytearray()
        offset = 0
        for name, a in self.tensors:
            # GGUF lists dims innermost first: a row-major (rows, cols)
            # array has ne[0] = cols.
            ne = list(reversed(a.shape))
            infos += _str(name) + struct.pack("<I", len(ne))
            infos += struct.pack("<%dQ" % len(ne), *ne)
            infos += struct.pack("<IQ", GGML_TYPE_F32, offset)
            offset += a.nbytes
            offset += (-offset) % ALIGNMENT
        head = GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        head += self._kv_bytes() + bytes(infos)
        with open(path, "wb") as f:
            f.write(head)
            f.write(b"\0" * ((-len(head)) % ALIGNMENT))
            for _, a in self.tensors:
                f.write(a.tobytes())
                f.write(b"\0" * ((-a.nbytes) % ALIGNMENT))
