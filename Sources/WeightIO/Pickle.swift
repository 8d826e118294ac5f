/// A value produced by the restricted unpickler.
public indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as little-endian two's-complement bytes (the legacy magic number).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A reference to an allowlisted global, e.g. `torch.FloatStorage`.
    case global(String)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)

    /// A short rendering for error messages: nesting and length are capped, so a hostile
    /// self-referencing list prints in bounded time.
    public var description: String { render(depth: 0) }

    func render(depth: Int) -> String {
        if depth > 3 { return "..." }
        func items(_ vs: [PickleValue]) -> String {
            vs.prefix(8).map { $0.render(depth: depth + 1) }.joined(separator: ", ") + (vs.count > 8 ? ", ..." : "")
        }
        switch self {
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .bigInt(b): return "int(\(b.count) bytes)"
        case let .float(d): return String(d)
        case let .string(s): return "'\(s.prefix(80))'"
        case let .bytes(b): return "bytes(\(b.count))"
        case let .tuple(t): return "(" + items(t) + ")"
        case let .list(l): return "[" + items(l.items) + "]"
        case let .dict(d):
            return "{" + d.items.prefix(8).map { "\($0.0.render(depth: depth + 1)): \($0.1.render(depth: depth + 1))" }.joined(separator: ", ") + (d.items.count > 8 ? ", ..." : "") + "}"
        case let .global(g): return g
        case let .storage(s): return "storage(\(s.key))"
        case let .tensor(t): return "tensor(\(t.shape))"
        }
    }

    var intValue: Int? { if case let .int(i) = self { return i } else { return nil } }
    var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    var intTuple: [Int]? {
        guard case let .tuple(t) = self else { return nil }
        var out: [Int] = []
        for v in t { guard let i = v.intValue else { return nil }; out.append(i) }
        return out
    }
}

/// A pickled list (a class, so that memo references see later appends).
public final class PickleList {
    public var items: [PickleValue] = []
    /// Nesting depth of the deepest value inside, kept to refuse hostile nesting.
    var depth = 1
    /// Set once the list is taken off the stack into another value; it may not change after that.
    var sealed = false
}
/// A pickled dict, keys in insertion order.
public final class PickleDict {
    public var items: [(PickleValue, PickleValue)] = []
    var depth = 1
    /// Set once the dict is taken off the stack into another value; it may not change after that.
    var sealed = false
}

/// A storage named by a checkpoint's persistent id.
public struct TorchStorageRef {
    public var key: String
    public var dtype: DType
    public var numel: Int
}

/// A tensor view onto a storage, as `torch._utils._rebuild_tensor_v2` describes it.
public struct TorchTensorRef {
    public var storage: TorchStorageRef
    public var offset: Int
    public var shape: [Int]
    public var stride: [Int]
}

/// An unpickler in the spirit of `torch.load(weights_only=True)`: it builds plain values and
/// tensor references, resolves only the globals on `allowedGlobals`, and never executes anything.
///
///     GLOBAL 'os system' -> WeightIOError.pickleForbiddenGlobal(name: "os.system")
public struct RestrictedUnpickler {
    /// Globals a state-dict checkpoint needs, and nothing else.
    public static let allowedGlobals: Set<String> = Set([
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.Size",
    ] + storageDTypes.keys.map { "torch." + $0 })

    /// PyTorch's legacy typed-storage class names and their element types.
    public static let storageDTypes: [String: DType] = [
        "FloatStorage": .F32, "HalfStorage": .F16, "BFloat16Storage": .BF16, "DoubleStorage": .F64,
        "LongStorage": .I64, "IntStorage": .I32, "ShortStorage": .I16, "CharStorage": .I8,
        "ByteStorage": .U8, "BoolStorage": .BOOL,
    ]

    let file: String
    let bytes: UnsafeRawBufferPointer
    /// Position after the STOP opcode, once `load` returned.
    public private(set) var position: Int
    let persistentLoad: (PickleValue, Int) throws -> PickleValue

    public init(bytes: UnsafeRawBufferPointer, start: Int = 0, file: String,
                persistentLoad: @escaping (PickleValue, Int) throws -> PickleValue) {
        self.bytes = bytes
        self.position = start
        self.file = file
        self.persistentLoad = persistentLoad
    }

    /// Deepest nesting of containers accepted; deeper is refused (deep values would exhaust the
    /// stack when printed or freed).
    public static let maxDepth = 100

    private enum Slot { case value(PickleValue, depth: Int), mark }

    /// Reads one pickle (up to its STOP) and returns its value.
    public mutating func load() throws -> PickleValue {
        var stack: [Slot] = []
        var memo: [Int: (PickleValue, Int)] = [:]
        var i = position
        let b = bytes
        let file = self.file

        func need(_ n: Int) throws {
            guard n >= 0, n <= b.count - i else { throw WeightIOError.pickleTruncated(file: file, offset: b.count) }
        }
        func malformed(_ p: String, _ at: Int) -> WeightIOError { .pickleMalformed(file: file, offset: at, problem: p) }
        func u8() throws -> Int { try need(1); defer { i += 1 }; return Int(b[i]) }
        func u16() throws -> Int { try need(2); defer { i += 2 }; return Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt16.self))) }
        func u32() throws -> Int { try need(4); defer { i += 4 }; return Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt32.self))) }
        func u64() throws -> Int {
            try need(8)
            let v = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            guard v <= UInt64(Int.max) else { throw malformed("length \(v) out of range", i) }
            i += 8
            return Int(v)
        }
        func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            try need(n)
            defer { i += n }
            return UnsafeRawBufferPointer(rebasing: b[i..<(i + n)])
        }
        func line() throws -> String {
            var j = i
            while j < b.count, b[j] != 0x0A { j += 1 }
            guard j < b.count else { throw WeightIOError.pickleTruncated(file: file, offset: b.count) }
            defer { i = j + 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[i..<j]), as: UTF8.self)
        }
        func text(_ raw: UnsafeRawBufferPointer, _ at: Int) throws -> String {
            guard let s = String(validating: raw, as: UTF8.self) else { throw malformed("string is not valid UTF-8", at) }
            return s
        }
        /// Depth of a value: lists and dicts carry their own (they grow after being pushed).
        func depthOf(_ v: PickleValue, _ slotDepth: Int) -> Int {
            switch v {
            case let .list(l): return l.depth
            case let .dict(d): return d.depth
            default: return slotDepth
            }
        }
        /// A container taken off the stack goes into another value (or away): it is sealed, so that
        /// no later opcode can change it. Otherwise a pickle could put a list into itself (a
        /// reference cycle, leaked; found by fuzzing) or deepen a list after its parent recorded its
        /// depth (unbounded nesting, whose release would overflow the stack). Pickles that Python's
        /// pickler writes fill each container before using it elsewhere.
        func seal(_ v: PickleValue) {
            switch v {
            case let .list(l): l.sealed = true
            case let .dict(d): d.sealed = true
            default: break
            }
        }
        func popSlot(_ at: Int) throws -> (PickleValue, Int) {
            guard case let .value(v, d)? = stack.popLast() else { throw malformed("stack underflow", at) }
            seal(v)
            return (v, depthOf(v, d))
        }
        func pop(_ at: Int) throws -> PickleValue { try popSlot(at).0 }
        func topSlot(_ at: Int) throws -> (PickleValue, Int) {
            guard case let .value(v, d)? = stack.last else { throw malformed("stack underflow", at) }
            return (v, depthOf(v, d))
        }
        func top(_ at: Int) throws -> PickleValue { try topSlot(at).0 }
        /// Popped values up to the last MARK, and the depth of a container holding them.
        func popToMark(_ at: Int) throws -> ([PickleValue], Int) {
            var items: [PickleValue] = []
            var depth = 1
            while let s = stack.popLast() {
                switch s {
                case .mark: return (items.reversed(), try checked(depth, at))
                case let .value(v, d):
                    seal(v)
                    items.append(v)
                    depth = max(depth, depthOf(v, d) + 1)
                }
            }
            throw malformed("no MARK on the stack", at)
        }
        func checked(_ depth: Int, _ at: Int) throws -> Int {
            guard depth <= RestrictedUnpickler.maxDepth else {
                throw malformed("values nested deeper than \(RestrictedUnpickler.maxDepth)", at)
            }
            return depth
        }
        func global(_ module: String, _ name: String, _ at: Int) throws -> PickleValue {
            let full = module + "." + name
            guard RestrictedUnpickler.allowedGlobals.contains(full) else {
                throw WeightIOError.pickleForbiddenGlobal(file: file, offset: at, name: full)
            }
            return .global(full)
        }
        func push(_ v: PickleValue, depth: Int = 1) { stack.append(.value(v, depth: depth)) }
        func intFromLE(_ raw: UnsafeRawBufferPointer) -> PickleValue {
            if raw.isEmpty { return .int(0) }
            if raw.count > 8 { return .bigInt(Array(raw)) }
            var v: UInt64 = 0
            for k in (0..<raw.count).reversed() { v = v << 8 | UInt64(raw[k]) }
            if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(raw.count)) }
            return .int(Int(Int64(bitPattern: v)))
        }

        while true {
            let at = i
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()  // PROTO
            case 0x95: _ = try u64()  // FRAME: only a read-ahead hint
            case 0x2E:  // STOP
                position = i
                return try pop(at)
            case 0x28: stack.append(.mark)  // MARK
            case 0x29: push(.tuple([]))  // EMPTY_TUPLE
            case 0x5D: push(.list(PickleList()))  // EMPTY_LIST
            case 0x7D: push(.dict(PickleDict()))  // EMPTY_DICT
            case 0x4E: push(.none)  // NONE
            case 0x88: push(.bool(true))
            case 0x89: push(.bool(false))
            case 0x4A:  // BININT
                try need(4)
                push(.int(Int(Int32(littleEndian: b.loadUnaligned(fromByteOffset: i, as: Int32.self)))))
                i += 4
            case 0x4B: push(.int(try u8()))  // BININT1
            case 0x4D: push(.int(try u16()))  // BININT2
            case 0x8A: push(intFromLE(try take(try u8())))  // LONG1
            case 0x8B:  // LONG4
                let n = try u32()
                push(intFromLE(try take(n)))
            case 0x49:  // INT (text; "01"/"00" are True/False in protocol 0)
                let s = try line()
                if s == "01" { push(.bool(true)) } else if s == "00" { push(.bool(false)) } else {
                    guard let v = Int(s) else { throw malformed("invalid INT \"\(s)\"", at) }
                    push(.int(v))
                }
            case 0x47:  // BINFLOAT, big-endian
                try need(8)
                push(.float(Double(bitPattern: UInt64(bigEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self)))))
                i += 8
            case 0x58: let n = try u32(); push(.string(try text(try take(n), at)))  // BINUNICODE
            case 0x8C: let n = try u8(); push(.string(try text(try take(n), at)))  // SHORT_BINUNICODE
            case 0x8D: let n = try u64(); push(.string(try text(try take(n), at)))  // BINUNICODE8
            case 0x54: let n = try u32(); push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINSTRING
            case 0x55: let n = try u8(); push(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x42: let n = try u32(); push(.bytes(Array(try take(n))))  // BINBYTES
            case 0x43: let n = try u8(); push(.bytes(Array(try take(n))))  // SHORT_BINBYTES
            case 0x8E: let n = try u64(); push(.bytes(Array(try take(n))))  // BINBYTES8
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                push(try global(module, name, at))
            case 0x93:  // STACK_GLOBAL
                let name = try pop(at), module = try pop(at)
                guard let m = module.stringValue, let n = name.stringValue else { throw malformed("STACK_GLOBAL needs two strings", at) }
                push(try global(m, n, at))
            case 0x71: memo[try u8()] = try topSlot(at)  // BINPUT
            case 0x72: memo[try u32()] = try topSlot(at)  // LONG_BINPUT
            case 0x94: memo[memo.count] = try topSlot(at)  // MEMOIZE
            case 0x70:  // PUT (text)
                guard let k = Int(try line()) else { throw malformed("invalid PUT index", at) }
                memo[k] = try topSlot(at)
            case 0x68, 0x6A, 0x67:  // BINGET, LONG_BINGET, GET
                let k: Int
                if op == 0x68 { k = try u8() } else if op == 0x6A { k = try u32() } else {
                    guard let v = Int(try line()) else { throw malformed("invalid GET index", at) }
                    k = v
                }
                guard let (v, d) = memo[k] else { throw malformed("memo key \(k) was never stored", at) }
                push(v, depth: d)
            case 0x74:  // TUPLE
                let (items, d) = try popToMark(at)
                push(.tuple(items), depth: d)
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                var items: [PickleValue] = []
                var d = 1
                for _ in 0..<Int(op - 0x84) {
                    let (v, vd) = try popSlot(at)
                    items.insert(v, at: 0)
                    d = max(d, vd + 1)
                }
                push(.tuple(items), depth: try checked(d, at))
            case 0x6C:  // LIST
                let l = PickleList()
                (l.items, l.depth) = try popToMark(at)
                push(.list(l))
            case 0x64:  // DICT
                let (items, depth) = try popToMark(at)
                guard items.count % 2 == 0 else { throw malformed("DICT with an odd number of items", at) }
                let d = PickleDict()
                d.depth = depth
                for k in stride(from: 0, to: items.count, by: 2) { d.items.append((items[k], items[k + 1])) }
                push(.dict(d))
            case 0x61:  // APPEND
                let (v, vd) = try popSlot(at)
                guard case let .list(l) = try top(at) else { throw malformed("APPEND to a non-list", at) }
                guard !l.sealed else { throw malformed("APPEND to a list already placed in another value", at) }
                l.items.append(v)
                l.depth = try checked(max(l.depth, vd + 1), at)
            case 0x65:  // APPENDS
                let (vs, d) = try popToMark(at)
                guard case let .list(l) = try top(at) else { throw malformed("APPENDS to a non-list", at) }
                guard !l.sealed else { throw malformed("APPENDS to a list already placed in another value", at) }
                l.items.append(contentsOf: vs)
                l.depth = try checked(max(l.depth, d), at)
            case 0x73:  // SETITEM
                let (v, vd) = try popSlot(at), (k, kd) = try popSlot(at)
                guard case let .dict(d) = try top(at) else { throw malformed("SETITEM on a non-dict", at) }
                guard !d.sealed else { throw malformed("SETITEM on a dict already placed in another value", at) }
                d.items.append((k, v))
                d.depth = try checked(max(d.depth, vd + 1, kd + 1), at)
            case 0x75:  // SETITEMS
                let (items, depth) = try popToMark(at)
                guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of items", at) }
                guard case let .dict(d) = try top(at) else { throw malformed("SETITEMS on a non-dict", at) }
                guard !d.sealed else { throw malformed("SETITEMS on a dict already placed in another value", at) }
                d.depth = try checked(max(d.depth, depth), at)
                for k in stride(from: 0, to: items.count, by: 2) { d.items.append((items[k], items[k + 1])) }
            case 0x30: _ = try pop(at)  // POP
            case 0x31: _ = try popToMark(at)  // POP_MARK
            case 0x32: let (v, d) = try topSlot(at); push(v, depth: d)  // DUP
            case 0x51: push(try persistentLoad(try pop(at), at))  // BINPERSID
            case 0x50: push(try persistentLoad(.string(try line()), at))  // PERSID
            case 0x52:  // REDUCE
                let (args, argsDepth) = try popSlot(at), callable = try pop(at)
                guard case let .global(name) = callable else { throw malformed("REDUCE of a non-callable \(callable)", at) }
                guard case let .tuple(a) = args else { throw malformed("REDUCE arguments are not a tuple", at) }
                push(try call(name, a, at), depth: argsDepth)
            case 0x62:  // BUILD
                let state = try pop(at)
                let target = try top(at)
                // An OrderedDict state_dict carries `_metadata` (module versions) as instance state:
                // harmless, and not part of the weights.
                guard case .dict = target else { throw malformed("BUILD on \(target) is not allowed", at) }
                _ = state
            default:
                throw WeightIOError.pickleUnknownOpcode(file: file, offset: at, opcode: UInt8(op))
            }
        }
    }

    private func call(_ name: String, _ a: [PickleValue], _ at: Int) throws -> PickleValue {
        func bad(_ p: String) -> WeightIOError { .pickleMalformed(file: file, offset: at, problem: "\(name): \(p)") }
        switch name {
        case "collections.OrderedDict":
            guard a.isEmpty else { throw bad("expected no arguments") }
            return .dict(PickleDict())
        case "torch.Size":
            guard a.count == 1, case .tuple = a[0] else { throw bad("expected one tuple") }
            return a[0]
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard a.count >= 4, case let .storage(s) = a[0], let offset = a[1].intValue,
                  let shape = a[2].intTuple, let stride = a[3].intTuple, shape.count == stride.count
            else { throw bad("expected (storage, offset, size, stride, ...)") }
            return .tensor(TorchTensorRef(storage: s, offset: offset, shape: shape, stride: stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard a.count >= 1, case .tensor = a[0] else { throw bad("expected a tensor") }
            return a[0]
        default:
            throw bad("cannot be called")
        }
    }
}
