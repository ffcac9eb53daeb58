/* One-pass element-wise kernels on float32 arrays: ReLU, its backward pass, and the optimizers'
 * y = a * y + b * x. NumPy needs two to four passes (and temporaries) for each; these read every
 * input once and write the result once, so they run at the machine's memory bandwidth.
 *
 * Each function is built for AVX-512, AVX2 and plain x86-64 (GCC's target_clones); the loader
 * picks the widest this CPU runs. Floating-point contraction is off, so every element gets
 * exactly NumPy's roundings: axpby computes round(round(a * y) + round(b * x)) as
 * ``y *= a; y += b * x`` does, never a fused multiply-add.
 *
 * Entry points (plain C, called through ctypes, which releases the GIL; dlcore's threads call
 * them on disjoint slices):
 *   dl_relu_f32(x, out, n)               out = x where not x < 0, else 0 (NaN stays NaN and -0 stays
 *                                        -0, as in torch.relu);
 *   dl_relu_backward_f32(g, x, out, n)   out = 0 where x <= 0, else g (as torch's threshold_backward:
 *                                        a NaN input passes its gradient, an inf gradient at a
 *                                        negative input gives 0);
 *   dl_axpby_f32(y, a, x, b, n)          y = a * y + b * x in place (a == 1 skips the product).
 */
#pragma GCC optimize("fp-contract=off")

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES void dl_relu_f32(const float *restrict x, float *restrict out, long n) {
    for (long i = 0; i < n; i++) out[i] = x[i] < 0.0f ? 0.0f : x[i];
}

CLONES void dl_relu_backward_f32(const float *restrict g, const float *restrict x, float *restrict out, long n) {
    for (long i = 0; i < n; i++) out[i] = x[i] <= 0.0f ? 0.0f : g[i];
}

CLONES void dl_axpby_f32(float *restrict y, float a, const float *restrict x, float b, long n) {
    if (a == 1.0f) {
        for (long i = 0; i < n; i++) y[i] = y[i] + b * x[i];
    } else {
        for (long i = 0; i < n; i++) y[i] = a * y[i] + b * x[i];
    }
}
