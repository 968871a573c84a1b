/* Matrix products of GGUF weights with float32 activations, on the file's own block bytes.
 *
 *   out[t * out_stride + r] = sum_k W[r, k] * x[t * cols + k]        (r < rows, t < n)
 *
 * W is `rows` rows of `cols` weights stored as the GGUF stores them: each row is cols/block_size
 * blocks of type_size bytes, rows back to back. One source, two builds (minfer_wasm/native/
 * kernel_build.py): a Pyodide side module with WebAssembly SIMD128 (`__wasm_simd128__`) and a
 * native library from the system compiler, whose portable scalar path runs the same algorithm.
 * Freestanding: no libc, no allocation; the caller passes a scratch buffer.
 *
 * How (quantized types):
 *  1. The activations are rounded once per call, per 32 values, to integers on a fine grid:
 *     d = amax / ACT_MAX, q = round-to-nearest-even(x * ACT_MAX / amax) with ACT_MAX = 8191,
 *     kept as int16 in the scratch with d and s = d * sum(q) (as ggml's quantize_row_q8_0, which
 *     rounds to int8 levels, 127: the int16 storage allows 64x finer steps at no cost). Every
 *     weight block then becomes integer dot products (i32x4.dot_i16x8: 8 multiply-adds per
 *     instruction). Measured in Pyodide on a 1536x1024 Q4_1 matrix with gaussian x, both in one
 *     run: 0.099 ns per weight at a relative error of 8e-5, against 0.099 ns and 5e-3 with int8
 *     levels (float dots of the same codes with float32 x, earlier: 0.58 ns and 3e-7). Int8
 *     levels are too coarse for activation outliers: with every product of SmolLM2-135M's numpy
 *     forward pass done by these kernels (native), the logits moved by 6% and the greedy answer
 *     changed; with ACT_MAX they stay within 2.5e-3 of the numpy path over a prompt and eight
 *     greedy tokens, all the same tokens (Gemma-3-270M: 3% with int8 levels, 6e-4 with ACT_MAX).
 *     The integer sums' headroom is worked out at ACT_MAX. Groups of 32, not ggml's 256 (q8_K)
 *     for the K-quants: an activation outlier coarsens only its 31 neighbours' steps.
 *  2. Every 32 weights decode to integer codes c and two floats S, M with w = S * c + M (the
 *     offsets of Q4_0/Q5_0 and the mins of Q4_1/Q4_K/... go into M), so
 *         sum_j w_j x_j  ~=  S * d * sum_j c_j q_j  +  M * s.
 *     Half floats are read through a 64K-entry table (as ggml's ggml_table_f32_f16): 20% faster
 *     in Pyodide than converting them with bit operations, scalar or SIMD.
 *  3. Rows go in groups of four. Each row is read from start to end (one memory stream: 30%
 *     faster than four rows side by side when the weights come from memory), leaving one vector
 *     of integer sums per block; then the four rows' sums fold into one vector (`fold4`), so
 *     the scales of four rows apply in one multiply.
 *  4. Prefill: a tile of up to TILE tokens goes through each decoded block, so codes and scales
 *     are decoded once per tile, not once per token (about twice as fast per token).
 *  The SIMD decoders read block bytes as eight 16-bit lanes: masks and shifts give the codes of
 *  the even weights (0, 2, .., 14) and of the odd ones (1, 3, .., 15) without widening bytes, so
 *  the activations are stored in that order (ACT_POS).
 *  Each 32-weight block adds one float term per row, in block order, in both builds, so the SIMD
 *  and scalar results agree bit for bit (native builds use -ffp-contract=off: no fused multiply-add).
 * F32 and F16 weights use float dot products (no activation rounding, no scratch).
 *
 * References (read to learn, not copied): llama.cpp ggml/src/ggml-common.h (block_q4_0 ...),
 * ggml/src/ggml-quants.c (dequantize_row_q4_0 ... dequantize_row_q6_K, dequantize_row_iq4_nl,
 * dequantize_row_iq4_xs, get_scale_min_k4, quantize_row_q8_0_ref), ggml/src/ggml-cpu/arch/wasm/
 * quants.c (ggml_vec_dot_q4_1_q8_1 ...), ggml/src/ggml-cpu/quants.c (ggml_vec_dot_iq4_nl_q8_0).
 */

#include <stddef.h>
#include <stdint.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define API __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

enum { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14,
       IQ4_NL = 20, IQ4_XS = 23 };
enum { MINFER_OK = 0, MINFER_BAD_TYPE = 1, MINFER_BAD_SHAPE = 2, MINFER_SMALL_SCRATCH = 3, MINFER_NO_INIT = 4 };
#define MINFER_ABI 3     /* bump when an exported signature or the scratch layout changes (the
                            library's, glue_kernels.c included); 2: minfer_act_mul, 3: minfer_attention */
#define QK 32            /* activations per quantized group, and weights per decoded block */
#define ROWS 4           /* rows per pass */
#define TILE 8           /* tokens per pass over a row group's blocks */

/* Activations round to integers q in [-ACT_MAX, ACT_MAX], step d = amax / ACT_MAX per 32 values
 * (point 1 at the top; for any amax, tiny_group below included). Headroom, every integer sum
 * the kernels form:
 *  - codes |c| <= 15 (Q4_0, Q4_1, Q4_K), 31 (Q5_0, Q5_1, Q5_K), 127 (IQ4_NL, IQ4_XS), 128 (Q8_0),
 *    and 4096 for Q6_K
 *    ((q - 32) * scale with q - 32 in [-32, 31] and an int8 scale: 32 * 128), so a 32-weight
 *    block's dot sum_j c_j q_j is at most 32 * 4096 * 8191 = 1 073 610 752 < 2^31 - 1 in size.
 *    Its partial sums (i32x4.dot_i16x8 pairs, the four vectors of a block, fold4_i32's lanes,
 *    the scalar loop) add subsets of the same 32 products, so they are bounded by it too.
 *  - No integer sum spans two 32-weight blocks: each block's sum becomes a float before its
 *    scales apply, and K-quant sub-blocks and the tokens of a tile keep their own sums (a.dot).
 *  - sum(q) of a group (for s): at most 32 * 8191 < 2^18.
 * The largest value that fits is 16383; 8191 leaves a factor of two. Sums beyond 2^24 round
 * when they become floats (by 2^-24 relative, the same in both builds). */
#define ACT_MAX 8191

/* ------------------------------------------------------------------ bytes and halves */

INLINE uint32_t u16_at(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
INLINE uint32_t u32_at(const uint8_t *p) { return u16_at(p) | u16_at(p + 2) << 16; }

INLINE float f32_from_bits(uint32_t u) {
    union { uint32_t u; float f; } v = { u };
    return v.f;
}

/* IEEE half -> float, exact for every input: exponent and mantissa moved into place and rebased
 * by one multiply by 2^112 (which also normalizes subnormals), inf/NaN get the all-ones exponent. */
static float half_to_float(uint32_t h) {
    uint32_t em = h & 0x7fff;
    union { float f; uint32_t u; } v = { f32_from_bits(em << 13) * 0x1p112f };
    if (em >= 0x7c00) v.u |= 0x7f800000;
    v.u |= (h & 0x8000) << 16;
    return v.f;
}

/* half_table[h] = half_to_float(h): 64K floats in the caller's memory (minfer_init); a static
 * array would put 256 KiB of zeros into the wasm file */
static const float *half_table;

INLINE float half_at(const uint8_t *p) { return half_table[u16_at(p)]; }

/* Quantized activation i of a 32-group holds x[ACT_POS(i)]: in the SIMD build the even then the
 * odd values of each half, the order in which its decoders produce codes; in natural order for
 * the scalar build, whose loops the C compiler vectorizes that way. */
#ifdef __wasm_simd128__
#define ACT_POS(i) (((i) & 16) | ((i) & 7) << 1 | ((i) >> 3 & 1))
#else
#define ACT_POS(i) (i)
#endif

/* ------------------------------------------------------------------ the type table */

typedef struct { int block_size, type_size; } Layout;

INLINE Layout layout_of(int type) {
    switch (type) {
    case F32: return (Layout){ 1, 4 };
    case F16: return (Layout){ 1, 2 };
    case Q4_0: return (Layout){ 32, 18 };
    case Q4_1: return (Layout){ 32, 20 };
    case Q5_0: return (Layout){ 32, 22 };
    case Q5_1: return (Layout){ 32, 24 };
    case Q8_0: return (Layout){ 32, 34 };
    case Q4_K: return (Layout){ 256, 144 };
    case Q5_K: return (Layout){ 256, 176 };
    case Q6_K: return (Layout){ 256, 210 };
    case IQ4_NL: return (Layout){ 32, 18 };
    case IQ4_XS: return (Layout){ 256, 136 };
    default: return (Layout){ 0, 0 };
    }
}

INLINE int is_float_type(int type) { return type == F32 || type == F16; }
INLINE int has_offset(int type) {   /* M != 0 */
    return type != Q8_0 && type != Q6_K && type != IQ4_NL && type != IQ4_XS;
}

/* ------------------------------------------------------------------ activations */

typedef struct {  /* the scratch */
    int16_t *q;   /* (n, cols) quantized activations, ACT_POS order within each 32-group */
    float *d;     /* (n, cols/32) scale of each group */
    float *s;     /* (n, cols/32) d * sum(q) of each group */
    int tile;     /* tokens per pass: min(n, TILE) */
    int32_t *dot; /* (cols/32, tile, ROWS, 4) integer partial sums of one row group (SIMD) */
    float *S;     /* (cols/32, ROWS) weight scale of each block of the row group */
    float *M;     /* (cols/32, ROWS) weight offset */
} Scratch;

static size_t scratch_size(int cols, int n) {
    size_t groups = (size_t)cols / QK, tile = n < TILE ? n : TILE;
    return 16 + (size_t)n * cols * 2 + (size_t)n * groups * 2 * 4 + groups * (tile * ROWS * 16 + ROWS * 2 * 4);
}

static Scratch scratch_at(void *mem, int cols, int n) {
    size_t groups = (size_t)cols / QK;
    uint8_t *p = (uint8_t *)(((uintptr_t)mem + 15) & ~(uintptr_t)15);
    Scratch a;
    a.tile = n < TILE ? n : TILE;
    a.dot = (int32_t *)p;                                   /* first: 16-byte aligned */
    a.q = (int16_t *)(a.dot + groups * a.tile * ROWS * 4);
    a.d = (float *)(a.q + (size_t)n * cols);
    a.s = a.d + (size_t)n * groups;
    a.S = a.s + (size_t)n * groups;
    a.M = a.S + groups * ROWS;
    return a;
}

#ifndef __wasm_simd128__
/* round to nearest, ties to even, as f32x4.nearest; |v| < 2^22 */
INLINE float round_even(float v) { return (v + 0x1.8p23f) - 0x1.8p23f; }
#endif

/* A group whose largest |x| is at most ACT_MAX * 2^-126 (9.6e-35; ACT_MAX / amax overflows float
 * below 2.4e-35, and q would outgrow ACT_MAX) takes the step 2^-126 instead of amax / ACT_MAX */
INLINE int tiny_group(float amax) { return amax > 0.0f && amax <= ACT_MAX * 0x1p-126f; }

/* 1 / step: 0 for an all-zero group (or amax NaN or inf): q = 0 */
INLINE float inverse_step(float amax) {
    return tiny_group(amax) ? 0x1p126f : amax > 0.0f ? ACT_MAX / amax : 0.0f;
}

/* x: (n, cols) -> codes, d and s per 32 values (quantize_row_q8_0_ref with ACT_MAX for 127,
 * and s as in q8_1) */
static void quantize_activations(const float *x, int cols, int n, Scratch a) {
    size_t groups = (size_t)n * (cols / QK);
    for (size_t g = 0; g < groups; g++) {
        const float *v = x + g * QK;
        int16_t *q = a.q + g * QK;
#ifdef __wasm_simd128__
        v128_t f[8], amax4 = wasm_f32x4_splat(0.0f);
        for (int i = 0; i < 8; i++) {
            f[i] = wasm_v128_load(v + 4 * i);
            amax4 = wasm_f32x4_max(amax4, wasm_f32x4_abs(f[i]));
        }
        amax4 = wasm_f32x4_max(amax4, wasm_i32x4_shuffle(amax4, amax4, 2, 3, 0, 1));
        amax4 = wasm_f32x4_max(amax4, wasm_i32x4_shuffle(amax4, amax4, 1, 0, 3, 2));
        float amax = wasm_f32x4_extract_lane(amax4, 0);
        v128_t id = wasm_f32x4_splat(inverse_step(amax)), sum = wasm_i32x4_splat(0);
        v128_t n16[4];                    /* codes of values 8i .. 8i+7, in natural order */
        for (int i = 0; i < 4; i++) {
            v128_t lo = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(f[2 * i], id)));
            v128_t hi = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(f[2 * i + 1], id)));
            sum = wasm_i32x4_add(sum, wasm_i32x4_add(lo, hi));
            n16[i] = wasm_i16x8_narrow_i32x4(lo, hi);
        }
        for (int h = 0; h < 2; h++) {     /* ACT_POS: even then odd values of each half */
            wasm_v128_store(q + 16 * h, wasm_i16x8_shuffle(n16[2 * h], n16[2 * h + 1], 0, 2, 4, 6, 8, 10, 12, 14));
            wasm_v128_store(q + 16 * h + 8, wasm_i16x8_shuffle(n16[2 * h], n16[2 * h + 1], 1, 3, 5, 7, 9, 11, 13, 15));
        }
        sum = wasm_i32x4_add(sum, wasm_i32x4_shuffle(sum, sum, 2, 3, 0, 1));
        sum = wasm_i32x4_add(sum, wasm_i32x4_shuffle(sum, sum, 1, 0, 3, 2));
        int total = wasm_i32x4_extract_lane(sum, 0);
#else
        float amax = 0.0f;
        for (int i = 0; i < QK; i++) {
            float m = v[i] < 0.0f ? -v[i] : v[i];
            amax = m > amax || m != m ? m : amax;           /* NaN sticks, as in f32x4.max */
        }
        float id = inverse_step(amax);
        int total = 0;
        for (int i = 0; i < QK; i++) {
            float r = round_even(v[ACT_POS(i)] * id);
            q[i] = (int16_t)(r == r ? r : 0.0f);            /* NaN -> 0, as trunc_sat */
            total += q[i];
        }
#endif
        float d = tiny_group(amax) ? 0x1p-126f : amax / ACT_MAX;
        a.d[g] = d;
        a.s[g] = d * (float)total;
    }
}

/* ------------------------------------------------------------------ blocks
 *
 * Weights 32j .. 32j+31 of a block decode to integer codes (`decode`) and floats S, M
 * (`block_scale`) with w = S * code + M. Legacy blocks (32 weights; little-endian; d, m halves):
 *
 *   Q4_0  18 B | d | qs[16] |                qs[l] = q[l] | q[l+16] << 4        w = d * (q - 8)
 *   Q4_1  20 B | d | m | qs[16] |            as Q4_0                            w = d * q + m
 *   Q5_0  22 B | d | qh:u32 | qs[16] |       q[l] = nibble | (bit l of qh) << 4 w = d * (q - 16)
 *   Q5_1  24 B | d | m | qh:u32 | qs[16] |   as Q5_0                            w = d * q + m
 *   Q8_0  34 B | d | qs[32]: int8 |                                             w = d * q
 *
 * K-quant super-blocks (256 weights) are read 32 weights at a time, j = 0..7:
 *
 *   Q4_K 144 B | d | dmin | scales[12] | qs[128] |
 *        nibble j&1 of qs[32(j>>1) + l] is q[32j + l]              w = d*sc[j]*q - dmin*mn[j]
 *        sc, mn: six bits each, packed in scales[12] (get_scale_min_k4)
 *   Q5_K 176 B | d | dmin | scales[12] | qh[32] | qs[128] |    as Q4_K; bit j of qh[l] is bit 4
 *   Q6_K 210 B | ql[128] | qh[64] | scales[16]: int8 | d |
 *        half h = j>>2, k = j&3: nibble k>>1 of ql[64h + 32(k&1) + l] and bits 2k, 2k+1 of
 *        qh[32h + l] (as bits 4, 5) make q[32j + l]             w = d * scales[2j + l/16] * (q - 32)
 *        Q6_K's codes are (q - 32) * scales[..] (|code| <= 4096) and S = d.
 *
 * Non-linear 4-bit blocks: a 4-bit q weighs kvalues_iq4nl[q] (ggml-common.h), which is the code:
 *
 *   IQ4_NL  18 B | d | qs[16] (as Q4_0) |                                   w = d * kv[q]
 *   IQ4_XS 136 B | d | scales_h:u16 | scales_l[4] | qs[128] |
 *        qs[16j .. 16j+15] hold weights 32j .. 32j+31 as a Q4_0 block's qs;
 *        ls[j] = nibble j&1 of scales_l[j>>1] | (bits 2j, 2j+1 of scales_h) << 4
 *                                                                   w = d * (ls[j] - 32) * kv[q]
 *   (dequantize_row_iq4_nl, dequantize_row_iq4_xs in ggml-quants.c)
 */

static const int8_t kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                          1, 13, 25, 38, 53, 69, 89, 113 };

/* the 16 bytes of IQ4 qs holding weights 32j .. 32j+31 */
INLINE const uint8_t *iq4_qs(int type, const uint8_t *blk, int j) {
    return type == IQ4_NL ? blk + 2 : blk + 8 + 16 * j;
}

INLINE void block_scale(int type, const uint8_t *blk, int j, float *S, float *M) {
    switch (type) {
    case Q4_0: *S = half_at(blk); *M = -8.0f * *S; break;
    case Q5_0: *S = half_at(blk); *M = -16.0f * *S; break;
    case Q4_1: case Q5_1: *S = half_at(blk); *M = half_at(blk + 2); break;
    case Q8_0: *S = half_at(blk); *M = 0.0f; break;
    case Q6_K: *S = half_at(blk + 208); *M = 0.0f; break;
    case IQ4_NL: *S = half_at(blk); *M = 0.0f; break;
    case IQ4_XS: {
        int ls = (blk[4 + (j >> 1)] >> 4 * (j & 1) & 15) | (u16_at(blk + 2) >> 2 * j & 3) << 4;
        *S = half_at(blk) * (float)(ls - 32);
        *M = 0.0f;
        break;
    }
    case Q4_K: case Q5_K: {      /* get_scale_min_k4 */
        const uint8_t *k = blk + 4;
        int sc = j < 4 ? k[j] & 63 : (k[j + 4] & 15) | (k[j - 4] >> 6) << 4;
        int mn = j < 4 ? k[j + 4] & 63 : (k[j + 4] >> 4) | (k[j] >> 6) << 4;
        *S = half_at(blk) * (float)sc;
        *M = -(half_at(blk + 2) * (float)mn);
        break;
    }
    }
}

#ifdef __wasm_simd128__

#define LANES16(v) wasm_i16x8_splat(v)

/* 16 bytes read as 8 u16 lanes (lane k = byte 2k | byte 2k+1 << 8): the nibble at bit `shift`
 * of the even bytes (c[0]) and of the odd bytes (c[1]) */
INLINE void nibble_pair(v128_t v, int shift, v128_t c[2]) {
    c[0] = wasm_v128_and(wasm_u16x8_shr(v, shift), LANES16(0x0F));
    c[1] = wasm_v128_and(wasm_u16x8_shr(v, 8 + shift), LANES16(0x0F));
}

/* bits `bit`.. of the even and odd bytes of v, moved to bit 4 and masked (0x10 or 0x30) */
INLINE void high_bits(v128_t v, int bit, int mask, v128_t c[2]) {
    c[0] = wasm_v128_or(c[0], wasm_v128_and(wasm_u16x8_shr(wasm_i16x8_shl(v, 4), bit), LANES16(mask)));
    c[1] = wasm_v128_or(c[1], wasm_v128_and(wasm_u16x8_shr(v, 4 + bit), LANES16(mask)));
}

/* Q5_0/Q5_1: bit j of qh onto weight j, for the lanes of c[0..3] (weights in ACT_POS order).
 * Measured against a 256-entry table of each qh byte's eight lanes (4 KiB; two loads and two
 * 64-bit shuffles or four 64-bit lane loads per 16 weights): no faster in Pyodide (Q5_0 0.141
 * vs 0.143 ns/weight, Q5_1 0.154 vs 0.151, same run); the scalar build with a table: 2.8x slower. */
INLINE void qh32_bits(uint32_t qh, v128_t c[4]) {
    const v128_t even = wasm_i16x8_make(1, 4, 16, 64, 256, 1024, 4096, 16384);
    const v128_t odd = wasm_i16x8_make(2, 8, 32, 128, 512, 2048, 8192, -32768);
    for (int h = 0; h < 2; h++) {
        v128_t bits = LANES16((int16_t)(qh >> 16 * h));
        c[2 * h] = wasm_v128_or(c[2 * h], wasm_v128_and(wasm_i16x8_eq(wasm_v128_and(bits, even), even), LANES16(16)));
        c[2 * h + 1] = wasm_v128_or(c[2 * h + 1], wasm_v128_and(wasm_i16x8_eq(wasm_v128_and(bits, odd), odd), LANES16(16)));
    }
}

/* codes of weights 32j .. 32j+31 of a block as four i16x8, in ACT_POS order */
INLINE void decode(int type, const uint8_t *blk, int j, v128_t c[4]) {
    switch (type) {
    case Q4_0: case Q4_1: case Q5_0: case Q5_1: {
        v128_t v = wasm_v128_load(blk + (type == Q4_0 ? 2 : type == Q4_1 ? 4 : type == Q5_0 ? 6 : 8));
        nibble_pair(v, 0, c);                       /* weights 0..15: low nibbles */
        nibble_pair(v, 4, c + 2);                   /* weights 16..31: high nibbles */
        if (type == Q5_0 || type == Q5_1) qh32_bits(u32_at(blk + (type == Q5_0 ? 2 : 4)), c);
        break;
    }
    case Q8_0:
        for (int h = 0; h < 2; h++) {
            v128_t v = wasm_v128_load(blk + 2 + 16 * h);
            c[2 * h] = wasm_i16x8_shr(wasm_i16x8_shl(v, 8), 8);   /* even bytes, sign-extended */
            c[2 * h + 1] = wasm_i16x8_shr(v, 8);                    /* odd bytes */
        }
        break;
    case Q4_K: case Q5_K: {
        const uint8_t *qs = blk + (type == Q4_K ? 16 : 48) + 32 * (j >> 1);
        for (int h = 0; h < 2; h++) {
            nibble_pair(wasm_v128_load(qs + 16 * h), 4 * (j & 1), c + 2 * h);
            if (type == Q5_K) high_bits(wasm_v128_load(blk + 16 + 16 * h), j, 0x10, c + 2 * h);
        }
        break;
    }
    case Q6_K: {
        int k = j & 3;
        const uint8_t *ql = blk + 64 * (j >> 2) + 32 * (k & 1), *qh = blk + 128 + 32 * (j >> 2);
        for (int h = 0; h < 2; h++) {
            nibble_pair(wasm_v128_load(ql + 16 * h), 4 * (k >> 1), c + 2 * h);
            high_bits(wasm_v128_load(qh + 16 * h), 2 * k, 0x30, c + 2 * h);
            v128_t scale = LANES16((int8_t)blk[192 + 2 * j + h]);
            c[2 * h] = wasm_i16x8_mul(wasm_i16x8_sub(c[2 * h], LANES16(32)), scale);
            c[2 * h + 1] = wasm_i16x8_mul(wasm_i16x8_sub(c[2 * h + 1], LANES16(32)), scale);
        }
        break;
    }
    case IQ4_NL: case IQ4_XS: {  /* each byte's nibble looked up in the table (i8x16.swizzle) */
        v128_t v = wasm_v128_load(iq4_qs(type, blk, j)), table = wasm_v128_load(kvalues_iq4nl);
        for (int h = 0; h < 2; h++) {
            v128_t value = wasm_i8x16_swizzle(table, h ? wasm_u8x16_shr(v, 4) : wasm_v128_and(v, wasm_i8x16_splat(15)));
            c[2 * h] = wasm_i16x8_shr(wasm_i16x8_shl(value, 8), 8);   /* even bytes, sign-extended */
            c[2 * h + 1] = wasm_i16x8_shr(value, 8);                    /* odd bytes */
        }
        break;
    }
    }
}

/* four vectors of partial sums -> one vector of their four totals */
INLINE v128_t fold4_i32(const v128_t v[4]) {
    v128_t ab = wasm_i32x4_add(wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7));
    v128_t cd = wasm_i32x4_add(wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7));
    return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7));
}

INLINE v128_t fold4_f32(const v128_t v[4]) {
    v128_t ab = wasm_f32x4_add(wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7));
    v128_t cd = wasm_f32x4_add(wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7));
    return wasm_f32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7));
}

INLINE void store_rows(float *out, v128_t v, int nrows) {
    if (nrows == ROWS) {
        wasm_v128_store(out, v);
        return;
    }
    float lane[ROWS];
    wasm_v128_store(lane, v);
    for (int r = 0; r < nrows; r++) out[r] = lane[r];
}

/* rows w[0..3] times tokens t0 .. t0+nt-1 (nt <= a.tile) */
INLINE void quant_tile(int type, const uint8_t *const w[ROWS], int nrows, int cols, int t0, int nt,
                       Scratch a, float *out, int out_stride) {
    Layout l = layout_of(type);
    int nb = cols / QK, per = l.block_size / QK;       /* 32-groups per row, per block */
    v128_t *dot = (v128_t *)a.dot;                     /* [(b * tile + t) * ROWS + r] */
    /* 1. Each row from start to end (3. at the top): the integer dot of every 32 weights with
     *    each token, and their S, M. */
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < cols / l.block_size; i++) {
            const uint8_t *blk = w[r] + (size_t)i * l.type_size;
#pragma GCC unroll 8
            for (int j = 0; j < per; j++) {            /* j constant: shifts, scale bytes */
                int b = i * per + j;
                v128_t c[4];
                decode(type, blk, j, c);
                block_scale(type, blk, j, &a.S[b * ROWS + r], &a.M[b * ROWS + r]);
                for (int t = 0; t < nt; t++) {
                    const int16_t *xq = a.q + ((size_t)(t0 + t) * nb + b) * QK;
                    dot[(b * a.tile + t) * ROWS + r] = wasm_i32x4_add(
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(c[0], wasm_v128_load(xq)), wasm_i32x4_dot_i16x8(c[1], wasm_v128_load(xq + 8))),
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(c[2], wasm_v128_load(xq + 16)), wasm_i32x4_dot_i16x8(c[3], wasm_v128_load(xq + 24))));
                }
            }
        }
    }
    /* 2. Block by block: the four rows' sums in one vector, scaled, added up in block order. */
    for (int t = 0; t < nt; t++) {
        v128_t acc = wasm_f32x4_splat(0.0f);
        for (int b = 0; b < nb; b++) {
            size_t g = (size_t)(t0 + t) * nb + b;
            v128_t sum = wasm_f32x4_convert_i32x4(fold4_i32(dot + (b * a.tile + t) * ROWS));
            acc = wasm_f32x4_add(acc, wasm_f32x4_mul(sum, wasm_f32x4_mul(wasm_v128_load(a.S + b * ROWS), wasm_f32x4_splat(a.d[g]))));
            if (has_offset(type)) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a.M + b * ROWS), wasm_f32x4_splat(a.s[g])));
        }
        store_rows(out + (size_t)(t0 + t) * out_stride, acc, nrows);
    }
}

INLINE void quant_rows(int type, const uint8_t *const w[ROWS], int nrows, int cols, int n,
                       Scratch a, float *out, int out_stride) {
    for (int t0 = 0; t0 < n; t0 += a.tile) {
        int nt = n - t0 < a.tile ? n - t0 : a.tile;
        if (nt == 1)      /* decode: a copy with the token loops gone */
            quant_tile(type, w, nrows, cols, t0, 1, a, out, out_stride);
        else
            quant_tile(type, w, nrows, cols, t0, nt, a, out, out_stride);
    }
}

/* eight halves -> two f32x4 (half_to_float, lane-wise) */
INLINE void halves_to_f32(v128_t h8, v128_t f[2]) {
    for (int i = 0; i < 2; i++) {
        v128_t h = i ? wasm_u32x4_extend_high_u16x8(h8) : wasm_u32x4_extend_low_u16x8(h8);
        v128_t em = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));
        v128_t v = wasm_f32x4_mul(wasm_i32x4_shl(em, 13), wasm_f32x4_splat(0x1p112f));
        v = wasm_v128_or(v, wasm_v128_and(wasm_i32x4_ge(em, wasm_i32x4_splat(0x7c00)), wasm_i32x4_splat(0x7f800000)));
        f[i] = wasm_v128_or(v, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
    }
}

INLINE void float_rows(int type, const uint8_t *const w[ROWS], int nrows, int cols, int n,
                       const float *x, float *out, int out_stride) {
    int body = cols & ~7;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * cols;
        v128_t acc[ROWS];
        for (int r = 0; r < ROWS; r++) acc[r] = wasm_f32x4_splat(0.0f);
        for (int k = 0; k < body; k += 8) {
            v128_t x0 = wasm_v128_load(xt + k), x1 = wasm_v128_load(xt + k + 4);
            for (int r = 0; r < ROWS; r++) {
                v128_t f[2];
                if (type == F32) {
                    f[0] = wasm_v128_load(w[r] + 4 * k);
                    f[1] = wasm_v128_load(w[r] + 4 * k + 16);
                } else {
                    halves_to_f32(wasm_v128_load(w[r] + 2 * k), f);
                }
                acc[r] = wasm_f32x4_add(acc[r], wasm_f32x4_add(wasm_f32x4_mul(f[0], x0), wasm_f32x4_mul(f[1], x1)));
            }
        }
        float total[ROWS];
        wasm_v128_store(total, fold4_f32(acc));
        for (int r = 0; r < nrows; r++) {
            for (int k = body; k < cols; k++)
                total[r] += (type == F32 ? f32_from_bits(u32_at(w[r] + 4 * k)) : half_at(w[r] + 2 * k)) * xt[k];
            out[(size_t)t * out_stride + r] = total[r];
        }
    }
}

#else /* portable scalar C: the same codes and sums, one weight at a time */

/* iq4_pairs[b] = the codes of both nibbles of an IQ4 qs byte b, kvalues_iq4nl[b & 15] in the low
 * 16 bits and kvalues_iq4nl[b >> 4] in the high ones (filled by minfer_init): one load per byte.
 * Measured natively on a 2048x1024 matvec: 0.72 ns/weight, against 1.04 with a load per nibble
 * and 3.4 with compares and adds (Q4_0: 0.13). */
static uint32_t iq4_pairs[256];

static void init_iq4_pairs(void) {
    for (int b = 0; b < 256; b++)
        iq4_pairs[b] = (uint16_t)kvalues_iq4nl[b & 15] | (uint32_t)(uint16_t)kvalues_iq4nl[b >> 4] << 16;
}

static const uint32_t bit_mask[QK] = {
    1u << 0, 1u << 1, 1u << 2, 1u << 3, 1u << 4, 1u << 5, 1u << 6, 1u << 7, 1u << 8, 1u << 9,
    1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15, 1u << 16, 1u << 17, 1u << 18,
    1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23, 1u << 24, 1u << 25, 1u << 26, 1u << 27,
    1u << 28, 1u << 29, 1u << 30, 1u << 31,
};

/* codes of weights 32j .. 32j+31 of a block, in natural order */
INLINE void decode(int type, const uint8_t *blk, int j, int16_t q[QK]) {
    switch (type) {
    case Q4_0: case Q4_1: case Q5_0: case Q5_1: {
        const uint8_t *qs = blk + (type == Q4_0 ? 2 : type == Q4_1 ? 4 : type == Q5_0 ? 6 : 8);
        for (int l = 0; l < 16; l++) {
            q[l] = qs[l] & 15;
            q[l + 16] = qs[l] >> 4;
        }
        if (type == Q5_0 || type == Q5_1) {     /* bit l of qh (masks vectorize, shifts not) */
            uint32_t qh = u32_at(blk + (type == Q5_0 ? 2 : 4));
            for (int l = 0; l < QK; l++) q[l] |= (int16_t)(qh & bit_mask[l] ? 16 : 0);
        }
        break;
    }
    case Q8_0:
        for (int l = 0; l < QK; l++) q[l] = (int8_t)blk[2 + l];
        break;
    case Q4_K: case Q5_K: {
        const uint8_t *qs = blk + (type == Q4_K ? 16 : 48) + 32 * (j >> 1);
        for (int l = 0; l < QK; l++)
            q[l] = (int16_t)((qs[l] >> 4 * (j & 1) & 15) | (type == Q5_K ? (blk[16 + l] >> j & 1) << 4 : 0));
        break;
    }
    case Q6_K: {
        int k = j & 3;
        const uint8_t *ql = blk + 64 * (j >> 2) + 32 * (k & 1), *qh = blk + 128 + 32 * (j >> 2);
        for (int h = 0; h < 2; h++) {
            int scale = (int8_t)blk[192 + 2 * j + h];
            for (int l = 16 * h; l < 16 * h + 16; l++) {
                int code = (ql[l] >> 4 * (k >> 1) & 15) | (qh[l] >> 2 * k & 3) << 4;
                q[l] = (int16_t)((code - 32) * scale);
            }
        }
        break;
    }
    case IQ4_NL: case IQ4_XS: {
        const uint8_t *qs = iq4_qs(type, blk, j);
        for (int l = 0; l < 16; l++) {
            uint32_t pair = iq4_pairs[qs[l]];
            q[l] = (int16_t)(pair & 0xffff);
            q[l + 16] = (int16_t)(pair >> 16);
        }
        break;
    }
    }
}

/* Row by row; each block decoded once for all tokens, its terms added to out[t, r] in block
 * order as the SIMD build adds them. */
INLINE void quant_rows(int type, const uint8_t *const w[ROWS], int nrows, int cols, int n,
                       Scratch a, float *out, int out_stride) {
    Layout l = layout_of(type);
    int nb = cols / QK, per = l.block_size / QK;
    for (int r = 0; r < nrows; r++) {
        for (int t = 0; t < n; t++) out[(size_t)t * out_stride + r] = 0.0f;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = w[r] + (size_t)(b / per) * l.type_size;
            int16_t q[QK];
            float S, M;
            decode(type, blk, b % per, q);
            block_scale(type, blk, b % per, &S, &M);
            for (int t = 0; t < n; t++) {
                size_t g = (size_t)t * nb + b;
                int32_t dot = 0;
                for (int i = 0; i < QK; i++) dot += (int32_t)q[i] * a.q[g * QK + i];
                float *o = out + (size_t)t * out_stride + r;
                *o = *o + (float)dot * (S * a.d[g]);
                if (has_offset(type)) *o = *o + M * a.s[g];
            }
        }
    }
}

INLINE void float_rows(int type, const uint8_t *const w[ROWS], int nrows, int cols, int n,
                       const float *x, float *out, int out_stride) {
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * cols;
        for (int r = 0; r < nrows; r++) {
            float acc = 0.0f;
            for (int k = 0; k < cols; k++)
                acc += (type == F32 ? f32_from_bits(u32_at(w[r] + 4 * k)) : half_at(w[r] + 2 * k)) * xt[k];
            out[(size_t)t * out_stride + r] = acc;
        }
    }
}

#endif

/* ------------------------------------------------------------------ driver */

/* All row groups of one type. A short last group repeats its last row (stored once). */
INLINE void matmul_type(int type, const uint8_t *w, int rows, int cols, const float *x, int n,
                        float *out, int out_stride, Scratch a) {
    size_t row_bytes = (size_t)cols / layout_of(type).block_size * layout_of(type).type_size;
    for (int r0 = 0; r0 < rows; r0 += ROWS) {
        int nrows = rows - r0 < ROWS ? rows - r0 : ROWS;
        const uint8_t *wr[ROWS];
        for (int r = 0; r < ROWS; r++) wr[r] = w + (size_t)(r0 + (r < nrows ? r : nrows - 1)) * row_bytes;
        if (is_float_type(type))
            float_rows(type, wr, nrows, cols, n, x, out + r0, out_stride);
        else
            quant_rows(type, wr, nrows, cols, n, a, out + r0, out_stride);
    }
}

/* One function per type, its decoder inlined: small functions for the wasm engine to optimize. */
#define KERNEL(T)                                                                                   \
    static __attribute__((noinline)) void matmul_##T(const uint8_t *w, int rows, int cols,          \
                                                     const float *x, int n, float *out,             \
                                                     int out_stride, Scratch a) {                      \
        matmul_type(T, w, rows, cols, x, n, out, out_stride, a);                                    \
    }
KERNEL(F32) KERNEL(F16) KERNEL(Q4_0) KERNEL(Q4_1) KERNEL(Q5_0) KERNEL(Q5_1) KERNEL(Q8_0)
KERNEL(Q4_K) KERNEL(Q5_K) KERNEL(Q6_K) KERNEL(IQ4_NL) KERNEL(IQ4_XS)

/* ------------------------------------------------------------------ exported API */

API int minfer_abi(void) { return MINFER_ABI; }

API int minfer_simd(void) {
#ifdef __wasm_simd128__
    return 1;
#else
    return 0;
#endif
}

/* Fills `table` (65536 floats, kept alive by the caller while the kernels are in use) with the
 * float of every half, and reads block scales through it (the scalar build also fills iq4_pairs).
 * Call once, before minfer_matmul. */
API void minfer_init(float *table) {
    for (uint32_t h = 0; h < 1u << 16; h++) table[h] = half_to_float(h);
    half_table = table;
#ifndef __wasm_simd128__
    init_iq4_pairs();
#endif
}

API int minfer_supports(int ggml_type) { return layout_of(ggml_type).block_size != 0; }

/* Bytes of scratch minfer_matmul needs for this type, row length and token count: 0 for float
 * types, -1 for an unsupported type or shape, or for more than 2^31 - 1 bytes. */
API int minfer_scratch_bytes(int ggml_type, int cols, int n) {
    Layout l = layout_of(ggml_type);
    if (!l.block_size || cols <= 0 || n <= 0 || cols % l.block_size) return -1;
    if (is_float_type(ggml_type)) return 0;
    size_t size = scratch_size(cols, n);
    return size > 0x7fffffff ? -1 : (int)size;
}

/* out[t * out_stride + r] = sum_k W[r, k] * x[t * cols + k] for r < rows, t < n.
 * Returns MINFER_OK, or without writing anything MINFER_BAD_TYPE (no kernel for the type),
 * MINFER_BAD_SHAPE (a size not positive, cols not whole blocks, out_stride < rows with n > 1),
 * MINFER_SMALL_SCRATCH (scratch_bytes below what minfer_scratch_bytes asks for) or
 * MINFER_NO_INIT (minfer_init was not called). */
API int minfer_matmul(int ggml_type, const uint8_t *w, int rows, int cols, const float *x, int n,
                      float *out, int out_stride, void *scratch, int scratch_bytes) {
    Layout l = layout_of(ggml_type);
    if (!l.block_size) return MINFER_BAD_TYPE;
    if (rows <= 0 || cols <= 0 || n <= 0 || cols % l.block_size || (n > 1 && out_stride < rows))
        return MINFER_BAD_SHAPE;
    if (!half_table) return MINFER_NO_INIT;
    Scratch a = { 0 };
    if (!is_float_type(ggml_type)) {
        int need = minfer_scratch_bytes(ggml_type, cols, n);
        if (need < 0 || scratch_bytes < need) return MINFER_SMALL_SCRATCH;
        a = scratch_at(scratch, cols, n);
        quantize_activations(x, cols, n, a);
    }
    switch (ggml_type) {
    case F32: matmul_F32(w, rows, cols, x, n, out, out_stride, a); break;
    case F16: matmul_F16(w, rows, cols, x, n, out, out_stride, a); break;
    case Q4_0: matmul_Q4_0(w, rows, cols, x, n, out, out_stride, a); break;
    case Q4_1: matmul_Q4_1(w, rows, cols, x, n, out, out_stride, a); break;
    case Q5_0: matmul_Q5_0(w, rows, cols, x, n, out, out_stride, a); break;
    case Q5_1: matmul_Q5_1(w, rows, cols, x, n, out, out_stride, a); break;
    case Q8_0: matmul_Q8_0(w, rows, cols, x, n, out, out_stride, a); break;
    case Q4_K: matmul_Q4_K(w, rows, cols, x, n, out, out_stride, a); break;
    case Q5_K: matmul_Q5_K(w, rows, cols, x, n, out, out_stride, a); break;
    case Q6_K: matmul_Q6_K(w, rows, cols, x, n, out, out_stride, a); break;
    case IQ4_NL: matmul_IQ4_NL(w, rows, cols, x, n, out, out_stride, a); break;
    case IQ4_XS: matmul_IQ4_XS(w, rows, cols, x, n, out, out_stride, a); break;
    }
    return MINFER_OK;
}
