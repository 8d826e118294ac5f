/// One metadata value of a GGUF file (`gguf_type` in ggml's gguf.h; the number is the file's tag).
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue]), uint64(UInt64), int64(Int64), float64(Double)

    /// The type's name as gguf-py spells it, for messages: "UINT32", "ARRAY".
    public var typeName: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }

    /// An integer of any width, if this is one: `.uint32(30).integer == 30`.
    public var integer: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// A number of any type: `.float32(1e-5).number == 1e-5` (as a Double).
    public var number: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return integer.map(Double.init)
        }
    }
}

/// Where one tensor lives in a GGUF file. `dims` are as the file writes them, innermost first
/// (ggml's `ne`); `shape` is the PyTorch order (outermost first): `dims` [576, 1536] is a
/// [1536, 576] matrix of 1536 rows.
public struct GGUFTensorInfo: Equatable, Sendable {
    public var name: String
    public var type: GGMLType
    public var dims: [Int]
    /// Byte range of the data, relative to the file start.
    public var byteRange: Range<Int>

    public var shape: [Int] { dims.reversed() }
    public var count: Int { dims.reduce(1, *) }
}

/// A GGUF file (ggml's model format, versions 2 and 3), memory-mapped and fully validated on open.
///
/// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count; the
/// metadata key/value pairs; the tensor infos (name, u32 n_dims, u64 dims, u32 type, u64 offset);
/// padding to `general.alignment` (default 32); the data section, where each tensor's offset is a
/// multiple of the alignment. Every violated rule is its own `WeightIOError`, naming the byte offset.
public final class GGUFFile: @unchecked Sendable {
    public static let defaultAlignment = 32
    /// Nested arrays deeper than this are refused (the format allows nesting; no model uses more than 1).
    public static let maxArrayDepth = 4
    /// Tensors have at most this many dimensions (`GGML_MAX_DIMS`).
    public static let maxDims = 4

    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Where the data section starts.
    public let dataStart: Int
    private let mapped: MappedFile?
    private let bytes: UnsafeRawBufferPointer
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public convenience init(path: String) throws {
        let m = try MappedFile(path: path)
        try self.init(bytes: m.bytes, file: path, owner: m)
    }

    /// Parses an image in memory that `owner` keeps alive (nil: the caller does).
    public init(bytes buf: UnsafeRawBufferPointer, file: String, owner: MappedFile? = nil) throws {
        path = file
        mapped = owner
        bytes = buf
        var r = GGUFCursor(bytes: buf, file: file)
        guard buf.count >= 4 else { throw WeightIOError.ggufTruncated(file: file, offset: 0, reading: "the magic \"GGUF\"") }
        let magic = Array(buf[0..<4])
        guard magic == Array("GGUF".utf8) else { throw WeightIOError.ggufBadMagic(file: file, found: magic) }
        r.offset = 4
        let v = try r.u32("the version")
        guard v == 2 || v == 3 else {
            throw WeightIOError.ggufUnsupportedVersion(file: file, version: v, bigEndian: v.byteSwapped == 2 || v.byteSwapped == 3)
        }
        version = v
        let tensorCount = try r.count("the tensor count", minimumBytesEach: 24)
        let kvCount = try r.count("the metadata count", minimumBytesEach: 12)

        var metadata: [(String, GGUFValue)] = []
        var metadataIndex: [String: Int] = [:]
        for _ in 0..<kvCount {
            let at = r.offset
            let key = try r.string("a metadata key")
            guard metadataIndex[key] == nil else { throw WeightIOError.ggufDuplicateKey(file: file, key: key, offset: at) }
            let tagAt = r.offset
            let tag = try r.u32("the type of \"\(key)\"")
            let value = try r.value(tag: tag, key: key, tagOffset: tagAt, depth: 0)
            metadataIndex[key] = metadata.count
            metadata.append((key, value))
        }
        self.metadata = metadata
        self.metadataIndex = metadataIndex

        var alignment = GGUFFile.defaultAlignment
        if let i = metadataIndex["general.alignment"] {
            guard case let .uint32(a) = metadata[i].1, a > 0, a & (a - 1) == 0 else {
                throw WeightIOError.ggufInvalidAlignment(file: file, value: "\(metadata[i].1)")
            }
            alignment = Int(a)
        }
        self.alignment = alignment

        var infos: [(name: String, type: GGMLType, dims: [Int], offset: UInt64, size: Int, at: Int)] = []
        var tensorIndex: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let at = r.offset
            let name = try r.string("a tensor name")
            guard tensorIndex[name] == nil else { throw WeightIOError.ggufDuplicateTensor(file: file, tensor: name, offset: at) }
            let nDims = try r.u32("the dimension count of \"\(name)\"")
            guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDims) else {
                throw WeightIOError.ggufInvalidTensorInfo(file: file, tensor: name, offset: at,
                                                          problem: "\(nDims) dimensions (1 to \(GGUFFile.maxDims) allowed)")
            }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nDims) {
                let n = try r.u64("dimension \(d) of \"\(name)\"")
                guard n >= 1, n <= UInt64(Int32.max) else {
                    throw WeightIOError.ggufInvalidTensorInfo(file: file, tensor: name, offset: at, problem: "dimension \(d) is \(n) (1 to 2147483647 allowed)")
                }
                let (p, o) = count.multipliedReportingOverflow(by: Int(n))
                guard !o, p <= Int(Int32.max) * 64 else {
                    throw WeightIOError.ggufInvalidTensorInfo(file: file, tensor: name, offset: at, problem: "element count overflows")
                }
                count = p
                dims.append(Int(n))
            }
            let typeAt = r.offset
            let rawType = try r.u32("the type of \"\(name)\"")
            guard let type = GGMLType(rawValue: rawType) else {
                throw WeightIOError.ggufUnknownTensorType(file: file, tensor: name, type: rawType, offset: typeAt)
            }
            guard dims[0] % type.blockSize == 0 else {
                throw WeightIOError.ggufInvalidTensorInfo(file: file, tensor: name, offset: at,
                    problem: "row length \(dims[0]) is not a multiple of \(type)'s block of \(type.blockSize)")
            }
            let offset = try r.u64("the data offset of \"\(name)\"")
            guard offset % UInt64(alignment) == 0 else {
                throw WeightIOError.ggufMisalignedTensor(file: file, tensor: name, offset: offset, alignment: alignment)
            }
            tensorIndex[name] = infos.count
            infos.append((name, type, dims, offset, count / type.blockSize * type.blockBytes, at))
        }

        // The data section starts at the next multiple of the alignment (the padding is not
        // checked for zeros: writers differ).
        let end = r.offset
        let start = (end + alignment - 1) / alignment * alignment
        // A file without tensors (a vocabulary-only file) may end right after its infos.
        guard start <= buf.count || infos.isEmpty else {
            throw WeightIOError.ggufTruncated(file: file, offset: buf.count, reading: "the padding before the data section at \(start)")
        }
        dataStart = min(start, buf.count)
        let dataSize = buf.count - dataStart
        var tensors: [GGUFTensorInfo] = []
        for t in infos {
            guard t.offset <= UInt64(dataSize), t.size <= dataSize - Int(t.offset) else {
                throw WeightIOError.ggufTensorOutOfBounds(file: file, tensor: t.name, offset: t.offset, bytes: t.size, dataSize: dataSize)
            }
            tensors.append(GGUFTensorInfo(name: t.name, type: t.type, dims: t.dims,
                                          byteRange: (dataStart + Int(t.offset))..<(dataStart + Int(t.offset) + t.size)))
        }
        // No two tensors share bytes.
        let byStart = tensors.indices.sorted { tensors[$0].byteRange.lowerBound < tensors[$1].byteRange.lowerBound }
        for (a, b) in zip(byStart, byStart.dropFirst()) where tensors[a].byteRange.upperBound > tensors[b].byteRange.lowerBound {
            throw WeightIOError.ggufOverlappingTensors(file: file, first: tensors[a].name, second: tensors[b].name)
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    // MARK: metadata

    public subscript(key: String) -> GGUFValue? { metadataIndex[key].map { metadata[$0].value } }

    /// The integer at `key` (any integer type), or a typed error naming the key.
    public func integer(_ key: String) throws -> Int {
        guard let v = self[key] else { throw WeightIOError.ggufMissingKey(file: path, key: key) }
        guard let i = v.integer else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "an integer", found: v.typeName) }
        return i
    }

    /// The number at `key` (any numeric type).
    public func number(_ key: String) throws -> Double {
        guard let v = self[key] else { throw WeightIOError.ggufMissingKey(file: path, key: key) }
        guard let d = v.number else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "a number", found: v.typeName) }
        return d
    }

    public func string(_ key: String) throws -> String {
        guard let v = self[key] else { throw WeightIOError.ggufMissingKey(file: path, key: key) }
        guard case let .string(s) = v else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "STRING", found: v.typeName) }
        return s
    }

    public func strings(_ key: String) throws -> [String] {
        guard let v = self[key] else { throw WeightIOError.ggufMissingKey(file: path, key: key) }
        guard case let .array(items) = v else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "ARRAY of STRING", found: v.typeName) }
        return try items.map {
            guard case let .string(s) = $0 else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "ARRAY of STRING", found: "ARRAY of \($0.typeName)") }
            return s
        }
    }

    public func integers(_ key: String) throws -> [Int] {
        guard let v = self[key] else { throw WeightIOError.ggufMissingKey(file: path, key: key) }
        guard case let .array(items) = v else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "ARRAY of integers", found: v.typeName) }
        return try items.map {
            guard let i = $0.integer else { throw WeightIOError.ggufWrongValueType(file: path, key: key, expected: "ARRAY of integers", found: "ARRAY of \($0.typeName)") }
            return i
        }
    }

    // MARK: tensors

    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let i = tensorIndex[name] else { throw WeightIOError.tensorNotFound(file: path, tensor: name) }
        return tensors[i]
    }

    /// The stored bytes of tensor `name`.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        return UnsafeRawBufferPointer(rebasing: bytes[t.byteRange])
    }

    /// Tensor `name` dequantized into `dst` (count must equal the element count), in row-major
    /// PyTorch order.
    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        let t = try info(name)
        precondition(dst.count == t.count, "tensor \(name) has \(t.count) elements, not \(dst.count)")
        guard t.type.isDequantizable else {
            throw WeightIOError.ggufUnsupportedTensorType(file: path, tensor: name, type: "\(t.type)",
                                                          supported: GGMLType.dequantizable.map { "\($0)" })
        }
        GGUFDequantize.dequantize(UnsafeRawBufferPointer(rebasing: bytes[t.byteRange]), type: t.type, into: dst)
    }

    public func floats(_ name: String) throws -> FloatTensor {
        let t = try info(name)
        var values = [Float](repeating: 0, count: t.count)
        try values.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return FloatTensor(shape: t.shape, values: values)
    }
}

/// Reads little-endian values off a GGUF image, every read bounds-checked.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var offset = 0

    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - offset else {
            throw WeightIOError.ggufTruncated(file: file, offset: offset, reading: what())
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { try take(1, what())[0] }
    mutating func u16(_ what: @autoclosure () -> String) throws -> UInt16 { UInt16(littleEndian: try take(2, what()).loadUnaligned(as: UInt16.self)) }
    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { UInt32(littleEndian: try take(4, what()).loadUnaligned(as: UInt32.self)) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { UInt64(littleEndian: try take(8, what()).loadUnaligned(as: UInt64.self)) }

    /// A u64 count of items that each take at least `minimumBytesEach` bytes: a count the rest of
    /// the file cannot hold is refused before anything is allocated for it.
    mutating func count(_ what: @autoclosure () -> String, minimumBytesEach: Int) throws -> Int {
        let at = offset
        let n = try u64(what())
        let room = UInt64(bytes.count - offset) / UInt64(max(1, minimumBytesEach))
        guard n <= room else {
            throw WeightIOError.ggufCountTooLarge(file: file, offset: at, what: what(), count: n, remaining: bytes.count - offset)
        }
        return Int(n)
    }

    /// A u64 length, then that many bytes of UTF-8.
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let at = offset
        let n = try count("the length of \(what())", minimumBytesEach: 1)
        let b = try take(n, what())
        guard let s = String(validating: b, as: UTF8.self) else { throw WeightIOError.ggufInvalidUTF8(file: file, offset: at, what: what()) }
        return s
    }

    mutating func value(tag: UInt32, key: String, tagOffset: Int, depth: Int) throws -> GGUFValue {
        let what = "the value of \"\(key)\""
        switch tag {
        case 0: return .uint8(try u8(what))
        case 1: return .int8(Int8(bitPattern: try u8(what)))
        case 2: return .uint16(try u16(what))
        case 3: return .int16(Int16(bitPattern: try u16(what)))
        case 4: return .uint32(try u32(what))
        case 5: return .int32(Int32(bitPattern: try u32(what)))
        case 6: return .float32(Float(bitPattern: try u32(what)))
        case 7:
            let at = offset
            let b = try u8(what)
            guard b <= 1 else { throw WeightIOError.ggufInvalidValue(file: file, key: key, offset: at, problem: "BOOL byte is \(b), not 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try string(what))
        case 9:
            guard depth < GGUFFile.maxArrayDepth else {
                throw WeightIOError.ggufInvalidValue(file: file, key: key, offset: tagOffset, problem: "arrays nested deeper than \(GGUFFile.maxArrayDepth)")
            }
            let itemTagAt = offset
            let itemTag = try u32("the item type of \"\(key)\"")
            guard itemTag <= 12 else { throw WeightIOError.ggufUnknownValueType(file: file, key: key, offset: itemTagAt, type: itemTag) }
            let minimum = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8][Int(itemTag)]
            let n = try count("the item count of \"\(key)\"", minimumBytesEach: minimum)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(tag: itemTag, key: key, tagOffset: itemTagAt, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint64(try u64(what))
        case 11: return .int64(Int64(bitPattern: try u64(what)))
        case 12: return .float64(Double(bitPattern: try u64(what)))
        default: throw WeightIOError.ggufUnknownValueType(file: file, key: key, offset: tagOffset, type: tag)
        }
    }
}
