import WeightIO

/// The JSON parser of safetensors headers, configs and Amazon lines; a parsed value serializes and
/// parses back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let v = try? JSONParser.parse(UnsafeRawBufferPointer(start: data, count: count)) else { return 0 }
    let again = try? JSONParser.parse(Array(v.serialized().utf8))
    precondition(again == v, "JSON value does not survive serialization")
    return 0
}
