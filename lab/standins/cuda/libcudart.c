/* STAND-IN libcudart (gpuws lab): the CUDA runtime's version and device-count entry points, as
 * conda's cudatoolkit would ship them, answering through the driver's libcuda.so.1 (itself a
 * stand-in on lab hosts). Real cudaError_t values: 35 = the driver is older than this runtime,
 * 100 = no device, 803 = driver/module mismatch. Compiled with -DRUNTIME_VERSION=10010.
 */
#include <dlfcn.h>

#ifndef RUNTIME_VERSION
#error "build with -DRUNTIME_VERSION"
#endif

enum { cudaSuccess = 0, cudaErrorInsufficientDriver = 35, cudaErrorNoDevice = 100,
       cudaErrorSystemDriverMismatch = 803, cudaErrorUnknown = 999 };

int cudaRuntimeGetVersion(int *version) { *version = RUNTIME_VERSION; return cudaSuccess; }

static void *driver(void) { return dlopen("libcuda.so.1", RTLD_NOW); }

int cudaDriverGetVersion(int *version) {
    void *lib = driver();
    int (*get)(int *) = lib ? (int (*)(int *))dlsym(lib, "cuDriverGetVersion") : 0;
    *version = 0;
    if (get) get(version);
    return cudaSuccess;
}

int cudaGetDeviceCount(int *count) {
    void *lib = driver();
    int (*get_version)(int *), (*init)(unsigned int), (*get_count)(int *);
    int driver_version = 0, rc;
    *count = 0;
    if (!lib) return cudaErrorInsufficientDriver;
    get_version = (int (*)(int *))dlsym(lib, "cuDriverGetVersion");
    init = (int (*)(unsigned int))dlsym(lib, "cuInit");
    get_count = (int (*)(int *))dlsym(lib, "cuDeviceGetCount");
    if (!get_version || !init || !get_count) return cudaErrorUnknown;
    get_version(&driver_version);
    if (driver_version < RUNTIME_VERSION) return cudaErrorInsufficientDriver;
    rc = init(0);
    if (rc == 100) return cudaErrorNoDevice;
    if (rc == 803) return cudaErrorSystemDriverMismatch;
    if (rc) return cudaErrorUnknown;
    get_count(count);
    return cudaSuccess;
}

const char *gpuws_lab_standin(void) { return "libcudart STAND-IN (gpuws lab)"; }
