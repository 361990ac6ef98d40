"""Layers "tensorflow" (it imports, is built with CUDA, lists a GPU) and "compute" (a matrix
product on /GPU:0 matches the CPU result)."""

import random
import re

from .base import LayerFailure, last_error_line

IMPORT_HINTS = (
    ("No module named 'tensorflow'",
     "tensorflow is not installed in this env: re-run the deploy (pip requirements of the stack)"),
    ("Descriptors cannot not be created directly",
     "protobuf is too new for this TensorFlow: pin protobuf<3.21 (re-run the deploy)"),
    ("has no attribute 'decode'", "h5py is too new for this TensorFlow: pin h5py<3 (re-run the deploy)"),
    ("numpy", "numpy does not match this TensorFlow: re-run the deploy to restore the stack's numpy pin"),
    (".so", "a shared library TensorFlow links against is missing: re-run the deploy"),
)

MATRIX_SIZE = 128


def release_of(version):
    """The version a TensorFlow build reports for a PyPI release: no local part, no post release
    (tensorflow 2.15.0.post1 only changed its wheel's dependencies; the build inside still says
    2.15.0: https://github.com/tensorflow/tensorflow/issues/63256)."""
    return re.sub(r"\.post\d+$", "", version.split("+")[0])


def import_hint(message, expected):
    for needle, hint in IMPORT_HINTS:
        if needle in message:
            return hint
    return "TensorFlow does not import: re-run the deploy to reinstall tensorflow-gpu=={0}".format(
        expected or "(stack version)")


def list_gpus(tf):
    config = tf.config
    if hasattr(config, "list_physical_devices"):
        return config.list_physical_devices("GPU")
    return config.experimental.list_physical_devices("GPU")  # TF 2.0


def check_tensorflow(params, found):
    """The layer: the stack's TensorFlow imports, is a CUDA build and lists a GPU."""
    expected = params.get("tensorflow")
    try:
        import tensorflow as tf
    except Exception as error:  # ImportError, but also TypeError from a too-new protobuf
        message = last_error_line(error)
        raise LayerFailure("import tensorflow failed: " + message, import_hint(message, expected))
    version = getattr(tf, "__version__", "unknown")
    found["tensorflow"] = version
    if expected and release_of(version) != release_of(expected):
        raise LayerFailure(
            "tensorflow {0} imported, the stack wants {1}".format(version, expected),
            "re-run the deploy to install tensorflow-gpu=={0}".format(expected),
        )
    if not tf.test.is_built_with_cuda():
        raise LayerFailure(
            "tensorflow {0} is not built with CUDA".format(version),
            "this is a CPU-only TensorFlow: install tensorflow-gpu=={0} (re-run the deploy)".format(
                expected or version),
        )
    gpus = list_gpus(tf)
    if not gpus:
        raise LayerFailure(
            "tensorflow {0} lists no GPU".format(version),
            "TensorFlow sees no GPU although the driver and libraries load: read its 'Could not load "
            "dynamic library' lines on stderr (libnvinfer/TensorRT ones are harmless)",
        )
    found["tf_gpu"] = gpus[0].name
    return "tensorflow {0} built with CUDA, GPUs: {1}".format(
        version, ", ".join(device.name for device in gpus))


def random_matrix(generator, size):
    return [[generator.uniform(-1.0, 1.0) for _ in range(size)] for _ in range(size)]


def reference_product(a, b):
    """The CPU result, in plain Python floats (float64): independent of numpy, of TensorFlow and
    of any BLAS, so a broken numpy pin or a wrong CPU kernel cannot make both sides agree."""
    columns = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, column)) for column in columns] for row in a]


def max_difference(result, expected, rtol=1e-3, atol=1e-3):
    """(all close, largest absolute difference) with numpy.allclose's rule:
    |result - expected| <= atol + rtol * |expected| for every element."""
    close, largest = True, 0.0
    for result_row, expected_row in zip(result, expected):
        for got, want in zip(result_row, expected_row):
            difference = abs(got - want)
            largest = max(largest, difference)
            if not difference <= atol + rtol * abs(want):  # NaN is never close
                close = False
    return close, largest


def check_compute(params, found):
    """The layer: a MATRIX_SIZE square float32 product on /GPU:0 against the CPU's."""
    import tensorflow as tf

    generator = random.Random(0)
    a = random_matrix(generator, MATRIX_SIZE)
    b = random_matrix(generator, MATRIX_SIZE)
    try:
        with tf.device("/GPU:0"):
            product = tf.matmul(tf.constant(a, dtype=tf.float32), tf.constant(b, dtype=tf.float32))
        device = getattr(product, "device", "") or ""
        gpu_result = product.numpy().tolist()
    except Exception as error:
        message = last_error_line(error)
        hint = "the GPU could not run the product: check dmesg for Xid errors and GPU memory use"
        if "kernel image is invalid" in message or "NO_BINARY_FOR_GPU" in message:
            hint = ("this TensorFlow has no kernels for the GPU's compute capability: use a stack "
                    "built for it (e.g. tensorflow==2.5.0 or later for Ampere)")
        raise LayerFailure("matmul on /GPU:0 failed: " + message, hint)
    if "GPU" not in device.upper():
        raise LayerFailure(
            "the matmul ran on {0!r}, not on the GPU".format(device),
            "TensorFlow placed the op on the CPU: check that it lists the GPU and the libraries load",
        )
    close, largest = max_difference(gpu_result, reference_product(a, b))
    if not close:
        raise LayerFailure(
            "GPU matmul differs from the CPU result (max abs diff {0:.3g})".format(largest),
            "the GPU computes wrong results: check dmesg for Xid errors, clocks and cooling",
        )
    return "{0}x{0} matmul on {1} matches the CPU (max abs diff {2:.2g})".format(
        MATRIX_SIZE, device, largest)
