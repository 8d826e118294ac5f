/// Every way a weights file can be rejected. Each message names the file, the position and the rule.
///
/// The safetensors cases follow the validation rules of huggingface/safetensors `tensor.rs`; the
/// zip, pickle and checkpoint cases are this project's. Nothing is ever loaded partially: the first
/// broken rule ends the load with one of these.
public enum WeightIOError: Error, CustomStringConvertible, Equatable {
    // I/O
    case cannotOpen(file: String, reason: String)
    case cannotWrite(file: String, reason: String)
    // safetensors (names after tensor.rs)
    case headerTooSmall(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64)
    case invalidHeaderLength(file: String, length: UInt64, fileSize: Int)
    case invalidHeaderUTF8(file: String, offset: Int)
    case invalidHeaderStart(file: String, found: UInt8)
    case invalidHeaderJSON(file: String, offset: Int, problem: String)
    case duplicateKey(file: String, key: String, offset: Int)
    case invalidMetadata(file: String, problem: String)
    case invalidTensorInfo(file: String, tensor: String, problem: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case tensorSizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, byteCount: Int)
    case invalidOffset(file: String, tensor: String, expectedStart: Int, found: Int)
    case validationOverflow(file: String, tensor: String)
    case metadataIncompleteBuffer(file: String, dataEnd: Int, bufferSize: Int)
    case tensorNotFound(file: String, tensor: String)
    // a file's tensors against the ones a model expects (every architecture's import)
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    case unusedTensor(file: String, tensor: String, shape: [Int], model: String)
    case tensorShapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    // zip
    case zipNoEndOfCentralDirectory(file: String)
    case zipCorrupt(file: String, offset: Int, problem: String)
    case zipUnsupported(file: String, entry: String, problem: String)
    case zipCRCMismatch(file: String, entry: String, expected: UInt32, found: UInt32)
    case zipEntryMissing(file: String, entry: String)
    // pickle
    case pickleTruncated(file: String, offset: Int)
    case pickleUnknownOpcode(file: String, offset: Int, opcode: UInt8)
    case pickleForbiddenGlobal(file: String, offset: Int, name: String)
    case pickleMalformed(file: String, offset: Int, problem: String)
    // PyTorch checkpoints
    case torchUnsupported(file: String, problem: String)
    case torchInvalidTensor(file: String, tensor: String, problem: String)
    // GGUF
    case ggufBadMagic(file: String, found: [UInt8])
    case ggufUnsupportedVersion(file: String, version: UInt32, bigEndian: Bool)
    case ggufTruncated(file: String, offset: Int, reading: String)
    case ggufCountTooLarge(file: String, offset: Int, what: String, count: UInt64, remaining: Int)
    case ggufInvalidUTF8(file: String, offset: Int, what: String)
    case ggufUnknownValueType(file: String, key: String, offset: Int, type: UInt32)
    case ggufInvalidValue(file: String, key: String, offset: Int, problem: String)
    case ggufDuplicateKey(file: String, key: String, offset: Int)
    case ggufInvalidAlignment(file: String, value: String)
    case ggufDuplicateTensor(file: String, tensor: String, offset: Int)
    case ggufInvalidTensorInfo(file: String, tensor: String, offset: Int, problem: String)
    case ggufUnknownTensorType(file: String, tensor: String, type: UInt32, offset: Int)
    case ggufMisalignedTensor(file: String, tensor: String, offset: UInt64, alignment: Int)
    case ggufTensorOutOfBounds(file: String, tensor: String, offset: UInt64, bytes: Int, dataSize: Int)
    case ggufOverlappingTensors(file: String, first: String, second: String)
    case ggufUnsupportedTensorType(file: String, tensor: String, type: String, supported: [String])
    case ggufMissingKey(file: String, key: String)
    case ggufWrongValueType(file: String, key: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .cannotOpen(f, r): return "\(f): cannot open: \(r)"
        case let .cannotWrite(f, r): return "\(f): cannot write: \(r)"
        case let .headerTooSmall(f, s):
            return "\(f): file is \(s) bytes, too small for a safetensors header (needs at least 8)"
        case let .headerTooLarge(f, n):
            return "\(f): header length \(n) at offset 0 exceeds the limit of 100000000 bytes"
        case let .invalidHeaderLength(f, n, s):
            return "\(f): header length \(n) at offset 0 runs past the end of the \(s)-byte file"
        case let .invalidHeaderUTF8(f, o): return "\(f): header is not valid UTF-8 (byte \(o) of the file)"
        case let .invalidHeaderStart(f, b):
            return "\(f): header must start with '{' at offset 8, found byte 0x\(String(b, radix: 16))"
        case let .invalidHeaderJSON(f, o, p): return "\(f): header JSON invalid at byte \(o) of the file: \(p)"
        case let .duplicateKey(f, k, o): return "\(f): duplicate key \"\(k)\" in the header at byte \(o)"
        case let .invalidMetadata(f, p): return "\(f): __metadata__ \(p)"
        case let .invalidTensorInfo(f, t, p): return "\(f): tensor \"\(t)\": \(p)"
        case let .unknownDType(f, t, d): return "\(f): tensor \"\(t)\": unknown dtype \"\(d)\""
        case let .tensorSizeMismatch(f, t, s, d, n):
            return "\(f): tensor \"\(t)\": shape \(s) of \(d) does not fit its \(n) bytes of data"
        case let .invalidOffset(f, t, e, o):
            return "\(f): tensor \"\(t)\": data starts at \(o), expected \(e) (tensors must be contiguous, sorted, without gaps or overlaps)"
        case let .validationOverflow(f, t): return "\(f): tensor \"\(t)\": size computation overflows"
        case let .metadataIncompleteBuffer(f, e, b):
            return "\(f): tensors end at data byte \(e) but the data section has \(b) bytes (truncated or trailing bytes)"
        case let .tensorNotFound(f, t): return "\(f): no tensor named \"\(t)\""
        case let .missingTensor(f, t, s): return "\(f): tensor \"\(t)\" with shape \(s) is missing"
        case let .unusedTensor(f, t, s, m): return "\(f): tensor \"\(t)\" (shape \(s)) is not part of \(m); refusing to drop it silently"
        case let .tensorShapeMismatch(f, t, e, s): return "\(f): tensor \"\(t)\" has shape \(s), expected \(e)"
        case let .zipNoEndOfCentralDirectory(f):
            return "\(f): not a zip archive (no end-of-central-directory record)"
        case let .zipCorrupt(f, o, p): return "\(f): zip structure invalid at offset \(o): \(p)"
        case let .zipUnsupported(f, e, p): return "\(f): zip entry \"\(e)\": \(p)"
        case let .zipCRCMismatch(f, e, x, y):
            return "\(f): zip entry \"\(e)\": CRC-32 is 0x\(String(y, radix: 16)), the archive says 0x\(String(x, radix: 16)) (corrupt data)"
        case let .zipEntryMissing(f, e): return "\(f): zip archive has no entry \"\(e)\""
        case let .pickleTruncated(f, o): return "\(f): pickle ends unexpectedly at offset \(o)"
        case let .pickleUnknownOpcode(f, o, c):
            return "\(f): pickle opcode 0x\(String(c, radix: 16)) at offset \(o) is not supported"
        case let .pickleForbiddenGlobal(f, o, n):
            return "\(f): pickle at offset \(o) references \(n), which is not on the allowlist of tensor-checkpoint globals (refused; nothing from the file is executed)"
        case let .pickleMalformed(f, o, p): return "\(f): pickle malformed at offset \(o): \(p)"
        case let .torchUnsupported(f, p): return "\(f): \(p)"
        case let .torchInvalidTensor(f, t, p): return "\(f): tensor \"\(t)\": \(p)"
        case let .ggufBadMagic(f, b):
            return "\(f): not a GGUF file: it starts with \(b.map { String(format2: $0) }.joined(separator: " ")), not \"GGUF\" (47 47 55 46)"
        case let .ggufUnsupportedVersion(f, v, big):
            return big ? "\(f): big-endian GGUF files are not supported (version field reads \(v.byteSwapped) byte-swapped)"
                : "\(f): GGUF version \(v) is not supported (versions 2 and 3 are)"
        case let .ggufTruncated(f, o, what): return "\(f): file ends at byte \(o) while reading \(what) (truncated)"
        case let .ggufCountTooLarge(f, o, what, n, rest):
            return "\(f): \(what) at byte \(o) is \(n), more than the \(rest) bytes left in the file can hold"
        case let .ggufInvalidUTF8(f, o, what): return "\(f): \(what) at byte \(o) is not valid UTF-8"
        case let .ggufUnknownValueType(f, k, o, t): return "\(f): metadata \"\(k)\": value type \(t) at byte \(o) is not a GGUF type (0 to 12)"
        case let .ggufInvalidValue(f, k, o, p): return "\(f): metadata \"\(k)\" at byte \(o): \(p)"
        case let .ggufDuplicateKey(f, k, o): return "\(f): metadata key \"\(k)\" appears twice (again at byte \(o))"
        case let .ggufInvalidAlignment(f, v): return "\(f): general.alignment must be a UINT32 power of two, found \(v)"
        case let .ggufDuplicateTensor(f, t, o): return "\(f): tensor \"\(t)\" appears twice (again at byte \(o))"
        case let .ggufInvalidTensorInfo(f, t, o, p): return "\(f): tensor \"\(t)\" (info at byte \(o)): \(p)"
        case let .ggufUnknownTensorType(f, t, ty, o): return "\(f): tensor \"\(t)\": type \(ty) at byte \(o) is not a ggml type"
        case let .ggufMisalignedTensor(f, t, o, a): return "\(f): tensor \"\(t)\": data offset \(o) is not a multiple of the alignment \(a)"
        case let .ggufTensorOutOfBounds(f, t, o, n, size):
            return "\(f): tensor \"\(t)\": \(n) bytes at data offset \(o) run past the \(size)-byte data section (truncated file?)"
        case let .ggufOverlappingTensors(f, a, b): return "\(f): tensors \"\(a)\" and \"\(b)\" overlap in the data section"
        case let .ggufUnsupportedTensorType(f, t, ty, ok):
            return "\(f): tensor \"\(t)\" is \(ty), which this tool cannot dequantize (supported: \(ok.joined(separator: ", ")))"
        case let .ggufMissingKey(f, k): return "\(f): metadata has no \"\(k)\""
        case let .ggufWrongValueType(f, k, e, found): return "\(f): metadata \"\(k)\" is \(found), expected \(e)"
        }
    }
}

extension String {
    /// Two hex digits: 0x4b -> "4b".
    init(format2 byte: UInt8) {
        let h = String(byte, radix: 16)
        self = h.count == 1 ? "0" + h : h
    }
}
