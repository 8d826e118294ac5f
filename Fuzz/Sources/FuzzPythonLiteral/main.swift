import RecData

/// Python-literal metadata lines (dicts, lists, tuples, strings with escapes, numbers, None/True/False).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPythonLiteral(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    _ = PythonLiteral.parse(Substring(text))
    return 0
}
