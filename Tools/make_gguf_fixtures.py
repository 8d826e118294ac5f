#!/usr/bin/env python3
"""GGUF fixtures for Tests/WeightIOTests, written by gguf-py (pip install gguf numpy safetensors).

Writes Tests/WeightIOTests/Fixtures/:
  quants.gguf                one tensor per dequantizable type (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1
                             Q4_K Q5_K Q6_K), shape [3, 512] ([2, 256] etc. for the block types: every
                             row several blocks), random bytes with finite F16 scales; and metadata of
                             every value type (one key per type, an array of strings, a nested array)
  quants-expected.safetensors gguf.quants.dequantize of each tensor (float32), the reference
Run from the repository root: python3 Tools/make_gguf_fixtures.py
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from safetensors.numpy import save_file

OUT = os.path.join("Tests", "WeightIOTests", "Fixtures")

# Byte offsets of the F16 scale fields inside one block: random bytes there could be NaN or Inf.
F16_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(rng, qtype, rows, cols):
    block, size = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        return rng.standard_normal((rows, cols)).astype(np.float32)
    if qtype == T.F16:
        return rng.standard_normal((rows, cols)).astype(np.float16)
    raw = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    if qtype == T.BF16:
        vals = rng.standard_normal(rows * cols).astype(np.float32)
        raw = (vals.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(rows * cols // block, size)
    for o in F16_FIELDS.get(qtype, []):
        scales = (rng.standard_normal(raw.shape[0]) * 0.05).astype(np.float16)
        raw[:, o:o + 2] = scales.view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, -1)


def main():
    rng = np.random.default_rng(20261129)
    w = gguf.GGUFWriter(os.path.join(OUT, "quants.gguf"), arch="fixture")
    w.add_uint8("test.uint8", 200)
    w.add_int8("test.int8", -100)
    w.add_uint16("test.uint16", 60000)
    w.add_int16("test.int16", -30000)
    w.add_uint32("test.uint32", 4000000000)
    w.add_int32("test.int32", -2000000000)
    w.add_float32("test.float32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ✓")
    w.add_uint64("test.uint64", 18000000000000000000)
    w.add_int64("test.int64", -9000000000000000000)
    w.add_float64("test.float64", 1e-300)
    w.add_array("test.strings", ["a", "Ġb", ""])
    w.add_array("test.nested", [[1, 2], [3]])
    expected = {}
    for qtype in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]:
        block = GGML_QUANT_SIZES[qtype][0]
        rows, cols = (3, 512) if block == 256 else (3, 96)
        data = random_blocks(rng, qtype, rows, cols)
        name = f"t.{qtype.name}"
        if qtype in (T.F32, T.F16):
            w.add_tensor(name, data)
            expected[name] = data.astype(np.float32)
        else:
            w.add_tensor(name, data, raw_dtype=qtype)
            expected[name] = gguf.quants.dequantize(data, qtype).astype(np.float32).reshape(rows, cols)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(expected, os.path.join(OUT, "quants-expected.safetensors"))
    # Read back with gguf-py's own reader: the file must be what it expects.
    r = gguf.GGUFReader(os.path.join(OUT, "quants.gguf"))
    for t in r.tensors:
        got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(expected[t.name].shape)
        assert np.array_equal(got.view(np.uint32), expected[t.name].view(np.uint32)), t.name
    print("wrote", len(expected), "tensors")


if __name__ == "__main__":
    main()
