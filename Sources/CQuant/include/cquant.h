#ifndef CQUANT_H
#define CQUANT_H

// Matrix-vector products straight from ggml's block formats (the decoding path's weights as a GGUF
// file stores them), as llama.cpp computes them: the vector is quantized once to 8 bits per block
// of 32 (cquant_quantize_vector: scale = max|x| / 127, q = x / scale rounded to nearest, ties to even), and each weight block
// meets it in an integer dot product. Row-major matrix of `cols` columns (a multiple of 32), each
// row `cols / 32` blocks:
//   Q8_0: f16 d, 32 int8 q            w = d * q
//   Q4_0: f16 d, 16 bytes of nibbles  w = d * (q - 8)
//   Q4_1: f16 d, f16 m, 16 bytes      w = d * q + m
//   Q5_0: f16 d, u32 qh, 16 bytes     w = d * (q - 16)   (bit j of qh: element j's fifth bit)
//   Q5_1: f16 d, f16 m, u32 qh, 16    w = d * q + m
// (byte j holds element j in its low nibble, element j + 16 in its high one), and the k-quants,
// blocks of 256 in 8 sub-blocks of 32 (each meets one block of the vector):
//   Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
//         w = d * sc_s * q - dmin * m_s   (sub-block 2i: low nibbles of bytes 32i.., 2i+1: high)
//   Q5_K: as Q4_K with 32 bytes qh after the scales (bit s of qh[i]: element i of sub-block s)
//   Q6_K: 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d   w = d * scale[e / 16] * (q - 32)
// and the 16-bit floats, F16 and BF16, which meet the vector x itself (not its 8-bit form) in
// float products (blocks of 32 here: 64 bytes).
// `cols` is a multiple of the format's block (cquant_block_elements). y[r - row_begin] for rows
// [row_begin, row_end). `path`: 0 the portable C loop, 1 AVX2 (the caller checks cquant_has_avx2
// first); both compute the same integer sums.

enum { CQUANT_F16 = 1, CQUANT_Q8_0 = 8, CQUANT_Q4_0 = 2, CQUANT_Q4_1 = 3, CQUANT_Q5_0 = 6, CQUANT_Q5_1 = 7,
       CQUANT_Q4_K = 12, CQUANT_Q5_K = 13, CQUANT_Q6_K = 14, CQUANT_BF16 = 30 };

int cquant_has_avx2(void);
int cquant_block_bytes(int format);
int cquant_block_elements(int format);
float cquant_f16_to_f32(unsigned short h);

// x [cols] -> qx [cols] int8, scale[cols / 32], qsum[cols / 32] (the sum of each block's qx).
void cquant_quantize_vector(const float *x, int cols, signed char *qx, float *scale, int *qsum);
// x [cols]: the vector itself, for the 16-bit formats (the others read qx, scale, qsum only).
void cquant_matvec(int format, const void *w, int cols, int row_begin, int row_end,
                   const signed char *qx, const float *scale, const int *qsum, const float *x, float *y, int path);

// cquant_matvec over `threads` threads (the caller and threads - 1 helpers of a pool that persists
// between calls): each takes a contiguous share of the rows, ends aligned to `align` rows. Between
// products a helper spins for about `spin_us` microseconds before it sleeps, so the products of one
// decoding step (tens of microseconds apart) reach a running thread instead of a sleeping one, as
// llama.cpp's threads do. Not reentrant: one caller at a time (the pool is shared by the process,
// and a call from a second thread while one runs waits for it). threads <= 1 runs here alone.
void cquant_matvec_pool(int threads, int spin_us, int align, int format, const void *w, int cols, int rows,
                        const signed char *qx, const float *scale, const int *qsum, const float *x, float *y, int path);

#endif
