import CZlib

/// A read-only zip archive: central directory (with ZIP64 records), stored and deflated entries,
/// CRC-32 checked on every read.
///
/// PyTorch's `torch.save` writes ZIP64 archives of stored entries aligned to 64 bytes, named
/// `<folder>/data.pkl`, `<folder>/data/0`, ...; `entry(named:)` finds names under any folder.
public final class ZipArchive: @unchecked Sendable {
    /// One file in the archive, as the central directory describes it.
    public struct Entry: Sendable {
        public var name: String
        public var method: UInt16
        public var flags: UInt16
        public var crc32: UInt32
        public var compressedSize: Int
        public var uncompressedSize: Int
        public var localHeaderOffset: Int
    }

    public let path: String
    public let entries: [Entry]
    private let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?
    private let byName: [String: Int]

    public convenience init(path: String) throws {
        let m = try MappedFile(path: path)
        try self.init(bytes: m.bytes, file: path, owner: m)
    }

    /// Reads an archive image; `owner` keeps the memory of `bytes` alive.
    public init(bytes: UnsafeRawBufferPointer, file: String, owner: AnyObject?) throws {
        self.path = file
        self.bytes = bytes
        self.owner = owner
        entries = try ZipArchive.readCentralDirectory(bytes, file: file)
        var byName: [String: Int] = [:]
        for (k, e) in entries.enumerated() {
            if byName[e.name] != nil {
                throw WeightIOError.zipCorrupt(file: file, offset: e.localHeaderOffset, problem: "entry \"\(e.name)\" appears twice")
            }
            byName[e.name] = k
        }
        self.byName = byName
    }

    public func entry(named name: String) -> Entry? { byName[name].map { entries[$0] } }

    // MARK: central directory

    private static func u16(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int { Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self))) }
    private static func u32(_ b: UnsafeRawBufferPointer, _ o: Int) -> Int { Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
    private static func u64(_ b: UnsafeRawBufferPointer, _ o: Int, file: String) throws -> Int {
        let v = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self))
        guard v <= UInt64(Int.max / 2) else { throw WeightIOError.zipCorrupt(file: file, offset: o, problem: "64-bit field \(v) out of range") }
        return Int(v)
    }

    static func readCentralDirectory(_ b: UnsafeRawBufferPointer, file: String) throws -> [Entry] {
        let n = b.count
        // The end record is 22 bytes plus a comment of at most 65535 bytes; search backwards and take
        // the first candidate whose comment length reaches exactly the end of the file.
        var eocd = -1
        var p = n - 22
        while p >= 0 && p >= n - 22 - 65535 {
            if u32(b, p) == 0x0605_4B50 && p + 22 + u16(b, p + 20) == n { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw WeightIOError.zipNoEndOfCentralDirectory(file: file) }
        var count = u16(b, eocd + 10)
        var cdSize = u32(b, eocd + 12)
        var cdOffset = u32(b, eocd + 16)
        if u16(b, eocd + 4) != 0 || u16(b, eocd + 6) != 0 {
            throw WeightIOError.zipUnsupported(file: file, entry: "", problem: "multi-disk archives are not supported")
        }
        // ZIP64: a locator sits right before the end record and points at the ZIP64 end record.
        if eocd >= 20 && u32(b, eocd - 20) == 0x0706_4B50 {
            let loc = eocd - 20
            let recOffset = try u64(b, loc + 8, file: file)
            guard recOffset <= n - 56, u32(b, recOffset) == 0x0606_4B50 else {
                throw WeightIOError.zipCorrupt(file: file, offset: loc, problem: "ZIP64 locator points to \(recOffset), where no ZIP64 end record is")
            }
            count = try u64(b, recOffset + 32, file: file)
            cdSize = try u64(b, recOffset + 40, file: file)
            cdOffset = try u64(b, recOffset + 48, file: file)
        } else if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw WeightIOError.zipCorrupt(file: file, offset: eocd, problem: "end record needs ZIP64 values but no ZIP64 locator precedes it")
        }
        guard cdOffset <= n, cdSize <= n - cdOffset else {
            throw WeightIOError.zipCorrupt(file: file, offset: eocd, problem: "central directory [\(cdOffset), +\(cdSize)) lies outside the \(n)-byte file")
        }
        guard count <= cdSize / 46 else {
            throw WeightIOError.zipCorrupt(file: file, offset: eocd, problem: "\(count) entries cannot fit a \(cdSize)-byte central directory")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var q = cdOffset
        let cdEnd = cdOffset + cdSize
        for _ in 0..<count {
            guard q + 46 <= cdEnd, u32(b, q) == 0x0201_4B50 else {
                throw WeightIOError.zipCorrupt(file: file, offset: q, problem: "expected a central directory header")
            }
            let flags = UInt16(u16(b, q + 8)), method = UInt16(u16(b, q + 10))
            let crc = UInt32(u32(b, q + 16))
            var comp = u32(b, q + 20), uncomp = u32(b, q + 24)
            let nameLen = u16(b, q + 28), extraLen = u16(b, q + 30), commentLen = u16(b, q + 32)
            var local = u32(b, q + 42)
            let nameStart = q + 46
            guard nameStart + nameLen + extraLen + commentLen <= cdEnd else {
                throw WeightIOError.zipCorrupt(file: file, offset: q, problem: "central directory entry runs past the directory")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameStart..<(nameStart + nameLen)]), as: UTF8.self)
            // ZIP64 extended information: only the fields saturated in the fixed header are present.
            var x = nameStart + nameLen
            let xEnd = x + extraLen
            while x + 4 <= xEnd {
                let id = u16(b, x), size = u16(b, x + 2)
                guard x + 4 + size <= xEnd else {
                    throw WeightIOError.zipCorrupt(file: file, offset: x, problem: "extra field of \"\(name)\" runs past its entry")
                }
                if id == 0x0001 {
                    var f = x + 4
                    func next() throws -> Int {
                        guard f + 8 <= x + 4 + size else {
                            throw WeightIOError.zipCorrupt(file: file, offset: f, problem: "ZIP64 extra field of \"\(name)\" is too short")
                        }
                        defer { f += 8 }
                        return try u64(b, f, file: file)
                    }
                    if uncomp == 0xFFFF_FFFF { uncomp = try next() }
                    if comp == 0xFFFF_FFFF { comp = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                x += 4 + size
            }
            entries.append(Entry(name: name, method: method, flags: flags, crc32: crc, compressedSize: comp,
                                 uncompressedSize: uncomp, localHeaderOffset: local))
            q = xEnd + commentLen
        }
        return entries
    }

    // MARK: entry data

    /// The entry's bytes in the archive, after its local header (still compressed if deflated).
    private func payload(_ e: Entry) throws -> UnsafeRawBufferPointer {
        let b = bytes, o = e.localHeaderOffset
        guard o <= b.count - 30, ZipArchive.u32(b, o) == 0x0403_4B50 else {
            throw WeightIOError.zipCorrupt(file: path, offset: o, problem: "no local header for \"\(e.name)\"")
        }
        let start = o + 30 + ZipArchive.u16(b, o + 26) + ZipArchive.u16(b, o + 28)
        guard start <= b.count, e.compressedSize <= b.count - start else {
            throw WeightIOError.zipCorrupt(file: path, offset: o, problem: "data of \"\(e.name)\" runs past the end of the file")
        }
        return UnsafeRawBufferPointer(rebasing: b[start..<(start + e.compressedSize)])
    }

    /// Calls `body` with the entry's uncompressed, CRC-checked bytes (no copy for stored entries).
    public func withData<R>(_ e: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if e.flags & 1 != 0 { throw WeightIOError.zipUnsupported(file: path, entry: e.name, problem: "encrypted entries are not supported") }
        let raw = try payload(e)
        switch e.method {
        case 0:
            guard e.compressedSize == e.uncompressedSize else {
                throw WeightIOError.zipCorrupt(file: path, offset: e.localHeaderOffset, problem: "stored entry \"\(e.name)\" has different compressed and uncompressed sizes")
            }
            try checkCRC(e, raw)
            return try body(raw)
        case 8:
            let out = try inflate(e, raw)
            return try out.withUnsafeBytes { buf in
                try checkCRC(e, buf)
                return try body(buf)
            }
        default:
            throw WeightIOError.zipUnsupported(file: path, entry: e.name, problem: "compression method \(e.method) is not supported (only stored and deflate)")
        }
    }

    /// A copy of the entry's uncompressed bytes.
    public func data(_ e: Entry) throws -> [UInt8] { try withData(e) { Array($0) } }

    private func checkCRC(_ e: Entry, _ buf: UnsafeRawBufferPointer) throws {
        let c = crc32Of(buf)
        guard c == e.crc32 else { throw WeightIOError.zipCRCMismatch(file: path, entry: e.name, expected: e.crc32, found: c) }
    }

    private func inflate(_ e: Entry, _ raw: UnsafeRawBufferPointer) throws -> [UInt8] {
        // Deflate cannot expand more than ~1032:1; a larger claim is a corrupt or hostile header.
        guard e.uncompressedSize <= e.compressedSize * 1032 + 64 else {
            throw WeightIOError.zipCorrupt(file: path, offset: e.localHeaderOffset, problem: "\"\(e.name)\" claims \(e.uncompressedSize) bytes from \(e.compressedSize) compressed")
        }
        var out = [UInt8](repeating: 0, count: e.uncompressedSize)
        var strm = z_stream()
        guard inflateInit2_(&strm, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw WeightIOError.zipUnsupported(file: path, entry: e.name, problem: "zlib failed to initialise")
        }
        defer { inflateEnd(&strm) }
        var status: Int32 = Z_OK
        out.withUnsafeMutableBytes { dst in
            var fed = 0
            var produced = 0
            repeat {
                let inChunk = min(raw.count - fed, Int(UInt32.max))
                let outChunk = min(dst.count - produced, Int(UInt32.max))
                strm.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.advanced(by: fed).assumingMemoryBound(to: Bytef.self))
                strm.avail_in = uInt(inChunk)
                // zlib wants a non-null output pointer even for an empty entry.
                var scratch: UInt8 = 0
                strm.next_out = outChunk > 0 ? dst.baseAddress!.advanced(by: produced).assumingMemoryBound(to: Bytef.self) : withUnsafeMutablePointer(to: &scratch) { $0 }
                strm.avail_out = uInt(outChunk)
                status = CZlib.inflate(&strm, Z_NO_FLUSH)
                fed += inChunk - Int(strm.avail_in)
                produced += outChunk - Int(strm.avail_out)
                if status == Z_BUF_ERROR && outChunk == 0 { status = Z_DATA_ERROR; break }
            } while status == Z_OK
            if status == Z_STREAM_END && produced != dst.count { status = Z_DATA_ERROR }
        }
        guard status == Z_STREAM_END else {
            throw WeightIOError.zipCorrupt(file: path, offset: e.localHeaderOffset, problem: "deflate data of \"\(e.name)\" is invalid (zlib status \(status)) or its size differs from the \(e.uncompressedSize) bytes declared")
        }
        return out
    }
}

/// CRC-32 (the zip/zlib polynomial) of a buffer of any length.
public func crc32Of(_ buf: UnsafeRawBufferPointer) -> UInt32 {
    var c: uLong = 0
    var o = 0
    while o < buf.count {
        let k = min(buf.count - o, 1 << 30)
        c = crc32(c, buf.baseAddress!.advanced(by: o).assumingMemoryBound(to: Bytef.self), uInt(k))
        o += k
    }
    return UInt32(c)
}
