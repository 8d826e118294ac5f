#ifndef CQUANT_H
#define CQUANT_H

// Matrix-vector products straight from ggml's block formats (the decoding path's weights as a GGUF
// file stores them): y[r] = sum_c W[r, c] x[c] for rows [row_begin, row_end) of a row-major matrix
// of `cols` columns (a multiple of 32), each row `cols / 32` blocks of 32:
//   Q8_0: f16 d, 32 int8 q            w = d * q
//   Q4_0: f16 d, 16 bytes of nibbles  w = d * (q - 8)
//   Q4_1: f16 d, f16 m, 16 bytes      w = d * q + m
// (byte j holds element j in its low nibble, element j + 16 in its high one). `xsum[b]` is the sum
// of x over block b (cquant_block_sums), shared by every row. `path`: 0 the portable C loop, 1 AVX2
// with FMA and F16C (the caller checks cquant_has_avx2 first).

enum { CQUANT_Q8_0 = 8, CQUANT_Q4_0 = 2, CQUANT_Q4_1 = 3 };

int cquant_has_avx2(void);
int cquant_block_bytes(int format);
void cquant_block_sums(const float *x, int cols, float *xsum);
void cquant_matvec(int format, const void *w, int cols, int row_begin, int row_end,
                   const float *x, const float *xsum, float *y, int path);
float cquant_f16_to_f32(unsigned short h);

#endif
