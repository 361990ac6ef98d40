/* STAND-IN CUDA runtime-side library (gpuws lab): one source compiled into each library a
 * cudatoolkit package ships (libcublas.so.10, libcufft.so.10, ...) under its real file name and
 * SONAME, so loaders and "which libraries does the env have" checks see the real layout. It holds
 * no CUDA code. Compiled with -DLIBRARY="\"libcublas.so.10.2.1.243\"".
 */
#ifndef LIBRARY
#error "build with -DLIBRARY"
#endif
const char *gpuws_lab_standin(void) { return LIBRARY " STAND-IN (gpuws lab)"; }
