import Foundation
import WeightIO

/// An 8-bit RGB or RGBA PNG decoded to pixels (what a headless browser's screenshot is), enough to
/// tell a test what a page showed: chunks, IDAT inflated by zlib, the five scanline filters undone.
struct PNGImage {
    var width = 0, height = 0
    /// [height][width] of (r, g, b).
    var pixels: [[(UInt8, UInt8, UInt8)]] = []

    struct Invalid: Error, CustomStringConvertible { var description: String }

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "\(path): cannot read") }
        let b = [UInt8](data)
        guard b.count > 8, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw Invalid(description: "\(path): not a PNG") }
        func u32(_ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        var offset = 8, idat: [UInt8] = [], channels = 0
        while offset + 8 <= b.count {
            let length = u32(offset), type = String(decoding: b[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = (offset + 8)..<(offset + 8 + length)
            guard body.upperBound <= b.count else { throw Invalid(description: "\(path): chunk \(type) runs past the end") }
            switch type {
            case "IHDR":
                width = u32(body.lowerBound); height = u32(body.lowerBound + 4)
                let depth = b[body.lowerBound + 8], color = b[body.lowerBound + 9], interlace = b[body.lowerBound + 12]
                guard depth == 8, color == 2 || color == 6, interlace == 0 else {
                    throw Invalid(description: "\(path): bit depth \(depth), colour type \(color), interlace \(interlace) not decoded here")
                }
                channels = color == 2 ? 3 : 4
            case "IDAT": idat += b[body]
            default: break
            }
            offset = body.upperBound + 4
        }
        let raw = try idat.withUnsafeBytes { try zlibInflate($0, file: path) }
        let stride = width * channels
        guard raw.count == height * (stride + 1) else { throw Invalid(description: "\(path): \(raw.count) bytes of scanlines for \(width)x\(height)") }
        var previous = [UInt8](repeating: 0, count: stride), line = previous
        for y in 0..<height {
            let filter = raw[y * (stride + 1)], start = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= channels ? Int(line[x - channels]) : 0, up = Int(previous[x]), c = x >= channels ? Int(previous[x - channels]) : 0
                let v = Int(raw[start + x])
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = up
                case 3: predicted = (a + up) / 2
                case 4:
                    let p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? up : c)
                default: throw Invalid(description: "\(path): scanline \(y) has filter \(filter)")
                }
                line[x] = UInt8((v + predicted) & 0xFF)
            }
            pixels.append((0..<width).map { (line[$0 * channels], line[$0 * channels + 1], line[$0 * channels + 2]) })
            previous = line
        }
    }

    /// Pixels within `tolerance` of the colour in every channel.
    func count(near color: (Int, Int, Int), tolerance: Int = 24) -> Int {
        pixels.reduce(0) { n, row in
            n + row.filter { abs(Int($0.0) - color.0) <= tolerance && abs(Int($0.1) - color.1) <= tolerance && abs(Int($0.2) - color.2) <= tolerance }.count
        }
    }
}
