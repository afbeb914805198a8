"""rdata.py -- read R lazy-load databases (.rdx/.rdb) without R.

Only the subset of R's XDR serialisation that data packages use is
supported: vectors, pairlists, symbols, environments and references.
"""
import gzip
import struct
import zlib

NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE = 254, 253, 252, 251, 250
NAMESPACESXP, PACKAGESXP, PERSISTSXP, EMPTYENV, BASEENV = 249, 248, 247, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP, REFSXP = 240, 239, 238, 255
SYMSXP, LISTSXP, CLOSXP, ENVSXP, LANGSXP = 1, 2, 3, 4, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP = 9, 10, 13, 14, 15
STRSXP, VECSXP, EXPRSXP, RAWSXP = 16, 19, 20, 24


class RError(Exception):
    pass


class RObject:
    """A decoded R value: its type code, payload and attributes."""

    def __init__(self, sxp, value, attrs=None):
        self.sxp = sxp
        self.value = value
        self.attrs = attrs or {}

    def __repr__(self):
        return "RObject(%d, %r)" % (self.sxp, self.value)


class _Reader:
    def __init__(self, data):
        if data[:2] != b"X\n":
            raise RError("not an XDR R serialisation")
        self.d = data
        self.p = 2
        self.refs = []
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal R version to read it
        if version == 3:
            n = self.int()
            self.p += n  # native encoding name
        elif version != 2:
            raise RError("unsupported serialisation version %d" % version)

    def int(self):
        v = struct.unpack_from(">i", self.d, self.p)[0]
        self.p += 4
        return v

    def ints(self, n):
        v = struct.unpack_from(">%di" % n, self.d, self.p)
        self.p += 4 * n
        return list(v)

    def doubles(self, n):
        v = struct.unpack_from(">%dd" % n, self.d, self.p)
        self.p += 8 * n
        return list(v)

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def pairlist_attrs(self):
        obj = self.item()
        out = {}
        while isinstance(obj, RObject) and obj.sxp == LISTSXP:
            tag, car, cdr = obj.value
            out[tag] = car
            obj = cdr
        return out

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if t == NILVALUE:
            return None
        if t in (GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE, EMPTYENV, BASEENV):
            return RObject(t, None)
        if t == REFSXP:
            idx = flags >> 8
            if idx == 0:
                idx = self.int()
            return self.refs[idx - 1]
        if t in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            if self.int() != 0:
                raise RError("unexpected persistent name flag")
            names = [self.item() for _ in range(self.int())]
            obj = RObject(t, names)
            self.refs.append(obj)
            return obj
        if t == SYMSXP:
            # Symbols are returned as plain strings so that attribute
            # tags read back through a reference compare equal.
            name = self.item()
            self.refs.append(name)
            return name
        if t == ENVSXP:
            obj = RObject(ENVSXP, None)
            self.refs.append(obj)
            self.int()  # locked
            enclos, frame, hashtab, attrib = self.item(), self.item(), self.item(), self.item()
            obj.value = (enclos, frame, hashtab)
            obj.attrs = attrib
            return obj
        if t in (LISTSXP, LANGSXP, CLOSXP, ATTRLANGSXP, ATTRLISTSXP):
            attrs = self.pairlist_attrs() if has_attr else {}
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return RObject(LISTSXP if t in (LISTSXP, ATTRLISTSXP) else t, (tag, car, cdr), attrs)
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n]
            self.p += n
            return s.decode("utf-8", "replace")
        if t in (LGLSXP, INTSXP):
            val = self.ints(self.length())
        elif t == REALSXP:
            val = self.doubles(self.length())
        elif t == CPLXSXP:
            val = self.doubles(2 * self.length())
        elif t == RAWSXP:
            n = self.length()
            val = self.d[self.p:self.p + n]
            self.p += n
        elif t in (STRSXP, VECSXP, EXPRSXP):
            val = [self.item() for _ in range(self.length())]
        elif t == ALTREP:
            raise RError("ALTREP objects are not supported")
        else:
            raise RError("unsupported SEXP type %d" % t)
        attrs = self.pairlist_attrs() if has_attr else {}
        return RObject(t, val, attrs)


def unserialize(data):
    return _Reader(data).item()


def _lazy_chunk(blob, offset, length):
    chunk = blob[offset:offset + length]
    expect = struct.unpack(">I", chunk[:4])[0]
    body = chunk[4:]
    # Newer R may tag the compression method in a 5th byte; zlib has none.
    if body[:1] in (b"Z", b"2", b"X", b"0"):
        raise RError("only zlib-compressed lazy-load chunks are supported")
    raw = zlib.decompress(body)
    if len(raw) != expect:
        raise RError("lazy-load chunk length mismatch")
    return raw


def load_lazy_db(prefix):
    """Return {name: RObject} for every variable of PREFIX.rdx/PREFIX.rdb."""
    with open(prefix + ".rdx", "rb") as f:
        index = unserialize(gzip.decompress(f.read()))
    with open(prefix + ".rdb", "rb") as f:
        blob = f.read()
    if index.sxp != VECSXP:
        raise RError("index is not a list")
    names = index.attrs.get("names").value
    variables = index.value[names.index("variables")]
    out = {}
    for name, pos in zip(variables.attrs["names"].value, variables.value):
        off, ln = pos.value
        out[name] = unserialize(_lazy_chunk(blob, int(off), int(ln)))
    return out
