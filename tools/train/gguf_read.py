"""gguf_read.py -- a minimal GGUF v3 reader, independent of gguf_write.py.

Used to check written files: it parses the whole file with its own
format knowledge and validates sizes, offsets and alignment.
"""
import struct

import numpy as np

_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
        10: "Q", 11: "q", 12: "d"}


class GGUFFile:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError("bad magic")
        self.pos = 4
        self.version = self._u("I")
        if self.version != 3:
            raise ValueError("unsupported version %d" % self.version)
        n_tensors, n_kv = self._u("Q"), self._u("Q")
        self.kv = {}
        for _ in range(n_kv):
            key = self._s()
            if key in self.kv:
                raise ValueError("duplicate key " + key)
            self.kv[key] = self._val(self._u("I"))
        self.align = self.kv.get("general.alignment", 32)
        infos = []
        for _ in range(n_tensors):
            name = self._s()
            nd = self._u("I")
            ne = [self._u("Q") for _ in range(nd)]
            ttype, off = self._u("I"), self._u("Q")
            infos.append((name, ne, ttype, off))
        data_start = self.pos + (-self.pos) % self.align
        self.tensors = {}
        for name, ne, ttype, off in infos:
            if ttype != 0:
                raise ValueError("%s: only F32 handled here" % name)
            if off % self.align:
                raise ValueError("%s: misaligned" % name)
            count = int(np.prod(ne))
            start = data_start + off
            if start + 4 * count > len(self.buf):
                raise ValueError("%s: runs past end of file" % name)
            arr = np.frombuffer(self.buf, dtype="<f4", count=count, offset=start)
            self.tensors[name] = arr.reshape(list(reversed(ne)))

    def _u(self, c):
        v = struct.unpack_from("<" + c, self.buf, self.pos)[0]
        self.pos += struct.calcsize(c)
        return v

    def _s(self):
        n = self._u("Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _val(self, t):
        if t == 8:
            return self._s()
        if t == 9:
            et, n = self._u("I"), self._u("Q")
            return [self._val(et) for _ in range(n)]
        return self._u(_FMT[t])
