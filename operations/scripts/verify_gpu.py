"""Layered GPU verification of one conda env, run on the target by the env's own python.

Layers, each one needing the previous ones (like the NVIDIA GPU Operator's validator):

  driver       the NVIDIA driver answers: NVML via pynvml where importable, else nvidia-smi
  cuda_driver  the CUDA driver API (libcuda.so.1) initialises, sees a device, and is new enough
  libraries    the CUDA runtime / cuDNN libraries TensorFlow dlopens load, and from where
  tensorflow   TensorFlow imports, is built with CUDA and lists a GPU
  compute      a matrix product on /GPU:0 matches the CPU result

Prints ONE JSON verdict line on stdout (everything else, TensorFlow's logs included, goes to
stderr), optionally writes the same verdict to a file, and exits 0 when every layer passed, 3 when
one failed. The verdict's shape is the project's contract (INTERFACES.md section 4):
  {"ok", "failed_layer", "hint", "layers": [{"name", "ok", "detail"}], "host", "tensorflow", ...}

Written for every python a TF-era env may have (3.5 .. 3.12): no f-strings, no annotations, only
the standard library at import time (pynvml and tensorflow are imported inside layers).

Arguments (command line; the pyinfra fact feeds the script itself on stdin: `python - ARGS`):
  --params-json JSON   {"tensorflow": "2.1.0", "libraries": [...], "min_cuda_driver": "10.1",
                        "verdict_path": "...", "env_prefix": "..."}; flags below override it
  --tensorflow VERSION --library SONAME (repeatable) --min-cuda-driver X.Y
  --verdict-path PATH  --env-prefix PATH (default: this python's sys.prefix)
"""

import argparse
import ctypes
import datetime
import json
import os
import socket
import subprocess
import sys
import warnings

EXIT_OK = 0
EXIT_LAYER_FAILED = 3

LAYERS = ("driver", "cuda_driver", "libraries", "tensorflow", "compute")

# Names of the CUresult codes the verification can meet (cuda.h); the number is always shown too.
CUDA_ERRORS = {
    1: "CUDA_ERROR_INVALID_VALUE",
    2: "CUDA_ERROR_OUT_OF_MEMORY",
    3: "CUDA_ERROR_NOT_INITIALIZED",
    35: "CUDA_ERROR_INSUFFICIENT_DRIVER",
    100: "CUDA_ERROR_NO_DEVICE",
    101: "CUDA_ERROR_INVALID_DEVICE",
    209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
    303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
    304: "CUDA_ERROR_OPERATING_SYSTEM",
    803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
    804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
    999: "CUDA_ERROR_UNKNOWN",
}

HINT_NO_DRIVER = (
    "no NVIDIA driver answers on this host (neither NVML nor nvidia-smi): install it "
    "(re-run the deploy with nvidia_driver_upgrade=True) and reboot"
)
HINT_DRIVER_UNREACHABLE = (
    "nvidia-smi cannot talk to the driver: reboot if the driver was just upgraded, or reinstall it"
)
HINT_NO_DEVICE = (
    "the driver sees no GPU: check that the card is seated and powered (lspci -d 10de:) and that "
    "nouveau is not bound to it"
)


class LayerFailure(Exception):
    """A layer's check failed: `detail` says what was seen, `hint` what to do about it."""

    def __init__(self, detail, hint):
        Exception.__init__(self, detail)
        self.detail = detail
        self.hint = hint


def _text(value):
    """pynvml returns bytes in older releases and str in newer ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cuda_version_number(text):
    """"10.1" -> 10010, the encoding cuDriverGetVersion uses (1000 * major + 10 * minor)."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    parts = str(text).split(".")
    major = int(parts[0])
    minor = int(parts[1]) if len(parts) > 1 else 0
    return 1000 * major + 10 * minor


def cuda_version_text(number):
    return "{0}.{1}".format(number // 1000, (number % 1000) // 10)


# ---------------------------------------------------------------- layer 1: the driver answers

def _driver_via_nvml(pynvml):
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        text = _text(error)
        if "Library Not Found" in text:
            return None  # no libnvidia-ml.so.1: let nvidia-smi have the last word
        # "Driver Not Loaded", "Driver/library version mismatch", ...
        raise LayerFailure("NVML: " + text, HINT_DRIVER_UNREACHABLE)
    try:
        version = _text(pynvml.nvmlSystemGetDriverVersion())
        count = pynvml.nvmlDeviceGetCount()
        names = [
            _text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index)))
            for index in range(count)
        ]
    except pynvml.NVMLError as error:
        raise LayerFailure("NVML: " + _text(error), HINT_DRIVER_UNREACHABLE)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # shutting down is best effort: the answer is already read
            pass
    return {"source": "NVML", "driver_version": version, "gpus": names}


def _driver_via_smi():
    command = ["nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader"]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = _text(process.communicate()[0])
    except OSError:
        raise LayerFailure(
            "no NVML library (libnvidia-ml.so.1) and no nvidia-smi on PATH",
            HINT_NO_DRIVER,
        )
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if process.returncode != 0:
        message = lines[0] if lines else "exit status {0}".format(process.returncode)
        if "No devices were found" in output:
            raise LayerFailure("nvidia-smi: " + message, HINT_NO_DEVICE)
        raise LayerFailure("nvidia-smi: " + message, HINT_DRIVER_UNREACHABLE)
    names, version = [], None
    for line in lines:
        fields = [field.strip() for field in line.split(",")]
        if len(fields) >= 3:
            names.append(fields[1])
            version = fields[2]
    return {"source": "nvidia-smi", "driver_version": version, "gpus": names}


def check_driver(params, found):
    answer = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the old `pynvml` wheel warns it is deprecated
            import pynvml
    except ImportError:
        pynvml = None
    if pynvml is not None:
        answer = _driver_via_nvml(pynvml)
    if answer is None:
        answer = _driver_via_smi()
    if not answer["gpus"]:
        raise LayerFailure(
            "{0}: driver {1} lists no GPU".format(answer["source"], answer["driver_version"]),
            HINT_NO_DEVICE,
        )
    found["driver_version"] = answer["driver_version"]
    found["gpu"] = answer["gpus"][0]
    return "{0}: driver {1}, {2} GPU(s): {3}".format(
        answer["source"], answer["driver_version"], len(answer["gpus"]), ", ".join(answer["gpus"])
    )


# ---------------------------------------------------------------- layer 2: CUDA driver API

def _cuda_error(code):
    return "{0} ({1})".format(code, CUDA_ERRORS.get(code, "see cuda.h"))


def check_cuda_driver(params, found):
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError as error:
        raise LayerFailure(
            "libcuda.so.1 cannot be loaded: {0}".format(error),
            "the driver's CUDA library libcuda.so.1 is missing: reinstall the NVIDIA driver packages "
            "(they ship it, e.g. libnvidia-compute-<branch>)",
        )
    code = libcuda.cuInit(0)
    if code != 0:
        hint = HINT_DRIVER_UNREACHABLE
        if code == 100:
            hint = HINT_NO_DEVICE
        elif code in (35, 803):
            hint = "the kernel module and libcuda.so.1 disagree: reboot to load the installed driver"
        raise LayerFailure("cuInit(0) returned {0}".format(_cuda_error(code)), hint)
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    code = libcuda.cuDriverGetVersion(ctypes.byref(version))
    if code != 0:
        raise LayerFailure("cuDriverGetVersion returned {0}".format(_cuda_error(code)),
                           HINT_DRIVER_UNREACHABLE)
    code = libcuda.cuDeviceGetCount(ctypes.byref(count))
    if code != 0 or count.value < 1:
        raise LayerFailure(
            "cuDeviceGetCount returned {0}, {1} device(s)".format(_cuda_error(code), count.value),
            HINT_NO_DEVICE,
        )
    needed = cuda_version_number(params.get("min_cuda_driver"))
    if needed is not None and version.value < needed:
        raise LayerFailure(
            "the driver supports CUDA {0} but cudatoolkit {1} needs {1}".format(
                cuda_version_text(version.value), cuda_version_text(needed)),
            "upgrade the NVIDIA driver (re-run the deploy with nvidia_driver_upgrade=True) and reboot",
        )
    found["cuda_driver"] = cuda_version_text(version.value)
    return "libcuda.so.1: CUDA {0}, {1} device(s)".format(cuda_version_text(version.value),
                                                         count.value)


# ---------------------------------------------------------------- layer 3: the env's libraries

def loaded_library_paths(maps_path="/proc/self/maps"):
    """Paths of the shared objects mapped into this process."""
    paths = set()
    try:
        with open(maps_path) as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    paths.add(fields[5].strip())
    except (IOError, OSError):
        pass
    return paths


def library_origin(soname, paths):
    """The mapped file that provides `soname` (the real file, e.g. libcudnn.so.7.6.5), or None."""
    for path in sorted(paths):
        name = os.path.basename(path)
        if name == soname or name.startswith(soname + "."):
            return path
    return None


def _inside(path, prefix):
    real_prefix = os.path.realpath(prefix).rstrip("/") + "/"
    return os.path.realpath(path).startswith(real_prefix)


def _library_hint(soname, env_prefix):
    package = "cudnn" if soname.startswith("libcudnn") else "cudatoolkit"
    return (
        "{0} not found in the env: re-run the deploy (conda package {1}) or check LD_LIBRARY_PATH "
        "shadowing by /usr/local/cuda (the env's libraries are in {2}/lib)".format(
            soname, package, env_prefix)
    )


def check_libraries(params, found):
    env_prefix = params["env_prefix"]
    notes = []
    for soname in params.get("libraries") or []:
        try:
            ctypes.CDLL(soname)
        except OSError as error:
            raise LayerFailure("{0} does not load: {1}".format(soname, error),
                               _library_hint(soname, env_prefix))
        origin = library_origin(soname, loaded_library_paths())
        if origin is None:
            notes.append("{0} (origin unknown)".format(soname))
        elif _inside(origin, env_prefix):
            notes.append("{0} (env)".format(soname))
        else:
            # Loads, but not the env's copy: TensorFlow will use it too. Worth seeing in the verdict.
            notes.append("{0} from {1} (outside the env)".format(soname, origin))
    if not notes:
        return "no libraries to check"
    return "loaded: " + ", ".join(notes)


# ---------------------------------------------------------------- layer 4: TensorFlow

IMPORT_HINTS = (
    ("No module named 'tensorflow'",
     "tensorflow is not installed in this env: re-run the deploy (pip requirements of the stack)"),
    ("Descriptors cannot not be created directly",
     "protobuf is too new for this TensorFlow: pin protobuf<3.21 (re-run the deploy)"),
    ("has no attribute 'decode'", "h5py is too new for this TensorFlow: pin h5py<3 (re-run the deploy)"),
    ("numpy", "numpy does not match this TensorFlow: re-run the deploy to restore the stack's numpy pin"),
    (".so", "a shared library TensorFlow links against is missing: re-run the deploy"),
)


def _import_hint(message, expected):
    for needle, hint in IMPORT_HINTS:
        if needle in message:
            return hint
    return "TensorFlow does not import: re-run the deploy to reinstall tensorflow-gpu=={0}".format(
        expected or "(stack version)")


def _list_gpus(tf):
    config = tf.config
    if hasattr(config, "list_physical_devices"):
        return config.list_physical_devices("GPU")
    return config.experimental.list_physical_devices("GPU")  # TF 2.0


def check_tensorflow(params, found):
    expected = params.get("tensorflow")
    try:
        import tensorflow as tf
    except Exception as error:  # ImportError, but also TypeError from a too-new protobuf
        message = "{0}: {1}".format(type(error).__name__, error).strip().splitlines()[-1]
        raise LayerFailure("import tensorflow failed: " + message, _import_hint(message, expected))
    version = getattr(tf, "__version__", "unknown")
    found["tensorflow"] = version
    if expected and version.split("+")[0] != expected:
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
    gpus = _list_gpus(tf)
    if not gpus:
        raise LayerFailure(
            "tensorflow {0} lists no GPU".format(version),
            "TensorFlow sees no GPU although the driver and libraries load: read its 'Could not load "
            "dynamic library' lines on stderr (libnvinfer/TensorRT ones are harmless)",
        )
    found["tf_gpu"] = gpus[0].name
    return "tensorflow {0} built with CUDA, GPUs: {1}".format(
        version, ", ".join(device.name for device in gpus))


# ---------------------------------------------------------------- layer 5: compute

MATRIX_SIZE = 128


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
    import random

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
        message = "{0}: {1}".format(type(error).__name__, error).strip().splitlines()[-1]
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


CHECKS = (
    ("driver", check_driver),
    ("cuda_driver", check_cuda_driver),
    ("libraries", check_libraries),
    ("tensorflow", check_tensorflow),
    ("compute", check_compute),
)


# ---------------------------------------------------------------- the verdict

def run_layers(params, checks=CHECKS):
    """Run the layers in order, stop at the first failure; return the verdict dict."""
    found = {}
    layers, failed_layer, hint = [], None, None
    for name, check in checks:
        try:
            detail = check(params, found)
        except LayerFailure as failure:
            layers.append({"name": name, "ok": False, "detail": failure.detail})
            failed_layer, hint = name, failure.hint
            break
        except Exception as error:  # a check's own bug must still end in a verdict
            layers.append({"name": name, "ok": False,
                           "detail": "unexpected {0}: {1}".format(type(error).__name__, error)})
            failed_layer = name
            hint = "the verification itself failed at this layer: run it by hand to see the traceback"
            break
        layers.append({"name": name, "ok": True, "detail": detail})
    return {
        "ok": failed_layer is None,
        "failed_layer": failed_layer,
        "hint": hint,
        "layers": layers,
        "host": socket.gethostname(),
        "tensorflow": found.get("tensorflow"),
        "tensorflow_expected": params.get("tensorflow"),
        "driver_version": found.get("driver_version"),
        "cuda_driver": found.get("cuda_driver"),
        "gpu": found.get("gpu"),
        "python": "{0}.{1}.{2}".format(*sys.version_info[:3]),
        "env_prefix": params.get("env_prefix"),
        "checked_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_verdict(verdict, path):
    """Keep the last verdict for the fleet report; atomic, so a reader never sees half a file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(verdict, sort_keys=True) + "\n")
    os.rename(temporary, path)


def parse_params(argv):
    parser = argparse.ArgumentParser(description="Layered GPU verification; prints one JSON verdict.")
    parser.add_argument("--params-json", default=None)
    parser.add_argument("--tensorflow", default=None)
    parser.add_argument("--library", action="append", dest="libraries", default=None)
    parser.add_argument("--min-cuda-driver", default=None)
    parser.add_argument("--verdict-path", default=None)
    parser.add_argument("--env-prefix", default=None)
    options = parser.parse_args(argv)
    params = json.loads(options.params_json) if options.params_json else {}
    for key in ("tensorflow", "libraries", "min_cuda_driver", "verdict_path", "env_prefix"):
        value = getattr(options, key)
        if value is not None:
            params[key] = value
    params.setdefault("libraries", [])
    params.setdefault("env_prefix", sys.prefix)
    return params


class _StdoutToStderr(object):
    """While the layers run, fd 1 points at stderr: libraries (TensorFlow's C++ logging, prints in
    imported modules) must not add lines to stdout, where the one JSON verdict goes."""

    def __enter__(self):
        sys.stdout.flush()
        self.saved_fd = os.dup(1)
        os.dup2(2, 1)
        # Python-level writes too: sys.stdout may not be fd 1 (an embedding, a test's capture)
        self.saved_stream, sys.stdout = sys.stdout, sys.stderr
        return self

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        sys.stdout = self.saved_stream
        os.dup2(self.saved_fd, 1)
        os.close(self.saved_fd)
        return False


def main(argv=None, checks=CHECKS):
    params = parse_params(sys.argv[1:] if argv is None else argv)
    # TensorFlow's INFO lines are noise here; its warnings (which library failed) still reach stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with _StdoutToStderr():
        verdict = run_layers(params, checks)
    if params.get("verdict_path"):
        try:
            write_verdict(verdict, params["verdict_path"])
        except (IOError, OSError) as error:
            sys.stderr.write("could not write the verdict to {0}: {1}\n".format(
                params["verdict_path"], error))
    sys.stdout.write(json.dumps(verdict, sort_keys=True) + "\n")
    sys.stdout.flush()
    return EXIT_OK if verdict["ok"] else EXIT_LAYER_FAILED


if __name__ == "__main__":
    sys.exit(main())
