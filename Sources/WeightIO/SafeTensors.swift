/// Where one tensor lives in a safetensors file.
public struct SafeTensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range inside the data section (after the 8-byte length and the header).
    public var dataOffsets: Range<Int>
}

/// A safetensors file, memory-mapped and fully validated on open.
///
/// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data section.
/// Validation follows huggingface/safetensors `tensor.rs`; each rule is its own `WeightIOError`.
public final class SafeTensorsFile: @unchecked Sendable {
    public static let maxHeaderSize = 100_000_000

    public let path: String
    public let tensors: [SafeTensorInfo]
    public let metadata: [String: String]?
    private let mapped: MappedFile
    private let dataStart: Int
    private let index: [String: Int]

    public init(path: String) throws {
        self.path = path
        mapped = try MappedFile(path: path)
        (tensors, metadata, dataStart) = try SafeTensorsFile.validate(mapped.bytes, file: path)
        var index: [String: Int] = [:]
        for (k, t) in tensors.enumerated() { index[t.name] = k }
        self.index = index
    }

    /// Checks a whole file image and returns its tensors (header order), metadata and data offset.
    public static func validate(_ buf: UnsafeRawBufferPointer, file: String) throws
        -> (tensors: [SafeTensorInfo], metadata: [String: String]?, dataStart: Int)
    {
        guard buf.count >= 8 else { throw WeightIOError.headerTooSmall(file: file, size: buf.count) }
        let n = UInt64(littleEndian: buf.loadUnaligned(as: UInt64.self))
        guard n <= UInt64(maxHeaderSize) else { throw WeightIOError.headerTooLarge(file: file, length: n) }
        let headerEnd = 8 + Int(n)
        guard headerEnd <= buf.count else {
            throw WeightIOError.invalidHeaderLength(file: file, length: n, fileSize: buf.count)
        }
        let header = UnsafeRawBufferPointer(rebasing: buf[8..<headerEnd])
        if let bad = firstInvalidUTF8(header) { throw WeightIOError.invalidHeaderUTF8(file: file, offset: 8 + bad) }
        guard header.first == UInt8(ascii: "{") else {
            throw WeightIOError.invalidHeaderStart(file: file, found: header.first ?? 0)
        }
        let json: JSONValue
        do { json = try JSONParser.parse(header) } catch {
            if let key = error.duplicateKey {
                throw WeightIOError.duplicateKey(file: file, key: key, offset: 8 + error.offset)
            }
            throw WeightIOError.invalidHeaderJSON(file: file, offset: 8 + error.offset, problem: error.problem)
        }
        guard case let .object(entries) = json else { fatalError("starts with '{'") }
        var metadata: [String: String]? = nil
        var tensors: [SafeTensorInfo] = []
        for (name, value) in entries {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, file: file)
            } else {
                tensors.append(try parseInfo(name: name, value, file: file))
            }
        }
        // Contiguity: sorted by start, each tensor begins where the previous ended.
        var end = 0
        for t in tensors.sorted(by: { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }) {
            guard t.dataOffsets.lowerBound == end else {
                throw WeightIOError.invalidOffset(file: file, tensor: t.name, expectedStart: end, found: t.dataOffsets.lowerBound)
            }
            var count = 1
            for d in t.shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                if o { throw WeightIOError.validationOverflow(file: file, tensor: t.name) }
                count = p
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: t.dtype.size)
            if o { throw WeightIOError.validationOverflow(file: file, tensor: t.name) }
            guard bytes == t.dataOffsets.count else {
                throw WeightIOError.tensorSizeMismatch(file: file, tensor: t.name, shape: t.shape,
                                                       dtype: t.dtype.rawValue, byteCount: t.dataOffsets.count)
            }
            end = t.dataOffsets.upperBound
        }
        guard end == buf.count - headerEnd else {
            throw WeightIOError.metadataIncompleteBuffer(file: file, dataEnd: end, bufferSize: buf.count - headerEnd)
        }
        return (tensors, metadata, headerEnd)
    }

    private static func parseMetadata(_ v: JSONValue, file: String) throws -> [String: String]? {
        switch v {
        case .null: return nil
        case let .object(entries):
            var m: [String: String] = [:]
            for (k, e) in entries {
                guard case let .string(s) = e else {
                    throw WeightIOError.invalidMetadata(file: file, problem: "value of \"\(k)\" must be a string")
                }
                m[k] = s
            }
            return m
        default: throw WeightIOError.invalidMetadata(file: file, problem: "must be an object of strings")
        }
    }

    private static func parseInfo(name: String, _ v: JSONValue, file: String) throws -> SafeTensorInfo {
        func bad(_ p: String) -> WeightIOError { .invalidTensorInfo(file: file, tensor: name, problem: p) }
        func integer(_ v: JSONValue, _ what: String) throws -> Int {
            guard case let .number(s) = v, let x = Int(s), x >= 0 else {
                throw bad("\(what) must be a non-negative integer")
            }
            return x
        }
        guard case .object = v else { throw bad("entry must be an object") }
        guard case let .string(d)? = v["dtype"] else { throw bad("missing string field \"dtype\"") }
        guard let dtype = DType(rawValue: d) else { throw WeightIOError.unknownDType(file: file, tensor: name, dtype: d) }
        guard case let .array(dims)? = v["shape"] else { throw bad("missing array field \"shape\"") }
        let shape = try dims.map { try integer($0, "shape entries") }
        guard case let .array(offs)? = v["data_offsets"], offs.count == 2 else {
            throw bad("missing field \"data_offsets\" of two integers")
        }
        let s = try integer(offs[0], "data_offsets"), e = try integer(offs[1], "data_offsets")
        guard s <= e else { throw bad("data_offsets [\(s), \(e)] end before they start") }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: s..<e)
    }

    public func info(_ name: String) throws -> SafeTensorInfo {
        guard let k = index[name] else { throw WeightIOError.tensorNotFound(file: path, tensor: name) }
        return tensors[k]
    }

    /// The tensor's bytes inside the map (no copy).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        return UnsafeRawBufferPointer(rebasing: mapped.bytes[(dataStart + t.dataOffsets.lowerBound)..<(dataStart + t.dataOffsets.upperBound)])
    }

    /// Calls `body` with the tensor as Floats: the mapped bytes themselves for aligned F32 data,
    /// otherwise a converted copy.
    public func withFloats<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        let t = try info(name)
        let raw = try rawBytes(name)
        let count = t.dataOffsets.count / t.dtype.size
        if t.dtype == .F32, let base = raw.baseAddress, Int(bitPattern: base) % 4 == 0 {
            return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count))
        }
        return try floats(name).values.withUnsafeBufferPointer { try body($0) }
    }

    /// The tensor decoded to Float.
    public func floats(_ name: String) throws -> FloatTensor {
        let t = try info(name)
        guard t.dtype.isConvertibleToFloat else {
            throw WeightIOError.invalidTensorInfo(file: path, tensor: name, problem: "dtype \(t.dtype.rawValue) cannot be converted to F32")
        }
        let raw = try rawBytes(name)
        let count = t.dataOffsets.count / t.dtype.size
        let values = [Float](unsafeUninitializedCapacity: count) { dst, n in
            convertToFloat(raw, dtype: t.dtype, into: dst)
            n = count
        }
        return FloatTensor(shape: t.shape, values: values)
    }
}

/// Index of the first byte that breaks UTF-8, or nil when the buffer is valid.
func firstInvalidUTF8(_ buf: UnsafeRawBufferPointer) -> Int? {
    var i = 0
    let n = buf.count
    while i < n {
        let b = buf[i]
        if b < 0x80 { i += 1; continue }
        let len: Int, minCode: UInt32
        var code: UInt32
        switch b {
        case 0xC2...0xDF: len = 2; code = UInt32(b & 0x1F); minCode = 0x80
        case 0xE0...0xEF: len = 3; code = UInt32(b & 0x0F); minCode = 0x800
        case 0xF0...0xF4: len = 4; code = UInt32(b & 0x07); minCode = 0x10000
        default: return i
        }
        guard i + len <= n else { return i }
        for k in 1..<len {
            let c = buf[i + k]
            guard c & 0xC0 == 0x80 else { return i }
            code = code << 6 | UInt32(c & 0x3F)
        }
        if code < minCode || code > 0x10FFFF || (0xD800...0xDFFF).contains(code) { return i }
        i += len
    }
    return nil
}
