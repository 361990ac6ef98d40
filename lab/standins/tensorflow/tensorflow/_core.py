"""Just enough tensors for a verification: constants, random matrices, matmul, reduce_sum, device."""
import contextlib

import numpy as np

from . import _gpu

_placement = ["/job:localhost/replica:0/task:0/device:CPU:0"]


class Tensor:
    def __init__(self, value, device):
        self._value = np.asarray(value)
        self.device = device

    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    def numpy(self):
        return self._value

    def __repr__(self):
        return "<tf.Tensor: shape=%s, dtype=%s, numpy=%r>" % (self.shape, self.dtype, self._value)


@contextlib.contextmanager
def device(name):
    kind, _, index = name.upper().replace("/DEVICE:", "").lstrip("/").partition(":")
    if kind == "GPU" and int(index or 0) >= len(_gpu.devices()):
        raise RuntimeError("/job:localhost/replica:0/task:0/device:GPU:%s unknown device." % (index or 0))
    _placement.append("/job:localhost/replica:0/task:0/device:%s:%s" % (kind, index or 0))
    try:
        yield
    finally:
        _placement.pop()


def constant(value, dtype=None):
    return Tensor(np.asarray(value, dtype=dtype or np.float32), _placement[-1])


def matmul(a, b):
    return Tensor(np.matmul(_value(a), _value(b)), _placement[-1])


def reduce_sum(tensor):
    return Tensor(np.sum(_value(tensor)), _placement[-1])


def _value(tensor):
    return tensor.numpy() if isinstance(tensor, Tensor) else np.asarray(tensor, dtype=np.float32)
