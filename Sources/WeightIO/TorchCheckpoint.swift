/// A `torch.save(state_dict)` file, in the zip format (PyTorch >= 1.6) or the legacy format.
///
/// Zip: `<folder>/data.pkl` (the pickled dict; tensors refer to storages by persistent id
/// `('storage', torch.FloatStorage, key, location, numel)`), `<folder>/data/<key>` (raw storage bytes),
/// `<folder>/byteorder` ("little" or "big"; absent means little).
///
/// Legacy: five consecutive pickles (magic number 0x1950a86a20f9469cfc6c, protocol 1001, system
/// info, the dict, the list of storage keys), then for each key an int64 element count and the raw
/// little-endian storage.
public final class TorchCheckpoint: TensorSource {
    public static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    public let path: String
    public let formatName: String
    public let tensorHeaders: [TensorHeader]
    private let tensors: [String: TorchTensorRef]
    /// Storage bytes by key.
    private let storages: [String: UnsafeRawBufferPointer]
    private let bigEndian: Bool
    private let owner: AnyObject

    public convenience init(path: String) throws {
        guard let source = try openWeights(path: path) as? TorchCheckpoint else {
            throw WeightIOError.torchUnsupported(file: path, problem: "not a PyTorch checkpoint")
        }
        self.init(copying: source)
    }

    private init(copying o: TorchCheckpoint) {
        path = o.path; formatName = o.formatName; tensorHeaders = o.tensorHeaders; tensors = o.tensors
        storages = o.storages; bigEndian = o.bigEndian; owner = o.owner
    }

    init(zip: ZipArchive) throws {
        let file = zip.path
        path = file
        formatName = "pytorch-zip"
        owner = zip
        let pickles = zip.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pkl = pickles.first else {
            throw WeightIOError.torchUnsupported(file: file, problem: pickles.isEmpty
                ? "zip archive has no data.pkl: not a torch.save checkpoint"
                : "zip archive has \(pickles.count) data.pkl entries")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let bo = zip.entry(named: prefix + "byteorder") {
            let s = String(decoding: try zip.data(bo), as: UTF8.self)
            guard s == "little" || s == "big" else {
                throw WeightIOError.torchUnsupported(file: file, problem: "byteorder entry says \"\(s)\", expected little or big")
            }
            bigEndian = s == "big"
        } else {
            bigEndian = false
        }
        var refs: [String: TorchStorageRef] = [:]
        let root = try zip.withData(pkl) { buf -> PickleValue in
            var u = RestrictedUnpickler(bytes: buf, file: file + ":" + pkl.name) { pid, at in
                let s = try TorchCheckpoint.storageRef(pid, file: file, offset: at, legacy: false)
                refs[s.key] = s
                return .storage(s)
            }
            return try u.load()
        }
        var storages: [String: UnsafeRawBufferPointer] = [:]
        for (key, ref) in refs {
            guard let e = zip.entry(named: prefix + "data/" + key) else {
                throw WeightIOError.zipEntryMissing(file: file, entry: prefix + "data/" + key)
            }
            guard e.method == 0 else {
                throw WeightIOError.zipUnsupported(file: file, entry: e.name, problem: "storage entries must be stored uncompressed, as torch.save writes them")
            }
            let (bytes, overflow) = ref.numel.multipliedReportingOverflow(by: ref.dtype.size)
            guard !overflow, e.uncompressedSize == bytes else {
                throw WeightIOError.torchUnsupported(file: file, problem: "storage \(e.name) has \(e.uncompressedSize) bytes, expected \(ref.numel) x \(ref.dtype.size)")
            }
            storages[key] = try zip.withData(e) { $0 }  // stored: a view into the mapped file, kept alive by `owner`
        }
        self.storages = storages
        (tensorHeaders, tensors) = try TorchCheckpoint.stateDict(root, file: file)
        try validateViews()
    }

    init(legacy m: MappedFile) throws {
        let file = m.path
        path = file
        formatName = "pytorch-legacy"
        owner = m
        bigEndian = false  // legacy storages are always written little-endian
        var u = RestrictedUnpickler(bytes: m.bytes, file: file) { _, at in
            throw WeightIOError.pickleMalformed(file: file, offset: at, problem: "persistent id outside the main pickle")
        }
        guard case let .bigInt(magic) = try u.load(), magic == TorchCheckpoint.legacyMagic else {
            throw WeightIOError.torchUnsupported(file: file, problem: "not a PyTorch checkpoint (legacy magic number missing at offset 0)")
        }
        var pos = u.position
        u = RestrictedUnpickler(bytes: m.bytes, start: pos, file: file) { _, at in
            throw WeightIOError.pickleMalformed(file: file, offset: at, problem: "unexpected persistent id")
        }
        guard case let .int(proto) = try u.load(), proto == 1001 else {
            throw WeightIOError.torchUnsupported(file: file, problem: "legacy protocol version at offset \(pos) is not 1001")
        }
        _ = try u.load()  // system info: sizes and endianness of the saving machine, not needed
        pos = u.position
        var refs: [String: TorchStorageRef] = [:]
        var views: [String: (root: String, offset: Int, count: Int)] = [:]
        u = RestrictedUnpickler(bytes: m.bytes, start: pos, file: file) { pid, at in
            var s = try TorchCheckpoint.storageRef(pid, file: file, offset: at, legacy: true)
            if case let .tuple(t) = pid, t.count == 6, case let .tuple(view) = t[5] {
                // (view_key, offset, size): a slice of the root storage, from PyTorch < 1.0.
                guard view.count == 3, let vk = view[0].stringValue, let vo = view[1].intValue, let vn = view[2].intValue, vo >= 0, vn >= 0 else {
                    throw WeightIOError.pickleMalformed(file: file, offset: at, problem: "invalid storage view metadata")
                }
                views[vk] = (s.key, vo, vn)
                refs[s.key] = s
                s = TorchStorageRef(key: vk, dtype: s.dtype, numel: vn)
            } else {
                if let old = refs[s.key], old.dtype != s.dtype {
                    throw WeightIOError.pickleMalformed(file: file, offset: at, problem: "storage \(s.key) used with two dtypes")
                }
                refs[s.key] = s
            }
            return .storage(s)
        }
        let root = try u.load()
        pos = u.position
        u = RestrictedUnpickler(bytes: m.bytes, start: pos, file: file) { _, at in
            throw WeightIOError.pickleMalformed(file: file, offset: at, problem: "unexpected persistent id")
        }
        guard case let .list(keyList) = try u.load() else {
            throw WeightIOError.torchUnsupported(file: file, problem: "storage key list missing at offset \(pos)")
        }
        pos = u.position
        var storages: [String: UnsafeRawBufferPointer] = [:]
        let b = m.bytes
        for k in keyList.items {
            guard let key = k.stringValue, let ref = refs[key] else {
                throw WeightIOError.torchUnsupported(file: file, problem: "storage key \(k) at offset \(pos) is not referenced by any tensor")
            }
            guard pos + 8 <= b.count else { throw WeightIOError.pickleTruncated(file: file, offset: b.count) }
            let n = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
            guard n == UInt64(ref.numel) else {
                throw WeightIOError.torchUnsupported(file: file, problem: "storage \(key) at offset \(pos) has \(n) elements, the pickle says \(ref.numel)")
            }
            pos += 8
            let (bytes, overflow) = ref.numel.multipliedReportingOverflow(by: ref.dtype.size)
            guard !overflow, bytes <= b.count - pos else { throw WeightIOError.pickleTruncated(file: file, offset: b.count) }
            storages[key] = UnsafeRawBufferPointer(rebasing: b[pos..<(pos + bytes)])
            pos += bytes
        }
        guard pos == b.count else {
            throw WeightIOError.torchUnsupported(file: file, problem: "\(b.count - pos) unexpected bytes after the last storage at offset \(pos)")
        }
        for (vk, v) in views {
            guard let rootBytes = storages[v.root], let ref = refs[v.root], v.offset <= ref.numel, v.count <= ref.numel - v.offset else {
                throw WeightIOError.torchUnsupported(file: file, problem: "storage view \(vk) lies outside storage \(v.root)")
            }
            let es = ref.dtype.size
            storages[vk] = UnsafeRawBufferPointer(rebasing: rootBytes[(v.offset * es)..<((v.offset + v.count) * es)])
        }
        for key in refs.keys where storages[key] == nil {
            throw WeightIOError.torchUnsupported(file: file, problem: "storage \(key) is referenced but its data is missing")
        }
        self.storages = storages
        (tensorHeaders, tensors) = try TorchCheckpoint.stateDict(root, file: file)
        try validateViews()
    }

    /// Parses a persistent id: `('storage', torch.XStorage, key, location, numel[, view_metadata])`.
    static func storageRef(_ pid: PickleValue, file: String, offset: Int, legacy: Bool) throws -> TorchStorageRef {
        guard case let .tuple(t) = pid, t.count == (legacy ? 6 : 5), t[0].stringValue == "storage",
              case let .global(type) = t[1], let key = t[2].stringValue, t[3].stringValue != nil,
              let numel = t[4].intValue, numel >= 0
        else {
            throw WeightIOError.pickleMalformed(file: file, offset: offset, problem: "invalid storage persistent id \(pid)")
        }
        guard let dtype = RestrictedUnpickler.storageDTypes[String(type.dropFirst("torch.".count))] else {
            throw WeightIOError.pickleMalformed(file: file, offset: offset, problem: "\(type) is not a storage type")
        }
        return TorchStorageRef(key: key, dtype: dtype, numel: numel)
    }

    /// The root object must be a dict of names to tensors; anything else is refused by name.
    static func stateDict(_ root: PickleValue, file: String) throws -> ([TensorHeader], [String: TorchTensorRef]) {
        guard case let .dict(d) = root else {
            throw WeightIOError.torchUnsupported(file: file, problem: "checkpoint holds \(root), expected a state_dict (a dict of tensors)")
        }
        var headers: [TensorHeader] = []
        var refs: [String: TorchTensorRef] = [:]
        for (k, v) in d.items {
            guard let name = k.stringValue else {
                throw WeightIOError.torchUnsupported(file: file, problem: "state_dict key \(k) is not a string")
            }
            guard case let .tensor(t) = v else {
                throw WeightIOError.torchInvalidTensor(file: file, tensor: name, problem: "value is \(v), not a tensor")
            }
            guard refs[name] == nil else {
                throw WeightIOError.torchInvalidTensor(file: file, tensor: name, problem: "appears twice in the state_dict")
            }
            refs[name] = t
            headers.append(TensorHeader(name: name, dtype: t.storage.dtype, shape: t.shape))
        }
        return (headers, refs)
    }

    /// Every tensor must be a contiguous view that lies inside its storage.
    private func validateViews() throws {
        for h in tensorHeaders {
            let t = tensors[h.name]!
            if t.shape.contains(where: { $0 < 0 }) || t.offset < 0 {
                throw WeightIOError.torchInvalidTensor(file: path, tensor: h.name, problem: "negative size or offset")
            }
            var expected = 1
            var count = 1
            for d in (0..<t.shape.count).reversed() {
                if t.shape[d] != 1 && t.stride[d] != expected {
                    throw WeightIOError.torchInvalidTensor(file: path, tensor: h.name, problem: "is not contiguous (shape \(t.shape), stride \(t.stride)); save it with .contiguous()")
                }
                let (e, o1) = expected.multipliedReportingOverflow(by: t.shape[d])
                let (c, o2) = count.multipliedReportingOverflow(by: t.shape[d])
                if o1 || o2 { throw WeightIOError.torchInvalidTensor(file: path, tensor: h.name, problem: "size overflows") }
                expected = e; count = c
            }
            guard count == 0 || (t.offset <= t.storage.numel && count <= t.storage.numel - t.offset) else {
                throw WeightIOError.torchInvalidTensor(file: path, tensor: h.name, problem: "elements [\(t.offset), \(t.offset + count)) lie outside its storage of \(t.storage.numel)")
            }
        }
    }

    /// Storage key and element offset of a tensor: two tensors with the same pair share memory (tied weights).
    public func storageLocation(_ name: String) -> (key: String, offset: Int)? {
        tensors[name].map { ($0.storage.key, $0.offset) }
    }

    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard let t = tensors[name] else { throw WeightIOError.tensorNotFound(file: path, tensor: name) }
        guard t.storage.dtype.isConvertibleToFloat else {
            throw WeightIOError.torchInvalidTensor(file: path, tensor: name, problem: "dtype cannot be converted to F32")
        }
        let count = t.shape.reduce(1, *)
        precondition(dst.count == count)
        if count == 0 { return }
        let es = t.storage.dtype.size
        let raw = storages[t.storage.key]!
        convertToFloat(UnsafeRawBufferPointer(rebasing: raw[(t.offset * es)..<((t.offset + count) * es)]),
                       dtype: t.storage.dtype, bigEndian: bigEndian, into: dst)
    }
}
