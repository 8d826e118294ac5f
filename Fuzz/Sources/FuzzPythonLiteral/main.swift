import FuzzSupport
import RecData

/// Python-literal metadata lines (dicts, lists, tuples, strings with escapes, numbers, None/True/False).
func fuzzPythonLiteral(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: inputBytes(data, count), as: UTF8.self)
    _ = PythonLiteral.parse(Substring(text))
    return 0
}

runFuzzer(fuzzPythonLiteral)
