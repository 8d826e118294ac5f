import CZlib

/// Decompresses a gzip file image (RFC 1952), every member of a multi-member file, checking each
/// member's CRC-32 and length (zlib does). Errors name the file and the byte offset.
public func gunzip(_ input: UnsafeRawBufferPointer, file: String) throws -> [UInt8] {
    // 15 + 16: a gzip wrapper around a 32 KiB-window deflate stream.
    try inflateAll(input, file: file, windowBits: 15 + 16, format: "gzip", members: true)
}

/// Decompresses one zlib stream (RFC 1950: a PNG image's IDAT data, say), checking its Adler-32.
public func zlibInflate(_ input: UnsafeRawBufferPointer, file: String) throws -> [UInt8] {
    try inflateAll(input, file: file, windowBits: 15, format: "zlib", members: false)
}

func inflateAll(_ input: UnsafeRawBufferPointer, file: String, windowBits: Int32, format: String, members: Bool) throws -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(input.count * 4)
    var strm = z_stream()
    guard inflateInit2_(&strm, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw WeightIOError.zipUnsupported(file: file, entry: "", problem: "zlib failed to initialise")
    }
    defer { inflateEnd(&strm) }
    var fed = 0
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let inChunk = min(input.count - fed, Int(UInt32.max))
        strm.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.advanced(by: fed).assumingMemoryBound(to: Bytef.self))
        strm.avail_in = uInt(inChunk)
        let status: Int32 = chunk.withUnsafeMutableBufferPointer { c in
            strm.next_out = c.baseAddress!
            strm.avail_out = uInt(c.count)
            return inflate(&strm, Z_NO_FLUSH)
        }
        let produced = chunk.count - Int(strm.avail_out)
        out.append(contentsOf: chunk[0..<produced])
        fed += inChunk - Int(strm.avail_in)
        switch status {
        case Z_STREAM_END:
            // Another member may follow (concatenated gzip files); trailing zero padding is allowed.
            if !members || fed >= input.count || input[fed...].allSatisfy({ $0 == 0 }) { return out }
            inflateReset(&strm)
        case Z_OK:
            if fed >= input.count && produced == 0 {
                throw WeightIOError.zipCorrupt(file: file, offset: fed, problem: "\(format) data ends before its end-of-stream marker (truncated file)")
            }
        case Z_BUF_ERROR:
            throw WeightIOError.zipCorrupt(file: file, offset: fed, problem: "\(format) data ends before its end-of-stream marker (truncated file)")
        default:
            let msg = strm.msg.map { String(cString: $0) } ?? "status \(status)"
            throw WeightIOError.zipCorrupt(file: file, offset: fed, problem: "\(format): \(msg)")
        }
    }
}
