/* Direct stride-1 convolution on the CPU, float32, AVX2 + FMA: dlcore's own CPU kernels for
 * convolutions with few channels (the MNIST CNN's 16 -> 32 layer), where im2col's GEMMs are
 * thin and its column matrix costs more memory traffic than the arithmetic.
 *
 * The trick: pad one sample's planes to Hp x Wp and flatten them. Output pixel (i, j) then sits
 * at p = i * Wp + j, and its input under kernel tap (c, ky, kx) at p + c*Hp*Wp + ky*Wp + kx: one
 * contiguous run per tap. So the convolution of a sample is a GEMM, filters x taps times
 * taps x positions, whose second operand is read straight from the padded planes (no im2col
 * matrix). The positions j >= OW of each padded row are computed and dropped (2 of 16 at 14 x 14).
 *
 * The micro-kernel keeps 4 filters x 24 positions (3 vectors of 8) in 12 registers; every tap
 * loads 3 input vectors and broadcasts 4 weights. Filters are padded to a multiple of 4 with zero
 * weights and positions to a multiple of 24, so every tile is a full one.
 *
 * Entry points (all plain C, called through ctypes, which releases the GIL):
 *   dl_direct_isa()        512 or 256: the vector width the kernels run at here, 0 when neither
 *                          AVX-512F nor AVX2 (with FMA) is there;
 *   dl_direct_limit_isa(b) at most b-bit vectors from now on (tests run the AVX2 code this way);
 *   dl_direct_conv(...)    y = conv(x, w) (+ bias) for samples [n0, n1): the forward pass, and
 *                          the input gradient (the gradient convolved with the flipped filters);
 *   dl_direct_wgrad(...)   adds the weight gradient of samples [n0, n1) to per-lane sums.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* The micro-kernel: an FB-filter x JV-vector tile of the output, out[f][p] = sum_k wk[k*F8 + f] *
 * xs[off[k] + p], written once per instruction set with GCC's vector types (fully unrolled
 * at -O3, the accumulators stay in registers). AVX-512: 8 filters x 2 vectors of 16 (16 of the
 * 32 registers); AVX2: 4 filters x 3 vectors of 8 (12 of 16). */
#define DEFINE_TILE(NAME, TARGET, LANES, FB, JV)                                                     \
    typedef float NAME##_vec __attribute__((vector_size(4 * LANES)));                               \
    __attribute__((target(TARGET))) static void NAME(const float *xs, const long *off, long K,      \
                                                     const float *wk, long F8, float *out, long ldo) { \
        NAME##_vec acc[FB][JV];                                                                      \
        for (int f = 0; f < FB; f++)                                                                 \
            for (int v = 0; v < JV; v++) acc[f][v] = (NAME##_vec){0};                                \
        for (long k = 0; k < K; k++) {                                                               \
            const float *xp = xs + off[k], *wp = wk + k * F8;                                        \
            NAME##_vec xv[JV];                                                                       \
            for (int v = 0; v < JV; v++) memcpy(&xv[v], xp + v * LANES, sizeof(NAME##_vec));         \
            for (int f = 0; f < FB; f++) {                                                           \
                NAME##_vec w = wp[f] - (NAME##_vec){0};                                              \
                for (int v = 0; v < JV; v++) acc[f][v] += w * xv[v];                                 \
            }                                                                                        \
        }                                                                                            \
        for (int f = 0; f < FB; f++)                                                                 \
            for (int v = 0; v < JV; v++) memcpy(out + f * ldo + v * LANES, &acc[f][v], sizeof(NAME##_vec)); \
    }

DEFINE_TILE(tile_avx512, "avx512f,fma", 16, 8, 2)
DEFINE_TILE(tile_avx2, "avx2,fma", 8, 4, 3)

typedef void (*tile_fn)(const float *, const long *, long, const float *, long, float *, long);

struct isa { tile_fn tile; long filters, positions; };

static int widest_allowed = 512; /* lowered by dl_direct_limit_isa, so tests run the AVX2 code too */

/* The widest instruction set this CPU runs (and is allowed), or filters == 0 when it has neither. */
static struct isa pick_isa(void) {
    __builtin_cpu_init();
    if (widest_allowed >= 512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return (struct isa){tile_avx512, 8, 32};
    if (widest_allowed >= 256 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (struct isa){tile_avx2, 4, 24};
    return (struct isa){NULL, 0, 0};
}

/* 512 (AVX-512), 256 (AVX2) or 0 (the kernels cannot run on this CPU). */
int dl_direct_isa(void) {
    struct isa i = pick_isa();
    return i.filters == 8 ? 512 : i.filters == 4 ? 256 : 0;
}

/* Allow vectors of at most `bits` (512 or 256) from now on; returns the previous limit. */
int dl_direct_limit_isa(int bits) {
    int old = widest_allowed;
    widest_allowed = bits;
    return old;
}

static long round_up(long v, long m) { return (v + m - 1) / m * m; }

/* Zero-padded copy of one sample's C planes (H x W) into Hp x Wp planes (pad top, left). */
static void pad_planes(const float *x, float *xs, long C, long H, long W, long Hp, long Wp, long pt, long pl,
                       long total) {
    memset(xs, 0, sizeof(float) * total);
    for (long c = 0; c < C; c++)
        for (long h = 0; h < H; h++)
            memcpy(xs + c * Hp * Wp + (h + pt) * Wp + pl, x + (c * H + h) * W, sizeof(float) * W);
}

/* Tap offsets into the padded planes, in the order of the packed weights (c, ky, kx). */
static long *tap_offsets(long C, long KH, long KW, long Hp, long Wp) {
    long *off = malloc(sizeof(long) * C * KH * KW);
    if (!off) return NULL;
    for (long c = 0, k = 0; c < C; c++)
        for (long ky = 0; ky < KH; ky++)
            for (long kx = 0; kx < KW; kx++) off[k++] = c * Hp * Wp + ky * Wp + kx;
    return off;
}

/* y[n] (F x OH x OW, NCHW) = conv of x[n] (C x H x W, padded by pt/pl top/left, OH/OW outputs)
 * with the packed weights wk (C*KH*KW rows of F8 filters, F8 = F rounded up to 8, zeros past F),
 * plus bias (or NULL), for n in [n0, n1). Returns 0, -1 when out of memory, -2 without AVX2. */
int dl_direct_conv(const float *x, const float *wk, const float *bias, float *y, long n0, long n1, long C,
                   long H, long W, long F, long F8, long KH, long KW, long pt, long pl, long OH, long OW) {
    struct isa isa = pick_isa();
    if (!isa.tile) return -2;
    long Wp = OW + KW - 1, Hp = OH + KH - 1, K = C * KH * KW;
    long P = round_up(OH * Wp, isa.positions);
    long plane = Hp * Wp, xs_len = C * plane + P + KH * Wp + KW + 16;
    float *xs = aligned_alloc(64, sizeof(float) * round_up(xs_len, 16));
    float *ys = aligned_alloc(64, sizeof(float) * round_up(F8 * P, 16));
    long *off = tap_offsets(C, KH, KW, Hp, Wp);
    if (!xs || !ys || !off) { free(xs); free(ys); free(off); return -1; }
    for (long n = n0; n < n1; n++) {
        pad_planes(x + n * C * H * W, xs, C, H, W, Hp, Wp, pt, pl, xs_len);
        for (long f = 0; f < F8; f += isa.filters)
            for (long p = 0; p < P; p += isa.positions) isa.tile(xs + p, off, K, wk + f, F8, ys + f * P + p, P);
        float *yn = y + n * F * OH * OW;
        for (long f = 0; f < F; f++) {
            float b = bias ? bias[f] : 0.0f;
            for (long i = 0; i < OH; i++) {
                const float *src = ys + f * P + i * Wp;
                float *dst = yn + (f * OH + i) * OW;
                for (long j = 0; j < OW; j++) dst[j] = src[j] + b;
            }
        }
    }
    free(xs); free(ys); free(off);
    return 0;
}

/* The weight gradient's micro-kernel: FB filters x KB taps of per-lane sums,
 * acc[f][k][lane] += sum over samples s and positions p of gz[f][s][p] * xs_s[off[k] + p],
 * where gz holds the output gradient in the padded-row layout (zeros at j >= OW). */
#define DEFINE_WGRAD_TILE(NAME, TARGET, LANES, FB, KB)                                               \
    typedef float NAME##_vec __attribute__((vector_size(4 * LANES)));                               \
    __attribute__((target(TARGET))) static void NAME(const float *gz, long ldf, float *const *xsv, long S, \
                                                     long P, const long *off, float *acc_out, long ld_acc) { \
        NAME##_vec acc[FB][KB];                                                                      \
        for (int f = 0; f < FB; f++)                                                                 \
            for (int k = 0; k < KB; k++) memcpy(&acc[f][k], acc_out + f * ld_acc + k * 16, sizeof(NAME##_vec)); \
        for (long s = 0; s < S; s++) {                                                               \
            const float *g = gz + s * P;                                                             \
            for (long p = 0; p < P; p += LANES) {                                                    \
                NAME##_vec xv[KB];                                                                   \
                for (int k = 0; k < KB; k++) memcpy(&xv[k], xsv[s] + off[k] + p, sizeof(NAME##_vec)); \
                for (int f = 0; f < FB; f++) {                                                       \
                    NAME##_vec gv;                                                                   \
                    memcpy(&gv, g + f * ldf + p, sizeof(NAME##_vec));                                \
                    for (int k = 0; k < KB; k++) acc[f][k] += gv * xv[k];                            \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        for (int f = 0; f < FB; f++)                                                                 \
            for (int k = 0; k < KB; k++) memcpy(acc_out + f * ld_acc + k * 16, &acc[f][k], sizeof(NAME##_vec)); \
    }

DEFINE_WGRAD_TILE(wgrad_avx512, "avx512f,fma", 16, 4, 4)
DEFINE_WGRAD_TILE(wgrad_avx2, "avx2,fma", 8, 4, 3)

typedef void (*wgrad_fn)(const float *, long, float *const *, long, long, const long *, float *, long);

#define WGRAD_SAMPLES 4 /* samples whose padded planes are prepared together (about 100-200 KB) */

/* The sum of n floats, in 16 independent lanes (a single running sum waits on each add). */
static double plane_sum(const float *v, long n) {
    float lanes[16] = {0};
    long q = 0;
    for (; q + 16 <= n; q += 16)
        for (int l = 0; l < 16; l++) lanes[l] += v[q + l];
    double sum = 0.0;
    for (; q < n; q++) sum += v[q];
    for (int l = 0; l < 16; l++) sum += lanes[l];
    return sum;
}

/* Adds the weight gradient of samples [n0, n1) to acc, an F8 x K12 x 16 array of per-lane sums
 * (K12 = C*KH*KW rounded up to 12; the caller sums the lanes, drops the padding and adds the
 * workers' arrays), and the bias gradient to bias_acc (F doubles, or NULL). With zero set, both
 * are zeroed first. x is the forward input (N x C x H x W), g the output gradient
 * (N x F x OH x OW), pt/pl the forward's top/left padding. Returns 0, -1 or -2 as above. */
int dl_direct_wgrad(const float *x, const float *g, float *acc, double *bias_acc, long zero, long n0, long n1,
                    long C, long H, long W, long F, long F8, long KH, long KW, long pt, long pl, long OH, long OW) {
    struct isa isa = pick_isa();
    if (!isa.tile) return -2;
    wgrad_fn tile = isa.filters == 8 ? wgrad_avx512 : wgrad_avx2;
    long lanes = isa.filters == 8 ? 16 : 8, KB = isa.filters == 8 ? 4 : 3, FB = 4;
    long Wp = OW + KW - 1, Hp = OH + KH - 1, K = C * KH * KW, K12 = round_up(K, 12);
    long P = round_up(OH * Wp, lanes), plane = Hp * Wp;
    long xs_len = C * plane + P + KH * Wp + KW + 16, zeros = round_up(xs_len, 16); /* [zeros, +P): a zero run */
    long xs_alloc = round_up(zeros + P + 16, 16), ldf = WGRAD_SAMPLES * P;
    float *xs = aligned_alloc(64, sizeof(float) * xs_alloc * WGRAD_SAMPLES);
    float *gz = aligned_alloc(64, sizeof(float) * round_up(F8 * ldf, 16));
    long *off = malloc(sizeof(long) * K12);
    long *taps = tap_offsets(C, KH, KW, Hp, Wp);
    if (!xs || !gz || !off || !taps) { free(xs); free(gz); free(off); free(taps); return -1; }
    for (long k = 0; k < K12; k++) off[k] = k < K ? taps[k] : zeros; /* padding taps read zeros */
    if (zero) {
        memset(acc, 0, sizeof(float) * F8 * K12 * 16);
        if (bias_acc) memset(bias_acc, 0, sizeof(double) * F);
    }
    memset(gz, 0, sizeof(float) * F8 * ldf);
    float *xsv[WGRAD_SAMPLES];
    for (long s = 0; s < WGRAD_SAMPLES; s++) {
        xsv[s] = xs + s * xs_alloc;
        memset(xsv[s] + zeros, 0, sizeof(float) * (xs_alloc - zeros));
    }
    for (long n = n0; n < n1; n += WGRAD_SAMPLES) {
        long S = n1 - n < WGRAD_SAMPLES ? n1 - n : WGRAD_SAMPLES;
        for (long s = 0; s < S; s++) {
            pad_planes(x + (n + s) * C * H * W, xsv[s], C, H, W, Hp, Wp, pt, pl, xs_len);
            for (long f = 0; f < F; f++) {
                const float *gf = g + ((n + s) * F + f) * OH * OW;
                for (long i = 0; i < OH; i++) memcpy(gz + f * ldf + s * P + i * Wp, gf + i * OW, sizeof(float) * OW);
                if (bias_acc) bias_acc[f] += plane_sum(gf, OH * OW);
            }
        }
        for (long f = 0; f < F8; f += FB)
            for (long k = 0; k < K12; k += KB) tile(gz + f * ldf, ldf, xsv, S, P, off + k, acc + (f * K12 + k) * 16, K12 * 16);
    }
    free(xs); free(gz); free(off); free(taps);
    return 0;
}
