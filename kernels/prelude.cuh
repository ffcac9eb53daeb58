// Shared device helpers, written once. dlcore/cuda/loader.py prepends this text to every
// kernels/*.cu before NVRTC compiles it (loader.kernel_source gives the exact full text), so
// the sources themselves keep the no-#include rule. Conventions (DEVELOPERS.md): no
// templates, no host headers, no infinity macro; float / double overloads instead of templates.

// A grid-stride loop over 64-bit indices: any grid size covers all n items.
#define GRID_STRIDE_LOOP(i, n)                                                   \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// All 32 lanes of a warp, for the __shfl_*_sync intrinsics.
#define FULL_MASK 0xffffffffu

// ---------------------------------------------------------------- constants
// The dummy argument selects the float or double overload (no templates).
__device__ __forceinline__ float dl_neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double dl_neg_inf(double) {
    return __longlong_as_double(0xfff0000000000000LL);
}
__device__ __forceinline__ float dl_nan(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double dl_nan(double) {
    return __longlong_as_double(0x7ff8000000000000LL);
}

// ---------------------------------------------------------------- type-overloaded math
__device__ __forceinline__ float dl_exp(float v) { return expf(v); }
__device__ __forceinline__ double dl_exp(double v) { return exp(v); }
__device__ __forceinline__ float dl_log(float v) { return logf(v); }
__device__ __forceinline__ double dl_log(double v) { return log(v); }
__device__ __forceinline__ float dl_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double dl_tanh(double v) { return tanh(v); }
__device__ __forceinline__ float dl_abs(float v) { return fabsf(v); }
__device__ __forceinline__ double dl_abs(double v) { return fabs(v); }
__device__ __forceinline__ float dl_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double dl_max(double a, double b) { return fmax(a, b); }
