/* STAND-IN libcudnn.so.7 (gpuws lab): cuDNN's version entry points as conda's cudnn package
 * would ship them; no cuDNN code. Compiled with -DCUDNN_VERSION=7605 -DCUDART_VERSION=10010 so
 * each build (cuda10.0_0 / cuda10.1_0 / cuda10.2_0) reports the runtime it was built for.
 */
#ifndef CUDNN_VERSION
#error "build with -DCUDNN_VERSION"
#endif
#ifndef CUDART_VERSION
#error "build with -DCUDART_VERSION"
#endif
unsigned long cudnnGetVersion(void) { return CUDNN_VERSION; }
unsigned long cudnnGetCudartVersion(void) { return CUDART_VERSION; }
const char *gpuws_lab_standin(void) { return "libcudnn STAND-IN (gpuws lab)"; }
