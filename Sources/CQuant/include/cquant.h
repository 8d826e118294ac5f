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
// (byte j holds element j in its low nibble, element j + 16 in its high one). y[r - row_begin] for
// rows [row_begin, row_end). `path`: 0 the portable C loop, 1 AVX2 (the caller checks
// cquant_has_avx2 first); both compute the same integer sums.

enum { CQUANT_Q8_0 = 8, CQUANT_Q4_0 = 2, CQUANT_Q4_1 = 3 };

int cquant_has_avx2(void);
int cquant_block_bytes(int format);
float cquant_f16_to_f32(unsigned short h);

// x [cols] -> qx [cols] int8, scale[cols / 32], qsum[cols / 32] (the sum of each block's qx).
void cquant_quantize_vector(const float *x, int cols, signed char *qx, float *scale, int *qsum);
void cquant_matvec(int format, const void *w, int cols, int row_begin, int row_end,
                   const signed char *qx, const float *scale, const int *qsum, float *y, int path);

// cquant_matvec over `threads` threads (the caller and threads - 1 helpers of a pool that persists
// between calls): each takes a contiguous share of the rows, ends aligned to `align` rows. Between
// products a helper spins for about `spin_us` microseconds before it sleeps, so the products of one
// decoding step (tens of microseconds apart) reach a running thread instead of a sleeping one, as
// llama.cpp's threads do. Not reentrant: one caller at a time (the pool is shared by the process,
// and a call from a second thread while one runs waits for it). threads <= 1 runs here alone.
void cquant_matvec_pool(int threads, int spin_us, int align, int format, const void *w, int cols, int rows,
                        const signed char *qx, const float *scale, const int *qsum, float *y, int path);

#endif
