/* The glue around the matrix products where the page's profile showed numpy's cost (a fifth of
 * a prompt's time in Pyodide): the gated feed-forward activation  gate <- act(gate) * up, and
 * softmax attention over the cached keys and values (minfer_wasm/layers.py silu_mul, gelu_mul
 * and attention stay the reference and the numpy path). Linked into the same library as
 * quant_kernels.c (minfer_wasm/native/kernel_build.py): a SIMD128 path in the wasm build, the
 * scalar path natively; both run the same float operations in the same order (no fused
 * multiply-add: the native build uses -ffp-contract=off), so they agree bit for bit.
 * Freestanding: no libm, so exp is written out below.
 *
 * Both activations are g * sigmoid(z), one exp per value:
 *   silu:       z = g
 *   gelu-tanh:  z = 2 sqrt(2/pi) g (1 + 0.044715 g^2), since 0.5 (1 + tanh(y)) = sigmoid(2 y)
 *               (ggml_gelu_f32's formula; HF gelu_pytorch_tanh)
 *   out = g / (1 + exp(-z)) * up      (g's factor first: g * up alone can overflow)
 * exp(t), the way ggml's ggml_v_expf (ggml/src/ggml-cpu/vec.h) and Cephes' expf do it (read to
 * learn; own code): t = n ln2 + r with n = round(t / ln2) and |r| <= ln2 / 2, ln2 split in two
 * parts so n * LN2_HI is exact (Cody-Waite); exp(r) by its Taylor polynomial of degree 7
 * (truncation below 5e-9 relative), times 2^n built in the exponent bits.
 * Overflow-safe for any g, as numpy's tanh form is: exp runs on t = -z clamped to [EXP_LO,
 * EXP_HI], where 2^n is a normal float; below EXP_LO the sigmoid is 1 in float (1 + exp(t)
 * rounds to 1, clamped or not), from EXP_HI up exp(t) is taken as inf: the sigmoid is 0 there
 * instead of at most 6.1e-39. So large |g| gives g * up or 0, never inf / inf. NaN and inf give
 * what numpy's silu_mul / gelu_mul give: NaN in gate or up -> NaN (a NaN t is clamped to EXP_LO,
 * so no NaN reaches the float -> int conversion), gate = inf -> inf * up, gate = -inf -> NaN.
 */

#include <stdint.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define API __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

enum { ACT_SILU = 0, ACT_GELU_TANH = 1 };
enum { GLUE_OK = 0, GLUE_BAD_KIND = 1, GLUE_BAD_SHAPE = 2 };   /* as MINFER_BAD_TYPE, _SHAPE */

#define EXP_LO -87.0f                 /* n = -126: 2^n the smallest normal float */
#define EXP_HI 88.0f                  /* n = 127; exp(t) is taken as inf from here up */
#define INF __builtin_inff()
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f           /* 355/512: n * LN2_HI is exact for |n| < 2^15 */
#define LN2_LO -2.12194440054690583e-4f   /* ln 2 - LN2_HI */
#define ROUNDER 12582912.0f           /* 1.5 * 2^23: x + ROUNDER - ROUNDER rounds |x| < 2^22 to nearest */
#define GELU_2C 1.5957691216057308f   /* 2 sqrt(2 / pi) */
#define GELU_A 0.044715f

INLINE float f32_of(uint32_t u) {
    union { uint32_t u; float f; } v = { u };
    return v.f;
}

/* ------------------------------------------------------------------ scalar path */

/* exp(t) for t in [EXP_LO, EXP_HI] (the caller clamps) */
INLINE float exp_clamped(float t) {
    float n = (t * LOG2E + ROUNDER) - ROUNDER;
    float r = (t - n * LN2_HI) - n * LN2_LO;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * f32_of((uint32_t)((int32_t)n + 127) << 23);
}

INLINE float act_mul_one(int act, float g, float u) {
    float z = g;
    if (act == ACT_GELU_TANH) z = (g * g * GELU_A + 1.0f) * g * GELU_2C;
    float t = -z;
    t = t > EXP_LO ? t : EXP_LO;       /* NaN -> EXP_LO */
    float e = t < EXP_HI ? exp_clamped(t) : INF;
    return g / (1.0f + e) * u;
}

static void act_mul_row(int act, float *gate, const float *up, int cols, int j) {
    for (; j < cols; j++) gate[j] = act_mul_one(act, gate[j], up[j]);
}

/* ------------------------------------------------------------------ SIMD128 path */

#ifdef __wasm_simd128__
#define SPLAT wasm_f32x4_splat

/* the same operations as exp_clamped, four lanes at a time */
INLINE v128_t exp_clamped4(v128_t t) {
    v128_t n = wasm_f32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(t, SPLAT(LOG2E)), SPLAT(ROUNDER)), SPLAT(ROUNDER));
    v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(t, wasm_f32x4_mul(n, SPLAT(LN2_HI))), wasm_f32x4_mul(n, SPLAT(LN2_LO)));
    static const float taylor[7] = { 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f };
    v128_t p = SPLAT(1.0f / 5040.0f);
    for (int i = 0; i < 7; i++) p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(taylor[i]));
    v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
    return wasm_f32x4_mul(p, scale);
}

static void act_mul_row_simd(int act, float *gate, const float *up, int cols) {
    int j = 0;
    for (; j + 4 <= cols; j += 4) {
        v128_t g = wasm_v128_load(gate + j), u = wasm_v128_load(up + j), z = g;
        if (act == ACT_GELU_TANH)
            z = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(g, g), SPLAT(GELU_A)),
                                                             SPLAT(1.0f)), g), SPLAT(GELU_2C));
        /* pmax(lo, t) = lo < t ? t : lo: the scalar clamp, NaN -> EXP_LO */
        v128_t t = wasm_f32x4_pmax(SPLAT(EXP_LO), wasm_f32x4_neg(z));
        v128_t e = wasm_v128_bitselect(exp_clamped4(wasm_f32x4_pmin(SPLAT(EXP_HI), t)), SPLAT(INF),
                                       wasm_f32x4_lt(t, SPLAT(EXP_HI)));
        wasm_v128_store(gate + j, wasm_f32x4_mul(wasm_f32x4_div(g, wasm_f32x4_add(SPLAT(1.0f), e)), u));
    }
    act_mul_row(act, gate, up, cols, j);
}
#endif

/* ------------------------------------------------------------------ attention */

/* Softmax attention of query token i, head h, over the T cached positions of kv head
 * h / (n_head / n_kv) (layers.attention; ggml_soft_max_ext, then the product with v):
 *   s_t = (unit q) . k_t + mask[i, t]        k and v are the cache's values divided by unit
 *   p_t = exp(s_t - max_t s_t)               (0 where s_t - max < EXP_LO: below 1.6e-38)
 *   out = sum_t (unit p_t) v_t / sum_t p_t
 * unit, a power of two (2^112 for the float16 cache: kv_cache.py), multiplies the small operands
 * exactly, so no product of a tiny key or value goes subnormal. A position whose mask is -inf
 * (the causal half of a prompt's scores) is skipped, its key and its value. Sums over d and
 * over t run in four lanes folded as (l0 + l2) + (l1 + l3), in both builds. A NaN score gives
 * NaN outputs for its query head, as numpy's max and exp do. */

#ifdef __wasm_simd128__
INLINE float fold4(v128_t a) {
    v128_t h = wasm_f32x4_add(a, wasm_i32x4_shuffle(a, a, 2, 3, 0, 1));
    return wasm_f32x4_extract_lane(h, 0) + wasm_f32x4_extract_lane(h, 1);
}
#endif

static float dot(const float *a, const float *b, int d) {
    int j = 0;
#ifdef __wasm_simd128__
    v128_t acc = wasm_f32x4_splat(0.0f);
    for (; j + 4 <= d; j += 4)
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + j), wasm_v128_load(b + j)));
    float s = fold4(acc);
#else
    float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (; j + 4 <= d; j += 4)
        for (int l = 0; l < 4; l++) acc[l] += a[j + l] * b[j + l];
    float s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
#endif
    for (; j < d; j++) s += a[j] * b[j];
    return s;
}

/* exp(t) for t <= 0: 0 below EXP_LO, NaN stays NaN */
INLINE float exp_softmax(float t) {
    float e = exp_clamped(t > EXP_LO ? t : EXP_LO);
    return t >= EXP_LO ? e : t < EXP_LO ? 0.0f : t;
}

/* s[t] <- exp(s[t] - m) for t < T; returns their sum */
static float softmax_weights(float *s, int T, float m) {
    int t = 0;
#ifdef __wasm_simd128__
    v128_t total4 = wasm_f32x4_splat(0.0f);
    for (; t + 4 <= T; t += 4) {
        v128_t x = wasm_f32x4_sub(wasm_v128_load(s + t), SPLAT(m));
        v128_t e = exp_clamped4(wasm_f32x4_pmax(SPLAT(EXP_LO), x));
        v128_t low = wasm_f32x4_lt(x, SPLAT(EXP_LO));
        v128_t p = wasm_v128_bitselect(e, wasm_v128_andnot(x, low), wasm_f32x4_ge(x, SPLAT(EXP_LO)));
        wasm_v128_store(s + t, p);
        total4 = wasm_f32x4_add(total4, p);
    }
    float total = fold4(total4);
#else
    float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (; t + 4 <= T; t += 4)
        for (int l = 0; l < 4; l++) acc[l] += s[t + l] = exp_softmax(s[t + l] - m);
    float total = (acc[0] + acc[2]) + (acc[1] + acc[3]);
#endif
    for (; t < T; t++) total += s[t] = exp_softmax(s[t] - m);
    return total;
}

/* o[j] = sum_t (unit p[t]) v[t * d + j] / total for j < d, t in order (positions with p = 0 left out) */
static void weighted_values(const float *p, const float *v, int T, int d, float unit, float total, float *o) {
    int j = 0;
#ifdef __wasm_simd128__
    for (; j + 16 <= d; j += 16) {       /* four vectors of o stay in registers over all t */
        v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < T; t++) {
            if (p[t] == 0.0f) continue;
            v128_t w = SPLAT(p[t] * unit);
            const float *vt = v + (long)t * d + j;
            a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(w, wasm_v128_load(vt)));
            a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(w, wasm_v128_load(vt + 4)));
            a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(w, wasm_v128_load(vt + 8)));
            a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(w, wasm_v128_load(vt + 12)));
        }
        v128_t div = SPLAT(total);
        wasm_v128_store(o + j, wasm_f32x4_div(a0, div));
        wasm_v128_store(o + j + 4, wasm_f32x4_div(a1, div));
        wasm_v128_store(o + j + 8, wasm_f32x4_div(a2, div));
        wasm_v128_store(o + j + 12, wasm_f32x4_div(a3, div));
    }
#endif
    for (int jj = j; jj < d; jj++) o[jj] = 0.0f;
    for (int t = 0; t < T; t++) {
        if (p[t] == 0.0f) continue;
        float w = p[t] * unit;
        for (int jj = j; jj < d; jj++) o[jj] += w * v[(long)t * d + jj];
    }
    for (; j < d; j++) o[j] /= total;
}

/* ------------------------------------------------------------------ exported API */

/* gate[t * stride + j] <- act(gate[t * stride + j]) * up[t * stride + j] for j < cols, t < n
 * (act: 0 silu, 1 gelu-tanh); gate and up may be the two halves of one (n, 2 cols) buffer.
 * Returns GLUE_OK, or without writing GLUE_BAD_KIND (another act) or GLUE_BAD_SHAPE (cols or n
 * not positive, or stride < cols with n > 1). */
API int minfer_act_mul(int act, float *gate, const float *up, int cols, int n, int stride) {
    if (act != ACT_SILU && act != ACT_GELU_TANH) return GLUE_BAD_KIND;
    if (cols <= 0 || n <= 0 || (n > 1 && stride < cols)) return GLUE_BAD_SHAPE;
    for (int t = 0; t < n; t++) {
        float *g = gate + (long)t * stride;
        const float *u = up + (long)t * stride;
#ifdef __wasm_simd128__
        act_mul_row_simd(act, g, u, cols);
#else
        act_mul_row(act, g, u, cols, 0);
#endif
    }
    return GLUE_OK;
}

/* Attention of n query tokens (see "attention" above), into out[i * out_stride + h * d + j]:
 *   q[i * q_stride + h * d + j]            (n, n_head, d), not yet multiplied by unit
 *   k, v[hk * kv_head_stride + t * d + j]  (n_kv, T, d) each, divided by unit = 2^unit_exp
 *   mask[i * T + t]                        (n, T) additive (0 / -inf), or 0 for none
 *   scratch                                d + T floats
 * Returns GLUE_OK, or without writing GLUE_BAD_SHAPE (a size not positive, n_head not a multiple
 * of n_kv, a stride too small for its rows, unit_exp outside -126..127). */
API int minfer_attention(const float *q, int q_stride, int n, int n_head, int d,
                         const float *k, const float *v, int kv_head_stride, int n_kv, int T,
                         const float *mask, float *out, int out_stride, int unit_exp, float *scratch) {
    if (n <= 0 || n_head <= 0 || d <= 0 || n_kv <= 0 || T <= 0 || n_head % n_kv
        || q_stride < n_head * d || out_stride < n_head * d || (n_kv > 1 && kv_head_stride < T * d)
        || unit_exp < -126 || unit_exp > 127)
        return GLUE_BAD_SHAPE;
    float unit = f32_of((uint32_t)(unit_exp + 127) << 23);
    int group = n_head / n_kv;
    float *qs = scratch, *s = scratch + d;      /* (d,) unit q, (T,) scores, then weights */
    for (int i = 0; i < n; i++) {
        const float *bias = mask ? mask + (long)i * T : 0;
        for (int h = 0; h < n_head; h++) {
            const float *qh = q + (long)i * q_stride + (long)h * d;
            const float *kh = k + (long)(h / group) * kv_head_stride, *vh = v + (long)(h / group) * kv_head_stride;
            for (int j = 0; j < d; j++) qs[j] = qh[j] * unit;
            float m = -INF;
            for (int t = 0; t < T; t++) {
                float b = bias ? bias[t] : 0.0f;
                s[t] = b == -INF ? -INF : dot(qs, kh + (long)t * d, d) + b;
                m = s[t] > m ? s[t] : m;
            }
            float total = softmax_weights(s, T, m);
            weighted_values(s, vh, T, d, unit, total, out + (long)i * out_stride + (long)h * d);
        }
    }
    return GLUE_OK;
}
