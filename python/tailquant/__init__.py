"""tailquant: the gradient codec of tailquant (libtailquant) from Python, through ctypes.

    import numpy as np, tailquant
    codec = tailquant.Codec("tnqsgd", bits=3)            # host path; device="auto" for OpenCL
    msg = codec.encode(grad, tensor=0, iteration=1)       # bytes, the wire format
    out = codec.decode(msg)                               # float32 array, like grad
    tailquant.message_info(msg)                           # {'method': 'tnqsgd', 'bits': 3, ...}

Needs numpy and libtailquant.so: found from $TAILQUANT_LIBRARY, next to this package when
installed (PREFIX/lib/python3/dist-packages/tailquant -> PREFIX/lib), in a build folder of the
source tree, or on the loader's path. No compiled extension.
"""
import ctypes
import ctypes.util
import glob
import os

import numpy as np

__all__ = ["Codec", "TailquantError", "message_info", "version", "METHODS"]


class TailquantError(Exception):
    """A failed libtailquant call: .code is the tailquant_status (2 bad input, 3 I/O,
    4 device, 5 memory, 6 internal), the message names the value at fault."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Header(ctypes.Structure):
    _fields_ = [("method", ctypes.c_char * 16), ("bits", ctypes.c_int), ("levels", ctypes.c_int),
                ("worker", ctypes.c_uint32), ("iteration", ctypes.c_uint32),
                ("tensor", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("bucket", ctypes.c_uint32), ("alpha", ctypes.c_float),
                ("header_bits", ctypes.c_uint64), ("payload_bits", ctypes.c_uint64),
                ("pad_bits", ctypes.c_uint64)]

    def as_dict(self):
        d = {name: getattr(self, name) for name, _ in self._fields_}
        d["method"] = self.method.decode()
        return d


def _candidates():
    env = os.environ.get("TAILQUANT_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    up = here
    for _ in range(4):
        up = os.path.dirname(up)
        for pat in ("libtailquant.so", "libtailquant.so.*", "lib/libtailquant.so",
                    "lib/*/libtailquant.so", "build*/libtailquant.so"):
            for p in sorted(glob.glob(os.path.join(up, pat))):
                yield p
    found = ctypes.util.find_library("tailquant")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.tailquant_version  # noqa: B018 -- the right library
            return lib
        except (OSError, AttributeError) as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("tailquant: libtailquant.so not found (set TAILQUANT_LIBRARY=/path/to/"
                      "libtailquant.so); tried: " + ("; ".join(errors) or "nothing"))


_lib = _load()
_P = ctypes.c_void_p
_u8p = ctypes.POINTER(ctypes.c_uint8)
_f32p = ctypes.POINTER(ctypes.c_float)
_lib.tailquant_version.restype = ctypes.c_char_p
_lib.tailquant_last_error.restype = ctypes.c_char_p
_lib.tailquant_method_name.argtypes = [ctypes.c_int]
_lib.tailquant_method_name.restype = ctypes.c_char_p


def _method_names():
    names, i = [], 0
    while True:
        n = _lib.tailquant_method_name(i)
        if n is None:
            return tuple(names)
        names.append(n.decode())
        i += 1


# The library's method table, in its order (docs/compression.md).
METHODS = _method_names()
_lib.tailquant_codec_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(_P)]
_lib.tailquant_codec_free.argtypes = [_P]
_lib.tailquant_codec_free.restype = None
_lib.tailquant_codec_device.argtypes = [_P]
_lib.tailquant_codec_device.restype = ctypes.c_char_p
_lib.tailquant_codec_reset.argtypes = [_P]
_lib.tailquant_encode.argtypes = [_P, _f32p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint32,
                                  ctypes.POINTER(_u8p), ctypes.POINTER(ctypes.c_size_t)]
_lib.tailquant_message_info.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Header)]
_lib.tailquant_decode.argtypes = [_P, ctypes.c_char_p, ctypes.c_size_t, _f32p, ctypes.c_size_t,
                                  ctypes.c_float, ctypes.POINTER(_Header)]


def _check(code):
    if code != 0:
        raise TailquantError(code, _lib.tailquant_last_error().decode(errors="replace"))


def version():
    """The library's version and git commit, e.g. '0.1.0 (git a6336d6)'."""
    return _lib.tailquant_version().decode()


def message_info(msg):
    """Validates a message (every check of docs/wire-format.md) and returns its header as a
    dict: method, bits, levels, worker, iteration, tensor, count, bucket, alpha, header_bits,
    payload_bits, pad_bits."""
    msg = bytes(msg)
    h = _Header()
    _check(_lib.tailquant_message_info(msg, len(msg), ctypes.byref(h)))
    return h.as_dict()


class Codec:
    """One sender's (or receiver's) codec. method: one of METHODS; the other keyword arguments
    are the options of tailquant_codec_create (include/tailquant.h): bits, bucket, tail,
    alpha_rule, zero_level, error_feedback, min_elems, refit_every, seed, worker, device
    ("host", the default, or an OpenCL device: "auto", "cpu", "gpu", "P:D")."""

    def __init__(self, method="tnqsgd", **options):
        opts = {"method": method}
        opts.update(options)
        text = " ".join("%s=%s" % (k, int(v) if isinstance(v, bool) else v) for k, v in opts.items())
        self._c = _P()
        _check(_lib.tailquant_codec_create(text.encode(), ctypes.byref(self._c)))
        self.options = opts

    def close(self):
        if getattr(self, "_c", None):
            _lib.tailquant_codec_free(self._c)
            self._c = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def device(self):
        return _lib.tailquant_codec_device(self._c).decode()

    def reset(self):
        """Forgets every tensor id (residuals, element counts, designs)."""
        _check(_lib.tailquant_codec_reset(self._c))

    def encode(self, x, tensor=0, iteration=0):
        """Compresses x (any shape; float32, or converted to it) as tensor id `tensor` (0..65535)
        of `iteration` and returns the message as bytes."""
        a = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        msg = _u8p()
        n = ctypes.c_size_t()
        _check(_lib.tailquant_encode(self._c, a.ctypes.data_as(_f32p), a.size, tensor, iteration,
                                     ctypes.byref(msg), ctypes.byref(n)))
        return ctypes.string_at(msg, n.value)

    def decode(self, msg, out=None, weight=1.0):
        """Validates msg and returns out + weight * decoded values. out: a float32 C-contiguous
        array updated in place (its size must be the message's element count), or None for a
        new zero array of that count."""
        msg = bytes(msg)
        if out is None:
            out = np.zeros(message_info(msg)["count"], dtype=np.float32)
        if out.dtype != np.float32 or not out.flags["C_CONTIGUOUS"] or not out.flags["WRITEABLE"]:
            raise TypeError("out must be a writeable C-contiguous float32 array")
        _check(_lib.tailquant_decode(self._c, msg, len(msg), out.ctypes.data_as(_f32p), out.size,
                                     weight, None))
        return out
