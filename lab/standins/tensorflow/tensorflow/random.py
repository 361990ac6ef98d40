import numpy as np

from ._core import Tensor, _placement


def uniform(shape, minval=0.0, maxval=1.0, seed=None):
    rng = np.random.RandomState(seed)
    return Tensor(rng.uniform(minval, maxval, size=shape).astype(np.float32), _placement[-1])


def normal(shape, mean=0.0, stddev=1.0, seed=None):
    rng = np.random.RandomState(seed)
    return Tensor(rng.normal(mean, stddev, size=shape).astype(np.float32), _placement[-1])
