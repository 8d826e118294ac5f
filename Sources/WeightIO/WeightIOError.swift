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
        }
    }
}
