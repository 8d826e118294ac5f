#!/usr/bin/env python3
"""Small archives and checkpoints for Tests/WeightIOTests, written by Python's zipfile and PyTorch.

Writes Tests/WeightIOTests/Fixtures/:
  archive.zip        entries under a top folder: stored "pkg/a.txt", deflated "pkg/b.bin", empty "pkg/empty"
  zip64.zip          one stored entry whose central-directory sizes and offset live in a ZIP64 extra
                     field (0xFFFFFFFF placeholders), plus ZIP64 end records, written byte by byte
  badcrc.zip         archive.zip with one byte of b.bin's compressed data flipped
  dtypes_zip.pt      torch.save of tensors in F32/F16/BF16/F64/I64/U8/BOOL, two views sharing one storage
  dtypes_legacy.pt   the same in the legacy (pre-1.6) format
  noncontiguous.pt   a transposed tensor (must be refused)
  expected.json      the values every reader must produce
Run from the repository root: python3 Tools/make_weightio_fixtures.py
"""
import json, os, struct, zipfile, zlib

import torch

OUT = os.path.join("Tests", "WeightIOTests", "Fixtures")


def archive():
    b = bytes(range(256)) * 40 + b"tail"
    with zipfile.ZipFile(os.path.join(OUT, "archive.zip"), "w") as z:
        z.writestr(zipfile.ZipInfo("pkg/a.txt"), b"hello zip\n", compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo("pkg/b.bin"), b, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(zipfile.ZipInfo("pkg/empty"), b"", compress_type=zipfile.ZIP_STORED)
    data = bytearray(open(os.path.join(OUT, "archive.zip"), "rb").read())
    with zipfile.ZipFile(os.path.join(OUT, "archive.zip")) as z:
        info = z.getinfo("pkg/b.bin")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    open(os.path.join(OUT, "badcrc.zip"), "wb").write(bytes(data))
    return {"a": "hello zip\n", "b_len": len(b), "b_crc": zlib.crc32(b)}


def zip64():
    name, payload = b"big/data.bin", b"zip64 payload"
    crc = zlib.crc32(payload)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(payload), len(payload), len(name), 0)
    body = local + name + payload
    extra = struct.pack("<HHQQQ", 1, 24, len(payload), len(payload), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                          len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + name + extra
    cd_offset = len(body)
    eocd64_offset = cd_offset + len(central)
    eocd64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    open(os.path.join(OUT, "zip64.zip"), "wb").write(body + central + eocd64 + locator + eocd)
    with zipfile.ZipFile(os.path.join(OUT, "zip64.zip")) as z:  # Python must agree it is valid
        assert z.read("big/data.bin") == payload
    return payload.decode()


def checkpoints():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
    sd = {
        "f32": base,
        "f32_row1": base[1],                       # a view sharing base's storage at offset 4
        "f16": (base * 3).half(),
        "bf16": (base * 5).bfloat16(),
        "f64": base.double() / 3,
        "i64": torch.tensor([-3, 0, 7, 1 << 40]),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
    }
    torch.save(sd, os.path.join(OUT, "dtypes_zip.pt"))
    torch.save(sd, os.path.join(OUT, "dtypes_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save({"t": base.t()}, os.path.join(OUT, "noncontiguous.pt"))
    return {k: {"shape": list(v.shape), "values": v.float().flatten().tolist()} for k, v in sd.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"archive": archive(), "zip64": zip64(), "tensors": checkpoints()}
    json.dump(expected, open(os.path.join(OUT, "expected.json"), "w"), indent=1, sort_keys=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
