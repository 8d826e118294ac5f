#include "cquant.h"
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

void cquant_block_sums(const float *x, int cols, float *xsum) {
    for (int b = 0; b < cols / 32; b++) {
        float s = 0;
        for (int j = 0; j < 32; j++) s += x[32 * b + j];
        xsum[b] = s;
    }
}

static inline uint16_t load_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static void matvec_scalar(int format, const uint8_t *w, int cols, int r0, int r1, const float *x, const float *xsum, float *y) {
    const int blocks = cols / 32, bb = cquant_block_bytes(format);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        float acc = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            const float *xb = x + 32 * b;
            float d = cquant_f16_to_f32(load_u16(blk)), dot = 0;
            switch (format) {
            case CQUANT_Q8_0:
                for (int j = 0; j < 32; j++) dot += (float)(int8_t)blk[2 + j] * xb[j];
                acc += d * dot;
                break;
            case CQUANT_Q4_0:
                for (int j = 0; j < 16; j++) dot += (float)(blk[2 + j] & 15) * xb[j] + (float)(blk[2 + j] >> 4) * xb[j + 16];
                acc += d * (dot - 8 * xsum[b]);
                break;
            case CQUANT_Q4_1: {
                float m = cquant_f16_to_f32(load_u16(blk + 2));
                for (int j = 0; j < 16; j++) dot += (float)(blk[4 + j] & 15) * xb[j] + (float)(blk[4 + j] >> 4) * xb[j + 16];
                acc += d * dot + m * xsum[b];
                break;
            }
            }
        }
        y[r - r0] = acc;
    }
}

#ifdef CQUANT_X86
__attribute__((target("avx2,fma,f16c")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 bytes of nibbles -> dot with x[0..32): low nibbles against x[0..16), high against x[16..32).
__attribute__((target("avx2,fma,f16c")))
static inline __m256 nibble_dot(const uint8_t *q, const float *xb) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)q);
    __m128i lo = _mm_and_si128(bytes, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(15));
    __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), _mm256_loadu_ps(xb));
    a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), _mm256_loadu_ps(xb + 8), a);
    a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), _mm256_loadu_ps(xb + 16), a);
    a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), _mm256_loadu_ps(xb + 24), a);
    return a;
}

__attribute__((target("avx2,fma,f16c")))
static void matvec_avx2(int format, const uint8_t *w, int cols, int r0, int r1, const float *x, const float *xsum, float *y) {
    const int blocks = cols / 32, bb = cquant_block_bytes(format);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * blocks * bb;
        __m256 acc = _mm256_setzero_ps();
        float tail = 0;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            const float *xb = x + 32 * b;
            __m256 d = _mm256_set1_ps(_cvtsh_ss(load_u16(blk)));
            switch (format) {
            case CQUANT_Q8_0: {
                __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
                __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
                __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)), _mm256_loadu_ps(xb));
                a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8))), _mm256_loadu_ps(xb + 8), a);
                a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)), _mm256_loadu_ps(xb + 16), a);
                a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8))), _mm256_loadu_ps(xb + 24), a);
                acc = _mm256_fmadd_ps(d, a, acc);
                break;
            }
            case CQUANT_Q4_0:
                acc = _mm256_fmadd_ps(d, nibble_dot(blk + 2, xb), acc);
                tail -= 8 * _cvtsh_ss(load_u16(blk)) * xsum[b];
                break;
            case CQUANT_Q4_1:
                acc = _mm256_fmadd_ps(d, nibble_dot(blk + 4, xb), acc);
                tail += _cvtsh_ss(load_u16(blk + 2)) * xsum[b];
                break;
            }
        }
        y[r - r0] = hsum256(acc) + tail;
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
                   const float *x, const float *xsum, float *y, int path) {
#ifdef CQUANT_X86
    if (path == 1) { matvec_avx2(format, (const uint8_t *)w, cols, row_begin, row_end, x, xsum, y); return; }
#endif
    matvec_scalar(format, (const uint8_t *)w, cols, row_begin, row_end, x, xsum, y);
}
