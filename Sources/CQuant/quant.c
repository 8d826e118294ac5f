#include "cquant.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQUANT_X86 1
#endif

// IEEE half to float, every case (subnormals, infinities, NaN), without F16C.
float cquant_f16_to_f32(unsigned short h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; man <<= 1; } while ((man & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int cquant_block_bytes(int format) {
    switch (format) {
    case CQUANT_Q8_0: return 34;
    case CQUANT_Q4_0: return 18;
    case CQUANT_Q4_1: return 20;
    case CQUANT_Q5_0: return 22;
    case CQUANT_Q5_1: return 24;
    case CQUANT_Q4_K: return 144;
    case CQUANT_Q5_K: return 176;
    case CQUANT_Q6_K: return 210;
    case CQUANT_F16: case CQUANT_BF16: return 64;
    default: return 0;
    }
}

int cquant_block_elements(int format) {
    return format == CQUANT_Q4_K || format == CQUANT_Q5_K || format == CQUANT_Q6_K ? 256 : 32;
}

void cquant_quantize_vector(const float *x, int cols, signed char *qx, float *scale, int *qsum) {
    for (int b = 0; b < cols / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) { float a = fabsf(x[32 * b + j]); if (a > amax) amax = a; }
        float d = amax / 127, inv = d > 0 ? 1 / d : 0;
        int s = 0;
        for (int j = 0; j < 32; j++) {
            // Nearest, ties to even (as llama.cpp's AVX2 quantizer): lrintf is one cvtss2si.
            int q = (int)lrintf(x[32 * b + j] * inv);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            qx[32 * b + j] = (signed char)q;
            s += q;
        }
        scale[b] = d;
        qsum[b] = s;
    }
}

static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

// One block's float contribution from its integer dot product `dot` (of the stored q, unsigned
// nibbles for Q4, with qx) and the vector block's scale and sum.
static inline float block_value(int format, const uint8_t *blk, int dot, float dx, int qsum) {
    float d = cquant_f16_to_f32(load_u16(blk));
    switch (format) {
    case CQUANT_Q8_0: return d * dx * (float)dot;
    case CQUANT_Q4_0: return d * dx * (float)(dot - 8 * qsum);
    default: return d * dx * (float)dot + cquant_f16_to_f32(load_u16(blk + 2)) * dx * (float)qsum;
    }
}

static void matvec_portable(int format, const uint8_t *w, int cols, int r0, int r1, const int8_t *qx, const float *dx,
                            const int *qsum, float *y) {
    const int blocks = cols / 32, bb = cquant_block_bytes(format);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        float acc = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            const int8_t *xb = qx + 32 * b;
            int dot = 0;
            if (format == CQUANT_Q8_0) {
                for (int j = 0; j < 32; j++) dot += (int8_t)blk[2 + j] * xb[j];
            } else {
                const uint8_t *q = blk + (format == CQUANT_Q4_1 ? 4 : 2);
                for (int j = 0; j < 16; j++) dot += (q[j] & 15) * xb[j] + (q[j] >> 4) * xb[j + 16];
            }
            acc += block_value(format, blk, dot, dx[b], qsum[b]);
        }
        y[r - r0] = acc;
    }
}

// The formats with a fifth or sixth bit, or a scale per sub-block (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K):
// each sub-block of 32 is unpacked to unsigned quants u (0..63) with, per half of 16 elements h,
// w = a[h] * u - c[h]. The vector block meets u in an integer dot product per half.
typedef struct { uint8_t u[32]; float a[2], c[2]; } subblock_t;

// The 6-bit scale and min of sub-block j (0..7) from a Q4_K/Q5_K block's 12 packed bytes (ggml's get_scale_min_k4).
static inline void scale_min_k4(const uint8_t *q, int j, int *sc, int *m) {
    if (j < 4) { *sc = q[j] & 63; *m = q[j + 4] & 63; }
    else { *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}

// The block's scales as stored: d (Q6_K: at its end), and the second f16 of Q5_1 (m) and the k-quants (dmin).
static inline int first_scale_offset(int format) { return format == CQUANT_Q6_K ? 208 : 0; }
static inline int has_second_scale(int format) { return format == CQUANT_Q5_1 || format == CQUANT_Q4_K || format == CQUANT_Q5_K; }

// Sub-block s (0 for the 32-element formats) of a block with scales d and second: w = a[h] * u - c[h].
static inline void subblock_coefficients(int format, const uint8_t *blk, int s, float d, float second,
                                         float *a0, float *a1, float *c0, float *c1) {
    switch (format) {
    case CQUANT_Q5_0: *a0 = *a1 = d; *c0 = *c1 = 16 * d; break;
    case CQUANT_Q5_1: *a0 = *a1 = d; *c0 = *c1 = -second; break;
    case CQUANT_Q4_K: case CQUANT_Q5_K: {
        int sc, m;
        scale_min_k4(blk + 4, s, &sc, &m);
        *a0 = *a1 = d * (float)sc;
        *c0 = *c1 = second * (float)m;
        break;
    }
    default:  // Q6_K: signed scales per 16
        *a0 = d * (float)(int8_t)blk[192 + 2 * s];
        *a1 = d * (float)(int8_t)blk[192 + 2 * s + 1];
        *c0 = 32 * *a0; *c1 = 32 * *a1;
    }
}

// Sub-block s of a block whose scales (d, second) the caller converted once for its sub-blocks.
static void unpack_subblock(int format, const uint8_t *blk, int s, float d, float second, subblock_t *o) {
    subblock_coefficients(format, blk, s, d, second, &o->a[0], &o->a[1], &o->c[0], &o->c[1]);
    switch (format) {
    case CQUANT_Q5_0: case CQUANT_Q5_1: {
        const int off = format == CQUANT_Q5_0 ? 2 : 4;
        uint32_t qh; memcpy(&qh, blk + off, 4);
        const uint8_t *q = blk + off + 4;
        for (int j = 0; j < 16; j++) {
            o->u[j] = (uint8_t)((q[j] & 15) | ((qh >> j) & 1) << 4);
            o->u[j + 16] = (uint8_t)((q[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
        }
        break;
    }
    case CQUANT_Q4_K: case CQUANT_Q5_K: {
        const uint8_t *q = blk + (format == CQUANT_Q4_K ? 16 : 48) + 32 * (s / 2);
        const int shift = s % 2 ? 4 : 0;
        for (int i = 0; i < 32; i++) {
            int v = (q[i] >> shift) & 15;
            if (format == CQUANT_Q5_K) v |= ((blk[16 + i] >> s) & 1) << 4;
            o->u[i] = (uint8_t)v;
        }
        break;
    }
    default: {  // Q6_K: sub-block s = 4h + r: low bits from ql[64h + 32(r % 2) + i] (nibble r / 2), high from qh[32h + i] >> 2r
        const int h = s / 4, r = s % 4, shift = r < 2 ? 0 : 4;
        for (int i = 0; i < 32; i++)
            o->u[i] = (uint8_t)(((blk[64 * h + 32 * (r % 2) + i] >> shift) & 15) | ((blk[128 + 32 * h + i] >> (2 * r)) & 3) << 4);
    }
    }
}

static void matvec_subblocks_portable(int format, const uint8_t *w, int cols, int r0, int r1, const int8_t *qx,
                                      const float *dx, float *y) {
    const int per = cquant_block_elements(format) / 32, blocks = cols / 32 / per, bb = cquant_block_bytes(format);
    subblock_t sb;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        float acc = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            const float d = cquant_f16_to_f32(load_u16(blk + first_scale_offset(format)));
            const float second = has_second_scale(format) ? cquant_f16_to_f32(load_u16(blk + 2)) : 0;
            for (int s = 0; s < per; s++) {
                unpack_subblock(format, blk, s, d, second, &sb);
                const int8_t *xb = qx + 32 * (b * per + s);
                int dot[2] = {0, 0}, sum[2] = {0, 0};
                for (int i = 0; i < 32; i++) { dot[i / 16] += sb.u[i] * xb[i]; sum[i / 16] += xb[i]; }
                acc += dx[b * per + s] * (sb.a[0] * (float)dot[0] + sb.a[1] * (float)dot[1] - sb.c[0] * (float)sum[0] - sb.c[1] * (float)sum[1]);
            }
        }
        y[r - r0] = acc;
    }
}

// F16 and BF16 rows times the float vector, in float (8 partial sums, as the AVX2 loop keeps them).
static inline float bf16_to_f32(uint16_t h) { uint32_t bits = (uint32_t)h << 16; float f; memcpy(&f, &bits, 4); return f; }

static void matvec_half_portable(int format, const uint8_t *w, int cols, int r0, int r1, const float *x, float *y) {
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * cols * 2;
        float part[8] = {0};
        for (int c = 0; c < cols; c++) {
            uint16_t h = load_u16(row + 2 * c);
            part[c % 8] += (format == CQUANT_F16 ? cquant_f16_to_f32(h) : bf16_to_f32(h)) * x[c];
        }
        y[r - r0] = ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
    }
}

#ifdef CQUANT_X86
__attribute__((target("avx2,fma,f16c")))
static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Each block's 8 lane sums of its integer products are scaled by d * dx into a float accumulator
// (one horizontal sum per row, as llama.cpp); the Q4 offsets (-8 d dx Σqx, m dx Σqx) go to a scalar.
__attribute__((target("avx2,fma,f16c")))
static void matvec_avx2(int format, const uint8_t *w, int cols, int r0, int r1, const int8_t *qx, const float *dx,
                        const int *qsum, float *y) {
    const int blocks = cols / 32, bb = cquant_block_bytes(format);
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(15);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        __m256 acc = _mm256_setzero_ps();
        float tail = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + 32 * b)), prod;
            float ddx = _cvtsh_ss(load_u16(blk)) * dx[b];
            if (format == CQUANT_Q8_0) {
                // Signed by signed: |w| (unsigned) times x with w's sign, as llama.cpp.
                __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2));
                prod = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
            } else {
                __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + (format == CQUANT_Q4_1 ? 4 : 2)));
                // Low nibbles are elements 0..15, high nibbles 16..31.
                __m256i wv = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), low);
                prod = _mm256_maddubs_epi16(wv, xv);
                tail += format == CQUANT_Q4_0 ? -8 * ddx * (float)qsum[b] : _cvtsh_ss(load_u16(blk + 2)) * dx[b] * (float)qsum[b];
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones)), _mm256_set1_ps(ddx), acc);
        }
        y[r - r0] = hsum_ps(acc) + tail;
    }
}

// F16 (F16C's conversion) and BF16 (a shift) rows, 32 weights per iteration into four float
// accumulators (one would wait on each FMA's latency and leave the loop slower than F32's sgemv).
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline __m256 half8(int format, const uint8_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return format == CQUANT_F16 ? _mm256_cvtph_ps(h) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void matvec_half_avx2_of(int format, const uint8_t *w, int cols, int r0, int r1, const float *x, float *y) {
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * cols * 2;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < cols; c += 32) {
            a0 = _mm256_fmadd_ps(half8(format, row + 2 * c), _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(half8(format, row + 2 * c + 16), _mm256_loadu_ps(x + c + 8), a1);
            a2 = _mm256_fmadd_ps(half8(format, row + 2 * c + 32), _mm256_loadu_ps(x + c + 16), a2);
            a3 = _mm256_fmadd_ps(half8(format, row + 2 * c + 48), _mm256_loadu_ps(x + c + 24), a3);
        }
        y[r - r0] = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

__attribute__((target("avx2,fma,f16c")))
static void matvec_half_avx2(int format, const uint8_t *w, int cols, int r0, int r1, const float *x, float *y) {
    if (format == CQUANT_F16) matvec_half_avx2_of(CQUANT_F16, w, cols, r0, r1, x, y);
    else matvec_half_avx2_of(CQUANT_BF16, w, cols, r0, r1, x, y);
}

// The 32 bits of `bits` as 32 bytes, 0xff where the bit is set (byte i for bit i).
__attribute__((target("avx2,fma,f16c")))
static inline __m256i bytes_from_bits(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);  // byte i holds byte i / 8 of bits
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));        // all other bits of byte i set
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

// The sub-block formats: per sub-block, unsigned quants u in a register, maddubs with the vector's
// block (Q6_K: minus 32 times it, so the integer sum is of q - 32), 8 lane sums (lanes 0-3: elements
// 0-15, lanes 4-7: 16-31) scaled per half into a float accumulator; the offsets c of Q5_0, Q5_1 and
// the k-quants' mins go to a scalar with the vector block's sum.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void matvec_subblocks_avx2_of(int format, const uint8_t *w, int cols, int r0, int r1, const int8_t *qx,
                                            const float *dx, const int *qsum, float *y) {
    const int per = cquant_block_elements(format) / 32, blocks = cols / 32 / per, bb = cquant_block_bytes(format);
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1),
                  three = _mm256_set1_epi8(3), thirtytwo = _mm256_set1_epi8(32), fifth = _mm256_set1_epi8(16);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        __m256 acc = _mm256_setzero_ps();
        float tail = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            const float d = _cvtsh_ss(load_u16(blk + first_scale_offset(format)));
            const float second = has_second_scale(format) ? _cvtsh_ss(load_u16(blk + 2)) : 0;
            for (int s = 0; s < per; s++) {
                const int xb = b * per + s;
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(qx + 32 * xb));
                float a0, a1, c0, c1;
                subblock_coefficients(format, blk, s, d, second, &a0, &a1, &c0, &c1);
                __m256i u, prod;
                switch (format) {
                case CQUANT_Q5_0: case CQUANT_Q5_1: {
                    const int off = format == CQUANT_Q5_0 ? 2 : 4;
                    uint32_t qh; memcpy(&qh, blk + off, 4);
                    __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + off + 4));
                    u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), low);
                    u = _mm256_or_si256(u, _mm256_and_si256(bytes_from_bits(qh), fifth));
                    break;
                }
                case CQUANT_Q4_K: case CQUANT_Q5_K: {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(blk + (format == CQUANT_Q4_K ? 16 : 48) + 32 * (s / 2)));
                    u = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, low);
                    if (format == CQUANT_Q5_K) {
                        __m256i hb = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(blk + 16)), _mm_cvtsi32_si128(s)), one);
                        u = _mm256_or_si256(u, _mm256_slli_epi16(hb, 4));
                    }
                    break;
                }
                default: {  // Q6_K
                    const int h = s / 4, rr = s % 4;
                    __m256i l = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (rr % 2)));
                    __m256i hq = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                    l = _mm256_and_si256(rr < 2 ? l : _mm256_srli_epi16(l, 4), low);
                    hq = _mm256_and_si256(_mm256_srl_epi16(hq, _mm_cvtsi32_si128(2 * rr)), three);
                    u = _mm256_or_si256(l, _mm256_slli_epi16(hq, 4));
                }
                }
                prod = _mm256_maddubs_epi16(u, xv);
                if (format == CQUANT_Q6_K) prod = _mm256_sub_epi16(prod, _mm256_maddubs_epi16(thirtytwo, xv));
                const float s0 = a0 * dx[xb];
                const __m256 scale = format == CQUANT_Q6_K ? _mm256_set_m128(_mm_set1_ps(a1 * dx[xb]), _mm_set1_ps(s0)) : _mm256_set1_ps(s0);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones)), scale, acc);
                if (format != CQUANT_Q6_K) tail -= c0 * dx[xb] * (float)qsum[xb];  // c0 == c1 there
            }
        }
        y[r - r0] = hsum_ps(acc) + tail;
    }
}

// One copy of the loop per format, its switches resolved at compile time.
__attribute__((target("avx2,fma,f16c")))
static void matvec_subblocks_avx2(int format, const uint8_t *w, int cols, int r0, int r1, const int8_t *qx,
                                  const float *dx, const int *qsum, float *y) {
    switch (format) {
    case CQUANT_Q5_0: matvec_subblocks_avx2_of(CQUANT_Q5_0, w, cols, r0, r1, qx, dx, qsum, y); break;
    case CQUANT_Q5_1: matvec_subblocks_avx2_of(CQUANT_Q5_1, w, cols, r0, r1, qx, dx, qsum, y); break;
    case CQUANT_Q4_K: matvec_subblocks_avx2_of(CQUANT_Q4_K, w, cols, r0, r1, qx, dx, qsum, y); break;
    case CQUANT_Q5_K: matvec_subblocks_avx2_of(CQUANT_Q5_K, w, cols, r0, r1, qx, dx, qsum, y); break;
    default: matvec_subblocks_avx2_of(CQUANT_Q6_K, w, cols, r0, r1, qx, dx, qsum, y);
    }
}

int cquant_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#else
int cquant_has_avx2(void) { return 0; }
#endif

static inline int has_subblocks(int format) {
    return format == CQUANT_Q5_0 || format == CQUANT_Q5_1 || format == CQUANT_Q4_K || format == CQUANT_Q5_K || format == CQUANT_Q6_K;
}

void cquant_matvec(int format, const void *w, int cols, int row_begin, int row_end,
                   const signed char *qx, const float *scale, const int *qsum, const float *x, float *y, int path) {
    if (format == CQUANT_F16 || format == CQUANT_BF16) {
#ifdef CQUANT_X86
        if (path == 1) { matvec_half_avx2(format, (const uint8_t *)w, cols, row_begin, row_end, x, y); return; }
#endif
        matvec_half_portable(format, (const uint8_t *)w, cols, row_begin, row_end, x, y);
        return;
    }
    if (has_subblocks(format)) {
#ifdef CQUANT_X86
        if (path == 1) { matvec_subblocks_avx2(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, qsum, y); return; }
#endif
        matvec_subblocks_portable(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, y);
        return;
    }
#ifdef CQUANT_X86
    if (path == 1) { matvec_avx2(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, qsum, y); return; }
#endif
    matvec_portable(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, qsum, y);
}
