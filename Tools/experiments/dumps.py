"""Reading `cllm4rec evaluate --dump` files (safetensors, F32 only) with numpy: shared by the
experiment scripts of this folder."""
import json, struct
import numpy as np


def read_safetensors(path):
    """Every tensor of a safetensors file as a float32 numpy array, by name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"])
    return out
