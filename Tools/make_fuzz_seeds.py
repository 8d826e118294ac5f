#!/usr/bin/env python3
"""Writes the committed seed corpora of the libFuzzer harnesses (Fuzz/Seeds/NAME/) from the test
fixtures and a few small hand-made files. Needs only the standard library.
Run from the repository root: python3 Tools/make_fuzz_seeds.py [RECOMMENDER_FOLDER for a corpora.bin]
"""
import gzip, io, json, os, pickle, shutil, struct, sys, zipfile, zlib

SEP = b"\x00\xff\x00"  # FuzzSupport's separator between the two files of one input
OUT = os.path.join("Fuzz", "Seeds")
W = os.path.join("Tests", "WeightIOTests", "Fixtures")
R = os.path.join("Tests", "RecDataTests", "Fixtures")


def put(name, fname, data):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    st = safetensors({"a": ("F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
                      "b": ("F16", [3], struct.pack("<3e", 1, 0.5, -4)),
                      "c": ("BF16", [2], b"\x80\x3f\x00\xc0"),
                      "d": ("I64", [1], struct.pack("<q", 7))}, {"format": "pt"})
    put("FuzzSafeTensors", "small.safetensors", st)
    put("FuzzSafeTensors", "empty.safetensors", safetensors({}))
    put("FuzzGGUF", "quants.gguf", read(W, "quants.gguf"))
    put("FuzzGGUF", "tokenizer.gguf", read("Tests", "TokenizerTests", "Fixtures", "smollm-style", "tokenizer.gguf"))
    full = json.loads(read("Tests", "TokenizerTests", "Fixtures", "smollm-style", "tokenizer.json"))
    keep = {t: i for t, i in full["model"]["vocab"].items() if i < 300}
    full["model"]["vocab"] = keep
    full["model"]["merges"] = [m for m in full["model"]["merges"] if "".join(m if isinstance(m, list) else m.split(" ")) in keep][:40]
    put("FuzzTokenizerJSON", "smollm-style.json", json.dumps(full).encode())
    for f in ["archive.zip", "zip64.zip", "badcrc.zip"]:
        put("FuzzZip", f, read(W, f))
    for f in ["dtypes_legacy.pt", "dtypes_zip.pt", "noncontiguous.pt"]:
        put("FuzzTorchCheckpoint", f, read(W, f))
    with zipfile.ZipFile(os.path.join(W, "dtypes_zip.pt")) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        put("FuzzPickle", "torch_data.pkl", z.read(pkl))
    put("FuzzPickle", "containers.pkl", pickle.dumps({"a": [1, 2.5, (3, "x")], "b": None, "c": True, "d": b"by"}, protocol=2))
    put("FuzzPickle", "protocol4.pkl", pickle.dumps([{"k": i, "s": "é" * i} for i in range(4)], protocol=4))
    put("FuzzGzip", "reviews.json.gz", read(R, "reviews_2014.json.gz"))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", filename="named.txt", mtime=1) as g:
        g.write(b"hello gzip " * 20)
    put("FuzzGzip", "named.gz", buf.getvalue())
    put("FuzzJSON", "expected.json", read(W, "expected.json"))
    put("FuzzJSON", "config.json", read("Models", "gpt2", "config.json"))
    put("FuzzJSON", "escapes.json", '{"s": "a\\u00e9\\ud83d\\ude00\\n\\"", "n": [-0.5e-3, 1E+2, 0], "o": {"t": true, "f": false, "z": null}}'.encode())
    vocab = {chr(c): i for i, c in enumerate(range(33, 127))}
    vocab.update({"Ġ": 94, "He": 95, "ll": 96, "Hell": 97, "<|endoftext|>": 98})
    put("FuzzTokenizerFiles", "small", json.dumps(vocab).encode() + SEP + b"#version: 0.2\nH e\nl l\nHe ll\n")
    put("FuzzRecBole", "tiny", read(R, "tiny.inter") + SEP + read(R, "tiny.item"))
    for f in ["bad_header.inter", "short_row.inter", "bad_rating.inter"]:
        put("FuzzRecBole", f, read(R, f))
    h = b"user_id:token\titem_id:token\trating:float\n"
    put("FuzzBenchmarkSplit", "small", h + b"1\t10\t5\n1\t11\t4\n2\t10\t3\n" + SEP + h + b"1\t12\t5\n" + SEP + h + b"1\t13\t5\n2\t12\t1\n")
    put("FuzzBenchmarkSplit", "duplicate", h + b"1\t10\t5\n" + SEP + h + b"1\t10\t5\n" + SEP + h)
    put("FuzzAmazon", "2014", read(R, "reviews_2014.json") + SEP + read(R, "meta_2014.json"))
    put("FuzzAmazon", "2018", read(R, "reviews_2014.json") + SEP + read(R, "meta_2018.json"))
    put("FuzzAmazon", "unterminated", read(R, "reviews_unterminated.json"))
    put("FuzzCSV", "interactions.csv", b"user_id,item_id,rating,timestamp,review\n" + read(R, "interactions.csv").split(b"\n", 1)[1])
    put("FuzzCSV", "open_quote.csv", b"user_id,item_id,rating,timestamp,review\n" + read(R, "open_quote.csv").split(b"\n", 1)[1])
    for k, line in enumerate(read(R, "meta_2014.json").splitlines()):
        put("FuzzPythonLiteral", f"meta_{k}.txt", line)
    if len(sys.argv) > 1:
        corpora = read(sys.argv[1], "corpora.bin")
        put("FuzzCorpora", "corpora.bin", corpora[:-4])  # the harness appends the CRC-32
    for name in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, name))
        print(f"{name}: {len(files)} seeds, {sum(os.path.getsize(os.path.join(OUT, name, f)) for f in files)} bytes")


if __name__ == "__main__":
    main()
