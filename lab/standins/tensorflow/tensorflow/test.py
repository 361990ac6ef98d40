from . import _gpu


def is_built_with_cuda():
    return True


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    # TF 2.1 logs this deprecation too (tf.config.list_physical_devices replaces it: TF 2.1.0 RELEASE.md)
    _gpu.log("W", "python/util/deprecation.py:323", "From <stdin>: is_gpu_available (from "
             "tensorflow.python.framework.test_util) is deprecated and will be removed in a future version.\n"
             "Instructions for updating:\nUse `tf.config.list_physical_devices('GPU')` instead.")
    return any(min_cuda_compute_capability is None or cc >= tuple(min_cuda_compute_capability)
               for _, _, cc, _ in _gpu.devices())


def gpu_device_name():
    return "/device:GPU:0" if _gpu.devices() else ""
