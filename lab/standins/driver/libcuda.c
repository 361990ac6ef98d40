/* STAND-IN libcuda.so.1 (gpuws lab): not NVIDIA's CUDA driver library.
 *
 * Shipped by the lab's stand-in libnvidia-compute-<branch> package so that programs which load
 * the CUDA driver API the way TensorFlow 2.1 does (dlopen("libcuda.so.1"), cuInit,
 * cuDeviceGetCount, cuDeviceComputeCapability, cuDriverGetVersion) get answers that follow the
 * simulated host: the GPUs in /etc/gpuws-lab/hardware.conf and the "loaded kernel module" in
 * /run/gpuws-lab/nvidia-module (lost on reboot). Error codes are the real CUresult values.
 * Compiled per branch with -DDRIVER_VERSION="\"440.100\"" -DDRIVER_CUDA_VERSION=10020.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DRIVER_VERSION
#error "build with -DDRIVER_VERSION"
#endif
#ifndef DRIVER_CUDA_VERSION
#error "build with -DDRIVER_CUDA_VERSION"
#endif

enum { CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_NOT_INITIALIZED = 3,
       CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101,
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
        if (*v == '"') { v++; v[strcspn(v, "\"")] = 0; }
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
    FILE *f = fopen("/run/gpuws-lab/nvidia-module", "r");
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

int cuGetErrorName(int error, const char **text) {
    switch (error) {
    case CUDA_SUCCESS: *text = "CUDA_SUCCESS"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *text = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case CUDA_ERROR_NO_DEVICE: *text = "CUDA_ERROR_NO_DEVICE"; break;
    case CUDA_ERROR_INVALID_DEVICE: *text = "CUDA_ERROR_INVALID_DEVICE"; break;
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: *text = "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"; break;
    default: *text = "CUDA_ERROR_UNKNOWN"; return CUDA_ERROR_INVALID_VALUE;
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
    default: *text = "unknown error"; return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* Lets a test tell the stand-in from a real driver library. */
const char *gpuws_lab_standin(void) { return "libcuda.so.1 STAND-IN, driver " DRIVER_VERSION; }
