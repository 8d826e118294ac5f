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
    default: return 0;
    }
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

int cquant_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#else
int cquant_has_avx2(void) { return 0; }
#endif

void cquant_matvec(int format, const void *w, int cols, int row_begin, int row_end,
                   const signed char *qx, const float *scale, const int *qsum, float *y, int path) {
#ifdef CQUANT_X86
    if (path == 1) { matvec_avx2(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, qsum, y); return; }
#endif
    matvec_portable(format, (const uint8_t *)w, cols, row_begin, row_end, (const int8_t *)qx, scale, qsum, y);
}
