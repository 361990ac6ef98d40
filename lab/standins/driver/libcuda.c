/* STAND-IN libcuda.so.1 (gpuws lab): not NVIDIA's CUDA driver library.
 *
 * Shipped by the lab's stand-in libnvidia-compute-<branch> package so that programs which load
 * the CUDA driver API the way TensorFlow 2.1 does (dlopen("libcuda.so.1"), cuInit,
 * cuDeviceGetCount, cuDeviceComputeCapability, cuDriverGetVersion) get answers that follow the
 * simulated host: the GPUs in /etc/gpuws-lab/hardware.conf (or $GPUWS_LAB_HARDWARE) and the
 * "loaded kernel module" in /run/gpuws-lab/nvidia-module (or $GPUWS_LAB_MODULE_FILE; lost on
 * reboot). Error codes are the real CUresult values (cuda.h).
 *
 * It also answers the calls of the verification's framework-free compute layer
 * (facts/verify/ptx.py): contexts, device memory (host memory here), cuModuleLoadData of PTX
 * text and cuLaunchKernel. There is no GPU and no JIT: the stand-in reads the PTX's .version
 * (refused above the ISA of this branch's CUDA version: CUDA_ERROR_UNSUPPORTED_PTX_VERSION), its
 * .target (refused above the GPU: CUDA_ERROR_INVALID_PTX) and its .entry kernels; a kernel it can
 * run is an elementwise float32 kernel (u64 a, u64 b, u64 c, u32 n) whose body does one of
 * add/sub/mul.f32, and that operation is computed on the CPU. Other kernels are refused
 * (CUDA_ERROR_INVALID_PTX). hardware.conf keys read besides the GPUs: GPU<i>_FREE_MIB (memory
 * left by other processes; below 64 MiB a context cannot be created: CUDA_ERROR_OUT_OF_MEMORY)
 * and GPU<i>_FAULT=miscompute (one element of every result is wrong).
 * Compiled per branch with -DDRIVER_VERSION="\"440.100\"" -DDRIVER_CUDA_VERSION=10020.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DRIVER_VERSION
#error "build with -DDRIVER_VERSION"
#endif
#ifndef DRIVER_CUDA_VERSION
#error "build with -DDRIVER_CUDA_VERSION"
#endif

enum { CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2,
       CUDA_ERROR_NOT_INITIALIZED = 3, CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101,
       CUDA_ERROR_INVALID_CONTEXT = 201, CUDA_ERROR_INVALID_PTX = 218,
       CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222, CUDA_ERROR_INVALID_HANDLE = 400,
       CUDA_ERROR_NOT_FOUND = 500, CUDA_ERROR_ILLEGAL_ADDRESS = 700,
       CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803 };

static int initialized;

static const char *hardware_path(void) {
    const char *p = getenv("GPUWS_LAB_HARDWARE");
    return p ? p : "/etc/gpuws-lab/hardware.conf";
}

/* Value of KEY=VALUE in the hardware file (quotes stripped); empty string when absent. */
static void hardware_value(const char *key, char *out, size_t size) {
    char line[512];
    size_t n = strlen(key);
    FILE *f = fopen(hardware_path(), "r");
    out[0] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) || line[n] != '=') continue;
        char *v = line + n + 1;
        v[strcspn(v, "\n")] = 0;
        if (*v == '"' || *v == '\'') { char q[2] = {*v, 0}; v++; v[strcspn(v, q)] = 0; }
        snprintf(out, size, "%s", v);
    }
    fclose(f);
}

static int gpu_count(void) {
    char v[32];
    hardware_value("GPU_COUNT", v, sizeof v);
    return atoi(v);
}

static void loaded_module(char *out, size_t size) {
    const char *path = getenv("GPUWS_LAB_MODULE_FILE");
    FILE *f = fopen(path ? path : "/run/gpuws-lab/nvidia-module", "r");
    out[0] = 0;
    if (!f) return;
    if (!fgets(out, (int)size, f)) out[0] = 0;
    out[strcspn(out, "\n")] = 0;
    fclose(f);
}

int cuDriverGetVersion(int *version) {
    if (!version) return CUDA_ERROR_INVALID_VALUE;
    *version = DRIVER_CUDA_VERSION;
    return CUDA_SUCCESS;
}

int cuInit(unsigned int flags) {
    char module[64];
    (void)flags;
    loaded_module(module, sizeof module);
    if (!module[0]) return CUDA_ERROR_NO_DEVICE;          /* no kernel module: no device */
    if (strcmp(module, DRIVER_VERSION)) return CUDA_ERROR_SYSTEM_DRIVER_MISMATCH;
    if (gpu_count() <= 0) return CUDA_ERROR_NO_DEVICE;
    initialized = 1;
    return CUDA_SUCCESS;
}

int cuDeviceGetCount(int *count) {
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    *count = gpu_count();
    return CUDA_SUCCESS;
}

int cuDeviceGet(int *device, int ordinal) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (ordinal < 0 || ordinal >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

int cuDeviceComputeCapability(int *major, int *minor, int device) {
    char key[48], v[32];
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device < 0 || device >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(key, sizeof key, "GPU%d_COMPUTE_CAPABILITY", device);
    hardware_value(key, v, sizeof v);
    *major = atoi(v);
    *minor = strchr(v, '.') ? atoi(strchr(v, '.') + 1) : 0;
    return CUDA_SUCCESS;
}

int cuDeviceGetName(char *name, int length, int device) {
    char key[48];
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device < 0 || device >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(key, sizeof key, "GPU%d_NAME", device);
    hardware_value(key, name, (size_t)length);
    return CUDA_SUCCESS;
}

int cuDeviceTotalMem_v2(size_t *bytes, int device) {
    char key[48], v[32];
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device < 0 || device >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(key, sizeof key, "GPU%d_MEMORY_MIB", device);
    hardware_value(key, v, sizeof v);
    *bytes = (size_t)atol(v) * 1024 * 1024;
    return CUDA_SUCCESS;
}

#define NAME(code) case code: *text = #code; break
int cuGetErrorName(int error, const char **text) {
    if (!text) return CUDA_ERROR_INVALID_VALUE;
    switch (error) {
    NAME(CUDA_SUCCESS); NAME(CUDA_ERROR_INVALID_VALUE); NAME(CUDA_ERROR_OUT_OF_MEMORY);
    NAME(CUDA_ERROR_NOT_INITIALIZED); NAME(CUDA_ERROR_NO_DEVICE); NAME(CUDA_ERROR_INVALID_DEVICE);
    NAME(CUDA_ERROR_INVALID_CONTEXT); NAME(CUDA_ERROR_INVALID_PTX);
    NAME(CUDA_ERROR_UNSUPPORTED_PTX_VERSION); NAME(CUDA_ERROR_INVALID_HANDLE);
    NAME(CUDA_ERROR_NOT_FOUND); NAME(CUDA_ERROR_ILLEGAL_ADDRESS);
    NAME(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH);
    default: *text = NULL; return CUDA_ERROR_INVALID_VALUE;  /* as the real one does */
    }
    return CUDA_SUCCESS;
}

int cuGetErrorString(int error, const char **text) {
    switch (error) {
    case CUDA_SUCCESS: *text = "no error"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *text = "initialization error"; break;
    case CUDA_ERROR_NO_DEVICE: *text = "no CUDA-capable device is detected"; break;
    case CUDA_ERROR_INVALID_DEVICE: *text = "invalid device ordinal"; break;
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH:
        *text = "system has unsupported display driver / cuda driver combination"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *text = "out of memory"; break;
    case CUDA_ERROR_INVALID_PTX: *text = "a PTX JIT compilation failed"; break;
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION: *text = "the provided PTX was compiled with an unsupported toolchain."; break;
    default: *text = "unknown error"; return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------------------------------
 * Compute: contexts, device memory, PTX modules, launches (see the header for what is real).
 * --------------------------------------------------------------------------------------- */

#define CONTEXT_MIB 64        /* what creating a context takes from the GPU's free memory */
#define MAX_BUFFERS 64
#define MAX_KERNELS 16

struct context { int device; int alive; };
struct buffer { void *data; size_t size; };
struct kernel { char name[128]; char op; };   /* op: '+', '-', '*' */
struct module { int alive; int count; struct kernel kernels[MAX_KERNELS]; };

static struct context contexts[4];
static struct context *current;
static struct buffer buffers[MAX_BUFFERS];
static struct module modules[8];
static int sticky_error;       /* a launch's fault, reported by the next synchronize */

static long gpu_number(int device, const char *suffix, long fallback) {
    char key[48], v[32];
    snprintf(key, sizeof key, "GPU%d_%s", device, suffix);
    hardware_value(key, v, sizeof v);
    return v[0] ? atol(v) : fallback;
}

static int device_cc(int device) {          /* "7.5" -> 75 */
    char key[48], v[32];
    snprintf(key, sizeof key, "GPU%d_COMPUTE_CAPABILITY", device);
    hardware_value(key, v, sizeof v);
    return 10 * atoi(v) + (strchr(v, '.') ? atoi(strchr(v, '.') + 1) : 0);
}

int cuDeviceGetAttribute(int *value, int attribute, int device) {
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device < 0 || device >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    switch (attribute) {
    case 75: *value = device_cc(device) / 10; return CUDA_SUCCESS;  /* COMPUTE_CAPABILITY_MAJOR */
    case 76: *value = device_cc(device) % 10; return CUDA_SUCCESS;  /* COMPUTE_CAPABILITY_MINOR */
    default: return CUDA_ERROR_INVALID_VALUE;  /* the stand-in knows no other attribute */
    }
}

int cuCtxCreate_v2(struct context **out, unsigned int flags, int device) {
    (void)flags;
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device < 0 || device >= gpu_count()) return CUDA_ERROR_INVALID_DEVICE;
    if (gpu_number(device, "FREE_MIB", gpu_number(device, "MEMORY_MIB", 0)) < CONTEXT_MIB)
        return CUDA_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; i < sizeof contexts / sizeof *contexts; i++) {
        if (contexts[i].alive) continue;
        contexts[i].alive = 1;
        contexts[i].device = device;
        current = *out = &contexts[i];
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_OUT_OF_MEMORY;
}

int cuCtxDestroy_v2(struct context *ctx) {
    if (!ctx || !ctx->alive) return CUDA_ERROR_INVALID_CONTEXT;
    ctx->alive = 0;
    if (current == ctx) current = NULL;
    return CUDA_SUCCESS;
}

int cuCtxSynchronize(void) {
    int error = sticky_error;
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    sticky_error = 0;
    return error;
}

/* The buffer that holds [address, address + size), or NULL. */
static struct buffer *buffer_at(uint64_t address, size_t size) {
    for (int i = 0; i < MAX_BUFFERS; i++) {
        uint64_t start = (uint64_t)(uintptr_t)buffers[i].data;
        if (buffers[i].data && address >= start && address + size <= start + buffers[i].size)
            return &buffers[i];
    }
    return NULL;
}

int cuMemAlloc_v2(uint64_t *address, size_t size) {
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!address || !size) return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; i < MAX_BUFFERS; i++) {
        if (buffers[i].data) continue;
        if (!(buffers[i].data = calloc(1, size))) return CUDA_ERROR_OUT_OF_MEMORY;
        buffers[i].size = size;
        *address = (uint64_t)(uintptr_t)buffers[i].data;
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_OUT_OF_MEMORY;
}

int cuMemFree_v2(uint64_t address) {
    struct buffer *b = buffer_at(address, 0);
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!b || (uint64_t)(uintptr_t)b->data != address) return CUDA_ERROR_INVALID_VALUE;
    free(b->data);
    b->data = NULL;
    return CUDA_SUCCESS;
}

int cuMemcpyHtoD_v2(uint64_t destination, const void *source, size_t size) {
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!source || !buffer_at(destination, size)) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void *)(uintptr_t)destination, source, size);
    return CUDA_SUCCESS;
}

int cuMemcpyDtoH_v2(void *destination, uint64_t source, size_t size) {
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!destination || !buffer_at(source, size)) return CUDA_ERROR_INVALID_VALUE;
    memcpy(destination, (const void *)(uintptr_t)source, size);
    return CUDA_SUCCESS;
}

/* Highest PTX ISA (major*10 + minor) a driver of this CUDA version JIT-compiles: CUDA 9.x ->
 * 6.x, 10.0 -> 6.3, 10.1 -> 6.4, 10.2 -> 6.5, 11.x -> 7.x, 12.x -> 8.x, 13.x -> 9.x
 * (approximate within a series; https://docs.nvidia.com/cuda/parallel-thread-execution/). */
static int driver_ptx_isa(void) {
    int major = DRIVER_CUDA_VERSION / 1000, minor = (DRIVER_CUDA_VERSION % 1000) / 10;
    if (major <= 9) return 60 + minor;
    if (major == 10) return 63 + minor;
    return 10 * (major - 4) + minor;
}

/* The elementwise operation of one .entry (from `entry` to `end`), or 0 when the stand-in cannot
 * run it: four parameters (a, b, c, n) and one add/sub/mul.f32 in the body. */
static char entry_operation(const char *entry, const char *end) {
    static const char *ops[][2] = {{"add.rn.f32", "+"}, {"add.f32", "+"}, {"sub.rn.f32", "-"},
                                   {"sub.f32", "-"}, {"mul.rn.f32", "*"}, {"mul.f32", "*"}};
    const char *open = strchr(entry, '('), *close = open ? strchr(open, ')') : NULL;
    int params = 0;
    if (!close || close > end) return 0;
    for (const char *p = open; (p = strstr(p, ".param")) && p < close; p++) params++;
    if (params != 4) return 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        const char *hit = strstr(close, ops[i][0]);
        if (hit && hit < end) return ops[i][1][0];
    }
    return 0;
}

int cuModuleLoadData(struct module **out, const void *image) {
    const char *ptx = image, *p;
    int major, minor, target;
    struct module *m = NULL;
    if (!out || !ptx) return CUDA_ERROR_INVALID_VALUE;
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!(p = strstr(ptx, ".version")) || sscanf(p, ".version %d.%d", &major, &minor) != 2)
        return CUDA_ERROR_INVALID_PTX;
    if (10 * major + minor > driver_ptx_isa()) return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
    if (!(p = strstr(ptx, ".target")) || sscanf(p, ".target sm_%d", &target) != 1)
        return CUDA_ERROR_INVALID_PTX;
    if (target > device_cc(current->device)) return CUDA_ERROR_INVALID_PTX;
    for (size_t i = 0; i < sizeof modules / sizeof *modules && !m; i++)
        if (!modules[i].alive) m = &modules[i];
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    memset(m, 0, sizeof *m);
    for (p = strstr(ptx, ".entry"); p && m->count < MAX_KERNELS; p = strstr(p + 1, ".entry")) {
        struct kernel *k = &m->kernels[m->count];
        const char *next = strstr(p + 1, ".entry");
        if (sscanf(p, ".entry %127[A-Za-z0-9_$]", k->name) != 1) return CUDA_ERROR_INVALID_PTX;
        if (!(k->op = entry_operation(p, next ? next : p + strlen(p)))) return CUDA_ERROR_INVALID_PTX;
        m->count++;
    }
    if (!m->count) return CUDA_ERROR_INVALID_PTX;
    m->alive = 1;
    *out = m;
    return CUDA_SUCCESS;
}

int cuModuleUnload(struct module *m) {
    if (!m || !m->alive) return CUDA_ERROR_INVALID_HANDLE;
    m->alive = 0;
    return CUDA_SUCCESS;
}

int cuModuleGetFunction(struct kernel **out, struct module *m, const char *name) {
    if (!out || !name) return CUDA_ERROR_INVALID_VALUE;
    if (!m || !m->alive) return CUDA_ERROR_INVALID_HANDLE;
    for (int i = 0; i < m->count; i++)
        if (!strcmp(m->kernels[i].name, name)) { *out = &m->kernels[i]; return CUDA_SUCCESS; }
    return CUDA_ERROR_NOT_FOUND;
}

int cuLaunchKernel(struct kernel *k, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned shared, void *stream, void **params,
                   void **extra) {
    (void)shared; (void)stream; (void)extra;
    if (!current) return CUDA_ERROR_INVALID_CONTEXT;
    if (!k || !params || !gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    uint64_t a = *(uint64_t *)params[0], b = *(uint64_t *)params[1], c = *(uint64_t *)params[2];
    uint32_t n = *(uint32_t *)params[3];
    uint64_t threads = (uint64_t)gx * gy * gz * bx * by * bz;
    size_t count = n < threads ? n : (size_t)threads;
    if (!buffer_at(a, count * 4) || !buffer_at(b, count * 4) || !buffer_at(c, count * 4)) {
        sticky_error = CUDA_ERROR_ILLEGAL_ADDRESS;   /* a real GPU faults when the kernel runs */
        return CUDA_SUCCESS;
    }
    float *x = (float *)(uintptr_t)a, *y = (float *)(uintptr_t)b, *z = (float *)(uintptr_t)c;
    for (size_t i = 0; i < count; i++)
        z[i] = k->op == '+' ? x[i] + y[i] : k->op == '-' ? x[i] - y[i] : x[i] * y[i];
    char key[32], fault[32];
    snprintf(key, sizeof key, "GPU%d_FAULT", current->device);
    hardware_value(key, fault, sizeof fault);
    if (!strcmp(fault, "miscompute") && count) z[count / 2] += 1.0f;
    return CUDA_SUCCESS;
}

/* Lets a test tell the stand-in from a real driver library. */
const char *gpuws_lab_standin(void) { return "libcuda.so.1 STAND-IN, driver " DRIVER_VERSION; }
