/// Writes tensors as a safetensors file: header keys sorted by name, data in that order, the header
/// padded with spaces to a multiple of 8 bytes (so F32 data is aligned when mapped), written
/// atomically (temporary file, then rename).
public enum SafeTensorsWriter {
    /// One tensor to write: F32 values in row-major order.
    public struct Entry {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not match \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// The header bytes (without the length prefix) for tensors in the given order.
    static func header(_ entries: [Entry], metadata: [String: String]?) -> [UInt8] {
        var objects: [(String, JSONValue)] = []
        if let metadata {
            objects.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for e in entries {
            let bytes = e.values.count * 4
            objects.append((e.name, .object([
                ("dtype", .string("F32")),
                ("shape", .array(e.shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(offset)), .number(String(offset + bytes))])),
            ])))
            offset += bytes
        }
        var h = Array(JSONValue.object(objects).serialized().utf8)
        while (h.count + 8) % 8 != 0 { h.append(0x20) }
        return h
    }

    public static func write(_ entries: [Entry], metadata: [String: String]? = nil, to path: String) throws {
        var names = Set<String>()
        for e in entries where !names.insert(e.name).inserted {
            throw WeightIOError.duplicateKey(file: path, key: e.name, offset: 0)
        }
        let sorted = entries.sorted { $0.name < $1.name }
        let h = header(sorted, metadata: metadata)
        try AtomicFile.write(path: path) { write in
            var n = UInt64(h.count).littleEndian
            try withUnsafeBytes(of: &n) { try write($0) }
            try h.withUnsafeBytes { try write($0) }
            for e in sorted where e.values.count > 0 {
                try write(UnsafeRawBufferPointer(e.values))
            }
        }
    }

    /// Convenience for owned arrays.
    public static func write(_ tensors: [(name: String, tensor: FloatTensor)], metadata: [String: String]? = nil,
                             to path: String) throws {
        try withBuffers(tensors.map(\.tensor.values)) { buffers in
            let entries = zip(tensors, buffers).map { Entry(name: $0.name, shape: $0.tensor.shape, values: $1) }
            try write(entries, metadata: metadata, to: path)
        }
    }
}

/// Calls `body` with stable buffer pointers to every array at once.
func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ k: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if k == arrays.count { return try body(acc) }
        return try arrays[k].withUnsafeBufferPointer { try go(k + 1, acc + [$0]) }
    }
    return try go(0, [])
}
