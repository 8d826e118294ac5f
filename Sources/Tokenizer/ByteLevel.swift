/// GPT-2's reversible map from the 256 byte values to printable Unicode characters.
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD)
/// map, in order, to U+0100, U+0101, ... So the space 0x20 becomes "Ġ" (U+0120) and "\n" becomes
/// "Ċ" (U+010A), which is why vocab.json spells " the" as "Ġthe".
public let byteToUnicode: [Character] = {
    var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    var codes = printable
    var extra = 0
    for b in 0..<256 where !printable.contains(b) {
        printable.append(b)
        codes.append(256 + extra)
        extra += 1
    }
    var table = [Character](repeating: " ", count: 256)
    for (b, c) in zip(printable, codes) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
    return table
}()

/// The inverse of `byteToUnicode`.
public let unicodeToByte: [Character: UInt8] = {
    var m: [Character: UInt8] = [:]
    for (b, c) in byteToUnicode.enumerated() { m[c] = UInt8(b) }
    return m
}()
