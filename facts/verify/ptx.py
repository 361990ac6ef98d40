"""Layer "ptx_compute": the GPU computes through the CUDA driver API alone, no framework.

A small PTX kernel (a vector add) is JIT-compiled by the driver (cuModuleLoadData), run on
device 0 and its result compared with the CPU's, exactly (one IEEE add.rn.f32 per element).
NVIDIA's GPU Operator validator proves a GPU the same way with its vectorAdd sample. A failure
here says "the GPU itself cannot compute", before any CUDA library or TensorFlow is involved.

The PTX is written for old virtual architectures so that every driver able to drive the GPU
JIT-compiles it for that GPU: sm_30 first (Kepler, PTX ISA 4.0), then sm_50 and sm_70 for
drivers that no longer take the older targets. A GPU already held by another process (no memory
left for a context) is reported, never failed: a student's job is not a broken workstation.
Driver API reference: https://docs.nvidia.com/cuda/cuda-driver-api/ ; PTX ISA:
https://docs.nvidia.com/cuda/parallel-thread-execution/
"""

import ctypes
import random

from .base import LayerFailure
from .cuda import cuda_error, load_libcuda

KERNEL = b"gpuws_vector_add"
# (target, PTX ISA version) tried in this order; a driver refusing one target gets the next.
PTX_TARGETS = (("sm_30", "4.0"), ("sm_50", "4.0"), ("sm_70", "6.0"))
PTX_TEMPLATE = """\
.version {version}
.target {target}
.address_size 64

// c[i] = a[i] + b[i] for i < n (float32)
.visible .entry gpuws_vector_add(
    .param .u64 gpuws_vector_add_a,
    .param .u64 gpuws_vector_add_b,
    .param .u64 gpuws_vector_add_c,
    .param .u32 gpuws_vector_add_n
)
{{
    .reg .pred %p<2>;
    .reg .f32 %f<4>;
    .reg .b32 %r<6>;
    .reg .b64 %rd<11>;

    ld.param.u64 %rd1, [gpuws_vector_add_a];
    ld.param.u64 %rd2, [gpuws_vector_add_b];
    ld.param.u64 %rd3, [gpuws_vector_add_c];
    ld.param.u32 %r2, [gpuws_vector_add_n];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.s32 %r1, %r3, %r4, %r5;
    setp.ge.u32 %p1, %r1, %r2;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd4, %rd1;
    cvta.to.global.u64 %rd5, %rd2;
    cvta.to.global.u64 %rd6, %rd3;
    mul.wide.u32 %rd7, %r1, 4;
    add.s64 %rd8, %rd4, %rd7;
    add.s64 %rd9, %rd5, %rd7;
    add.s64 %rd10, %rd6, %rd7;
    ld.global.f32 %f1, [%rd8];
    ld.global.f32 %f2, [%rd9];
    add.rn.f32 %f3, %f1, %f2;
    st.global.f32 [%rd10], %f3;
DONE:
    ret;
}}
"""

ELEMENTS = 4096  # 48 KiB on the device: a context's own memory is far larger
BLOCK = 256
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
# cuModuleLoadData's answers that mean "this driver's JIT does not take this PTX": try the next.
JIT_REFUSED = (209, 218, 222)  # NO_BINARY_FOR_GPU, INVALID_PTX, UNSUPPORTED_PTX_VERSION
BUSY = (2, 46)  # OUT_OF_MEMORY, DEVICE_UNAVAILABLE (exclusive-process mode, another owner)

HINT_BROKEN = ("the GPU cannot run a kernel: check dmesg for Xid errors, reinstall the driver "
               "(re-run the deploy) and reboot")
HINT_JIT = ("the driver cannot JIT-compile PTX for this GPU: its branch may not support the GPU "
            "(check NVIDIA's supported-chips list) or its JIT is broken; reinstall the driver")
HINT_WRONG = "the GPU computes wrong results: check dmesg for Xid errors, clocks and cooling"


def ptx_source(target, version):
    """The vector-add kernel's PTX for one virtual architecture, NUL-terminated."""
    return PTX_TEMPLATE.format(target=target, version=version).encode("ascii") + b"\0"


def expected_sums(a, b):
    """The CPU result: each sum rounded to float32, as add.rn.f32 rounds it."""
    return [ctypes.c_float(x + y).value for x, y in zip(a, b)]


class _Session(object):
    """The driver API calls of one run; remembers what to release, and releases it all."""

    def __init__(self, libcuda):
        self.cuda = libcuda
        self.context = ctypes.c_void_p()
        self.module = ctypes.c_void_p()
        self.buffers = []

    def call(self, name, *args):
        code = getattr(self.cuda, name)(*args)
        if code != 0:
            raise _CallFailed(name, code, cuda_error(code, self.cuda))

    def close(self):
        """Release in reverse order; errors here change nothing in the verdict."""
        for pointer in self.buffers:
            self.cuda.cuMemFree_v2(ctypes.c_uint64(pointer))
        if self.module.value:
            self.cuda.cuModuleUnload(self.module)
        if self.context.value:
            self.cuda.cuCtxDestroy_v2(self.context)


class _CallFailed(Exception):
    def __init__(self, name, code, described):
        Exception.__init__(self, "{0} returned {1}".format(name, described))
        self.name, self.code = name, code


def _device(session):
    """(CUdevice 0, its name, its compute capability as an int such as 75)."""
    device, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    session.call("cuInit", ctypes.c_uint(0))
    session.call("cuDeviceGet", ctypes.byref(device), ctypes.c_int(0))
    session.call("cuDeviceGetAttribute", ctypes.byref(major),
                 ctypes.c_int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), device)
    session.call("cuDeviceGetAttribute", ctypes.byref(minor),
                 ctypes.c_int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), device)
    name = ctypes.create_string_buffer(256)
    session.call("cuDeviceGetName", name, ctypes.c_int(len(name)), device)
    return device, name.value.decode("utf-8", "replace"), 10 * major.value + minor.value


def _load_kernel(session, capability):
    """JIT the first PTX target the driver takes; returns (CUfunction, the target)."""
    refused = []
    for target, version in PTX_TARGETS:
        if int(target[len("sm_"):]) > capability:
            continue  # a PTX target above the GPU is never runnable on it
        image = ctypes.create_string_buffer(ptx_source(target, version))
        code = session.cuda.cuModuleLoadData(ctypes.byref(session.module), image)
        if code == 0:
            function = ctypes.c_void_p()
            session.call("cuModuleGetFunction", ctypes.byref(function), session.module, KERNEL)
            return function, target
        if code not in JIT_REFUSED:
            raise _CallFailed("cuModuleLoadData", code, cuda_error(code, session.cuda))
        refused.append("{0}: {1}".format(target, cuda_error(code, session.cuda)))
    raise LayerFailure("cuModuleLoadData refused the PTX ({0})".format(
        "; ".join(refused) or "no target at or below the GPU's"), HINT_JIT)


def _vector_add(session, function, a, b):
    """Copy a and b to the device, run the kernel, copy the sums back."""
    floats = ctypes.c_float * len(a)
    size = ctypes.c_size_t(ctypes.sizeof(floats))
    pointers = []
    for _ in range(3):
        pointer = ctypes.c_uint64(0)
        session.call("cuMemAlloc_v2", ctypes.byref(pointer), size)
        session.buffers.append(pointer.value)
        pointers.append(pointer)
    session.call("cuMemcpyHtoD_v2", pointers[0], floats(*a), size)
    session.call("cuMemcpyHtoD_v2", pointers[1], floats(*b), size)
    count = ctypes.c_uint32(len(a))
    # kernelParams: one pointer per kernel parameter, to where its value is
    params = (ctypes.c_void_p * 4)(*[ctypes.addressof(value) for value in pointers + [count]])
    grid = (len(a) + BLOCK - 1) // BLOCK
    session.call("cuLaunchKernel", function, ctypes.c_uint(grid), ctypes.c_uint(1),
                 ctypes.c_uint(1), ctypes.c_uint(BLOCK), ctypes.c_uint(1), ctypes.c_uint(1),
                 ctypes.c_uint(0), ctypes.c_void_p(None), params, ctypes.c_void_p(None))
    session.call("cuCtxSynchronize")
    result = floats()
    session.call("cuMemcpyDtoH_v2", result, pointers[2], size)
    return list(result)


def check_ptx_compute(params, found):
    """The layer: vector add of ELEMENTS floats through PTX on device 0, compared exactly."""
    session = _Session(load_libcuda())
    generator = random.Random(0)
    a = [ctypes.c_float(generator.uniform(-1.0, 1.0)).value for _ in range(ELEMENTS)]
    b = [ctypes.c_float(generator.uniform(-1.0, 1.0)).value for _ in range(ELEMENTS)]
    try:
        device, name, capability = _device(session)
        try:
            session.call("cuCtxCreate_v2", ctypes.byref(session.context), ctypes.c_uint(0), device)
        except _CallFailed as failure:
            if failure.code in BUSY:
                return "not run: no context on {0} ({1}); the GPU is held by another process".format(
                    name, failure)
            raise
        function, target = _load_kernel(session, capability)
        result = _vector_add(session, function, a, b)
    except _CallFailed as failure:
        if failure.code in BUSY:
            return "not run: {0}; the GPU is held by another process".format(failure)
        raise LayerFailure(str(failure), HINT_BROKEN)
    finally:
        session.close()
    wrong = [index for index, (got, want) in enumerate(zip(result, expected_sums(a, b)))
             if got != want]
    if wrong:
        raise LayerFailure(
            "vector add on {0} differs from the CPU at {1} of {2} elements (first: index {3})".format(
                name, len(wrong), ELEMENTS, wrong[0]), HINT_WRONG)
    found["ptx_target"] = target
    return "vector add of {0} floats on {1} (cc {2}.{3}), PTX {4} JIT-compiled: matches the CPU".format(
        ELEMENTS, name, capability // 10, capability % 10, target)
