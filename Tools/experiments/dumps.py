"""Reading `cllm4rec evaluate --dump` files (safetensors, F32 only) with numpy: shared by the
experiment scripts of this folder."""
import json, os, struct, sys
import numpy as np


def check_dump(path):
    """Exits with a message naming what is missing: the dump, or its folder's ids.json / splits.json."""
    folder = os.path.dirname(os.path.abspath(path))
    for f in (path, os.path.join(folder, "ids.json"), os.path.join(folder, "splits.json")):
        if not os.path.isfile(f):
            sys.exit(f"{path}: {f} not found (a dump of `cllm4rec evaluate RUN --split val|test --dump FILE`, "
                     "written in the recommender folder RUN, or beside copies of its ids.json and splits.json)")


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
