import FuzzSupport
import WeightIO

/// The JSON parser of safetensors headers, configs and Amazon lines; a parsed value serializes and
/// parses back to itself.
func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let v = try? JSONParser.parse(inputBytes(data, count)) else { return 0 }
    let again = try? JSONParser.parse(Array(v.serialized().utf8))
    precondition(again == v, "JSON value does not survive serialization")
    return 0
}

runFuzzer(fuzzJSON)
