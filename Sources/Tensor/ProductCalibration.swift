import COpenBLAS

#if canImport(Glibc)
import Glibc
#endif

/// Which library multiplies faster on this machine, measured: `CLLM4REC_BLAS=auto` with MKL
/// installed times both libraries' sgemm on the engine's product shapes once, keeps the faster, and
/// caches the figures (`cacheFile`) under a key of the CPU model, both libraries' version texts and
/// the thread count, so the measurement runs again only when one of them changes.
///
/// Why measure instead of a rule: the first rule ("MKL on any Intel CPU", from one Ice Lake
/// measurement) was wrong on an Emerald Rapids Xeon, where MKL ran GPT-2's training products at
/// 0.85x PyTorch and OpenBLAS at 1.11x; on AMD CPUs MKL runs its AVX2 code (half OpenBLAS's speed on
/// a Zen 5). About 0.3-1 s at first use.
public struct ProductCalibration: Equatable, Sendable {
    public struct Key: Equatable, Sendable {
        public var cpu: String
        public var openblas: String
        public var mkl: String
        public var threads: Int
        public init(cpu: String, openblas: String, mkl: String, threads: Int) {
            self.cpu = cpu; self.openblas = openblas; self.mkl = mkl; self.threads = threads
        }
    }

    /// A row-major product C[m×n] = op(A) · B with op(A) = Aᵀ when `transposeA` (A stored k×m).
    public struct Shape: Equatable, Sendable {
        public var m: Int, n: Int, k: Int, transposeA: Bool
        var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    }

    /// Forward products of GPT-2 small (attention input 768→2304, MLP output 3072→768), a weight
    /// gradient (Aᵀ·B over 512 rows) and SmolLM2-135M's MLP input (576→1536), 512 rows each: the
    /// training shapes the engine spends its time in.
    public static let shapes = [
        Shape(m: 512, n: 2304, k: 768, transposeA: false),
        Shape(m: 512, n: 768, k: 3072, transposeA: false),
        Shape(m: 768, n: 3072, k: 512, transposeA: true),
        Shape(m: 512, n: 1536, k: 576, transposeA: false),
    ]

    public var key: Key
    /// Best-of-3 seconds per shape of `shapes`.
    public var openblasSeconds: [Double]
    public var mklSeconds: [Double]

    public init(key: Key, openblasSeconds: [Double], mklSeconds: [Double]) {
        self.key = key; self.openblasSeconds = openblasSeconds; self.mklSeconds = mklSeconds
    }

    /// MKL needs to be this much faster over all shapes to be taken: below it, the difference is
    /// within run-to-run noise and OpenBLAS (which also runs the matrix-vector products) stays.
    public static let margin = 0.03

    /// The faster library over all shapes (total seconds), and why, in one line.
    public var choice: (kind: ProductLibrary.Kind, reason: String) {
        let o = openblasSeconds.reduce(0, +), m = mklSeconds.reduce(0, +)
        let ratio = o / m
        let speed = "MKL at \(Self.format(ratio))x OpenBLAS's speed on the engine's product shapes, \(key.threads) threads"
        return m < o * (1 - Self.margin) ? (.mkl, "measured on this CPU: \(speed)") : (.openblas, "measured on this CPU: \(speed); OpenBLAS kept")
    }

    static func format(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return r.isFinite ? String(r) : "?"
    }

    // MARK: measuring

    /// Times `sgemm` on `shapes`: a warm-up, then the best of three, per shape.
    static func time(_ sgemm: ProductEntryPoints.SGEMM, shapes: [Shape] = shapes) -> [Double] {
        shapes.map { s in
            let a = [Float](repeating: 0.5, count: s.m * s.k), b = [Float](repeating: 0.25, count: s.k * s.n)
            var c = [Float](repeating: 0, count: s.m * s.n)
            var best = Double.infinity
            for rep in 0..<4 {
                let t0 = monotonicSeconds()
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            sgemm(101, s.transposeA ? 112 : 111, 111, Int32(s.m), Int32(s.n), Int32(s.k), 1,
                                  ap.baseAddress, Int32(s.transposeA ? s.m : s.k), bp.baseAddress, Int32(s.n), 0,
                                  cp.baseAddress, Int32(s.n))
                        }
                    }
                }
                if rep > 0 { best = min(best, monotonicSeconds() - t0) }
            }
            return best
        }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The CPU's model name (`/proc/cpuinfo`), or "unknown CPU".
    static func cpuModel() -> String {
        for line in readText("/proc/cpuinfo")?.split(separator: "\n") ?? [] where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingSpaces() }
        }
        return "unknown CPU"
    }

    // MARK: the cache

    /// `$CLLM4REC_CACHE`, else `$XDG_CACHE_HOME/cllm4rec`, else `~/.cache/cllm4rec`, then
    /// `product-library.txt`; nil when none can be named (no HOME).
    public static func cacheFile(environment: (String) -> String?) -> String? {
        if let dir = environment("CLLM4REC_CACHE"), !dir.isEmpty { return dir + "/product-library.txt" }
        if let xdg = environment("XDG_CACHE_HOME"), !xdg.isEmpty { return xdg + "/cllm4rec/product-library.txt" }
        if let home = environment("HOME"), !home.isEmpty { return home + "/.cache/cllm4rec/product-library.txt" }
        return nil
    }

    /// The file's text: one `name=value` line each (values as printed, seconds comma-separated).
    public var text: String {
        """
        # cllm4rec: which library multiplies faster on this machine (remove the file to measure again)
        cpu=\(key.cpu)
        openblas=\(key.openblas)
        mkl=\(key.mkl)
        threads=\(key.threads)
        openblas_seconds=\(openblasSeconds.map { String($0) }.joined(separator: ","))
        mkl_seconds=\(mklSeconds.map { String($0) }.joined(separator: ","))

        """
    }

    /// Reads a cache file's text; nil when anything is missing or malformed (it is then measured again).
    /// The one reader in this `-Ounchecked` target: it reads only a file this tool wrote in the
    /// user's own cache folder, with the standard library's checked splitting and number parsing,
    /// and no index arithmetic of its own.
    public init?(text: String) {
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { return nil }
            fields[line[..<eq]] = line[line.index(after: eq)...]
        }
        func seconds(_ name: Substring) -> [Double]? {
            guard let v = fields[name] else { return nil }
            let xs = v.split(separator: ",").compactMap { Double($0) }
            return xs.count == Self.shapes.count && xs.allSatisfy({ $0 > 0 && $0.isFinite }) ? xs : nil
        }
        guard let cpu = fields["cpu"], let o = fields["openblas"], let m = fields["mkl"],
              let t = fields["threads"].flatMap({ Int($0) }), let os = seconds("openblas_seconds"), let ms = seconds("mkl_seconds")
        else { return nil }
        self.init(key: Key(cpu: String(cpu), openblas: String(o), mkl: String(m), threads: t), openblasSeconds: os, mklSeconds: ms)
    }

    /// The cached figures when their key is `key`; otherwise `measure()`'s, written to `file` (a
    /// cache that cannot be written is not an error: the next run measures again).
    public static func cached(key: Key, file: String?, measure: () -> ProductCalibration) -> (ProductCalibration, fromCache: Bool) {
        if let file, let text = readText(file), let found = ProductCalibration(text: text), found.key == key {
            return (found, true)
        }
        let fresh = measure()
        if let file { writeTextAtomically(fresh.text, to: file) }
        return (fresh, false)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

func readText(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        bytes += buffer[0..<n]
        if bytes.count > 1 << 20 { return nil }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `text` to `path` through a temporary file and a rename (a reader never sees half a file),
/// creating the folder; failures are ignored (a cache).
func writeTextAtomically(_ text: String, to path: String) {
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    var dir = path.hasPrefix("/") ? "" : "."
    for p in parts.dropLast() where !p.isEmpty {
        dir += "/" + p
        mkdir(dir, 0o755)
    }
    let tmp = path + ".tmp-\(getpid())"
    guard let f = fopen(tmp, "wb") else { return }
    let bytes = Array(text.utf8)
    let ok = fwrite(bytes, 1, bytes.count, f) == bytes.count
    fclose(f)
    if !ok || rename(tmp, path) != 0 { unlink(tmp) }
}
