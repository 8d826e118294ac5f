/// Name, element type and shape of one stored tensor.
public struct TensorHeader: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// Any weights file: a list of named tensors that can be decoded to Float.
public protocol TensorSource: AnyObject {
    var path: String { get }
    /// "safetensors", "pytorch-zip" or "pytorch-legacy".
    var formatName: String { get }
    /// Every tensor of the file, in file order.
    var tensorHeaders: [TensorHeader] { get }
    /// Decodes tensor `name` into `dst`, whose count must equal the tensor's element count.
    func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws
}

extension TensorSource {
    public func header(_ name: String) throws -> TensorHeader {
        guard let h = tensorHeaders.first(where: { $0.name == name }) else {
            throw WeightIOError.tensorNotFound(file: path, tensor: name)
        }
        return h
    }

    public func floats(_ name: String) throws -> FloatTensor {
        let h = try header(name)
        var values = [Float](repeating: 0, count: h.count)
        try values.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return FloatTensor(shape: h.shape, values: values)
    }
}

/// Opens a weights file of any supported format, chosen by its first bytes:
/// `PK\3\4` is a PyTorch zip checkpoint, `80 02 8A 0A` (pickle protocol 2, then the 10-byte magic
/// number) a legacy PyTorch file, anything else safetensors. (A safetensors file cannot start with
/// the legacy bytes: its header length would be over the 100 MB limit.)
public func openWeights(path: String) throws -> TensorSource {
    let m = try MappedFile(path: path)
    let b = m.bytes
    if b.count >= 4, b[0] == 0x50, b[1] == 0x4B, b[2] == 0x03, b[3] == 0x04 {
        return try TorchCheckpoint(zip: ZipArchive(bytes: b, file: path, owner: m))
    }
    if b.count >= 4, b[0] == 0x80, b[1] == 0x02, b[2] == 0x8A, b[3] == 0x0A {
        return try TorchCheckpoint(legacy: m)
    }
    if b.count >= 262, b[257..<262].elementsEqual("ustar".utf8) {
        throw WeightIOError.torchUnsupported(file: path, problem: "tar-format PyTorch checkpoints (before PyTorch 0.4) are not supported; re-save with torch.save")
    }
    return try SafeTensorsSource(path: path)
}

/// `TensorSource` over a safetensors file.
public final class SafeTensorsSource: TensorSource {
    public let file: SafeTensorsFile
    public var path: String { file.path }
    public var formatName: String { "safetensors" }
    public let tensorHeaders: [TensorHeader]

    public init(path: String) throws {
        file = try SafeTensorsFile(path: path)
        tensorHeaders = file.tensors.map { TensorHeader(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
    }

    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        let t = try file.info(name)
        guard t.dtype.isConvertibleToFloat else {
            throw WeightIOError.invalidTensorInfo(file: path, tensor: name, problem: "dtype \(t.dtype.rawValue) cannot be converted to F32")
        }
        precondition(dst.count == t.shape.reduce(1, *))
        convertToFloat(try file.rawBytes(name), dtype: t.dtype, into: dst)
    }
}
