import COpenBLAS

#if canImport(Glibc)
import Glibc
#endif

/// The C entry points every product goes through, whichever library provides them (CBLAS
/// signatures, the same in OpenBLAS and MKL), plus that library's thread count.
struct ProductEntryPoints {
    typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                      UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SGEMV = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                      UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void
    typealias GetThreads = @convention(c) () -> Int32
    let sgemm: SGEMM
    let sgemv: SGEMV
    let setThreads: SetThreads
    let getThreads: GetThreads
}

/// The library that runs the matrix products: OpenBLAS (always opened: it also carries the LAPACK
/// routines EASE uses) or Intel's MKL.
///
/// With MKL, the matrix-vector products (batch-1 decoding: every weight times one row) stay on
/// OpenBLAS. MKL's threads sleep at once after a product (`MKL.blocktimeMilliseconds` = 0), which
/// is what training wants (frozen fwd+bwd 20x64: 404 tok/s against 354 with MKL's default 200 ms)
/// and what decoding, ~200 small products per token, does not (28 against 38 tok/s); OpenBLAS's
/// sgemv, whose threads spin for ~3 ms, decodes at 39-41 tok/s, level with MKL at any spin time
/// (Intel Xeon 2.8 GHz, 2 threads, SmolLM2-135M, `Tools/bench/engine.py --also-env KMP_BLOCKTIME=...`).
///
/// Why MKL: on an Intel CPU with AVX-512, PyTorch's products are MKL's, and MKL's sgemm is faster
/// than OpenBLAS's there (SmolLM2-135M shapes, 2 threads, Intel Xeon 2.8 GHz Ice Lake: 280-290
/// against 240-250 GFLOP/s), enough to decide whether this engine leads PyTorch by 1.1x or 1.4x.
/// Why not always: MKL is not in Debian's main archive (it comes from PyPI, `pip install mkl
/// intel-openmp`, or Intel's oneAPI), and on AMD CPUs it runs its AVX2 code, half the speed of
/// OpenBLAS's AVX-512 kernels on a Zen 5 EPYC (199 against 457 GFLOP/s).
public struct ProductLibrary: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable { case openblas, mkl }

    /// Environment variable choosing the library: `auto` (the default), `openblas` or `mkl`.
    public static let variable = "CLLM4REC_BLAS"

    public let kind: Kind
    /// Why this library: the variable that named it, or what `auto` found.
    public let reason: String
    /// One line for logs: the library's own version text and kernels.
    public let description: String
    let products: ProductEntryPoints

    /// "MKL 2026.2 (AVX-512, strict CNR, Intel OpenMP) (Intel CPU, MKL found at /usr/local/lib/libmkl_rt.so.3)".
    public var summary: String { "\(description) (\(reason))" }
    /// What to do for faster products, when there is something: the MKL install on an Intel CPU
    /// without it. Printed once by pretrain and finetune.
    public var advice: String? {
        kind == .openblas && reason.contains("install-mkl") ? "note: products on OpenBLAS; " + reason : nil
    }

    /// A short name for one-line logs: "MKL" or "OpenBLAS SkylakeX".
    public var shortName: String {
        switch kind {
        case .mkl: return "MKL"
        case .openblas: return "OpenBLAS \(OpenBLAS.shared.coreName)"
        }
    }

    /// Whether the products give the same bits on any thread count for the engine's shapes (k up to
    /// a few thousand): MKL under strict CNR, and OpenBLAS with its AVX-512 kernel sets (measured on
    /// Zen 5 and Ice Lake). Not OpenBLAS's AVX2 sets (Haswell, Zen): on a Zen 3 EPYC 2,212 of 12,610
    /// values of a 130x97x61 product differ in their last bits between 1 and 2 threads, so there a
    /// run's last bits depend on `--threads`.
    public var keepsBitsAcrossThreads: Bool {
        switch kind {
        case .mkl: return true
        case .openblas: return ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(OpenBLAS.shared.coreName)
        }
    }

    /// The library, opened once. Stops the program with the reason when it cannot be opened:
    /// commands call `load()` first to turn that into an error message.
    public static var shared: ProductLibrary { loaded.valueOrStop }

    /// Opens the chosen library (once) and returns it, or why it could not be opened.
    @discardableResult
    public static func load() throws(BLASError) -> ProductLibrary { try loaded.get() }

    private static let loaded: Result<ProductLibrary, BLASError> = Result {
        () throws(BLASError) -> ProductLibrary in
        let openblas = try OpenBLAS.load()
        let request = environment(variable)
        let explicitPath = environment(MKL.pathVariable).flatMap { $0.isEmpty ? nil : $0 }
        // The MKL search only runs when MKL could be chosen; a named path is opened even for `auto`
        // (a path the user gave that does not open is an error, not a silent fallback).
        var mkl: Result<MKL, BLASError>?
        if (request ?? "").lowercased() != Kind.openblas.rawValue {
            do throws(BLASError) {
                if let found = try MKL.locate(explicitPath: explicitPath) { mkl = .success(try MKL.open(path: found)) }
            } catch {
                mkl = .failure(error)
            }
        }
        // `auto` with MKL present: measure which multiplies faster here (cached per CPU, versions
        // and threads; `ProductCalibration`).
        var calibration: ProductCalibration?
        var mklDescription: String?
        if case .success(let library)? = mkl, ["", "auto"].contains((request ?? "").lowercased()) {
            let description = try library.configure()
            mklDescription = description
            let threads = Int(openblas.entries.products.getThreads())
            library.products.setThreads(Int32(threads))
            let key = ProductCalibration.Key(cpu: ProductCalibration.cpuModel(), openblas: openblas.summary, mkl: description, threads: threads)
            calibration = ProductCalibration.cached(key: key, file: ProductCalibration.cacheFile(environment: { environment($0) })) {
                ProductCalibration(key: key, openblasSeconds: ProductCalibration.time(openblas.entries.products.sgemm),
                                   mklSeconds: ProductCalibration.time(library.products.sgemm))
            }.0
        }
        let choice = try choose(request: request, mkl: mkl.map { r in r.map(\.path) }, cpuIsIntel: cllm4rec_cpu_is_intel() != 0,
                                calibration: calibration)
        switch choice.kind {
        case .openblas:
            return ProductLibrary(kind: .openblas, reason: choice.reason, description: openblas.summary,
                                  products: openblas.entries.products)
        case .mkl:
            let library = try mkl!.get()
            let description: String
            if let mklDescription { description = mklDescription } else { description = try library.configure() }
            // Matrix-vector products (one decoding step's) stay on OpenBLAS: see `ProductLibrary`.
            let mixed = ProductEntryPoints(sgemm: library.products.sgemm, sgemv: openblas.entries.products.sgemv,
                                           setThreads: library.products.setThreads, getThreads: library.products.getThreads)
            return ProductLibrary(kind: .mkl, reason: choice.reason,
                                  description: description + " for matrix products, OpenBLAS \(openblas.coreName) for matrix-vector ones",
                                  products: mixed)
        }
    }

    /// The library to use and why: a pure function of the request (`CLLM4REC_BLAS`), what the MKL
    /// search gave (nil: not searched, since `openblas` was asked for; `.success(nil)`: searched,
    /// not found; `.failure`: a named MKL that did not open), the CPU's vendor, and, for `auto` with
    /// MKL found, what calibration measured (which then decides; without it, the vendor does).
    ///
    ///     choose(request: nil, mkl: .success("/usr/local/lib/libmkl_rt.so.3"), cpuIsIntel: true)
    ///     // (.mkl, "Intel CPU, MKL found at /usr/local/lib/libmkl_rt.so.3")
    ///     choose(request: nil, mkl: .success("/usr/local/lib/libmkl_rt.so.3"), cpuIsIntel: false)
    ///     // (.openblas, "MKL found at ... but not used on a CPU that is not Intel's ...")
    public static func choose(request: String?, mkl: Result<String?, BLASError>?, cpuIsIntel: Bool,
                              calibration: ProductCalibration? = nil)
        throws(BLASError) -> (kind: Kind, reason: String) {
        let asked = (request ?? "").lowercased()
        switch asked {
        case "", "auto":
            switch mkl {
            case .failure(let error)?: throw error
            case .success(let path?)? where calibration != nil:
                let c = calibration!.choice
                return (c.kind, "MKL found at \(path), \(c.reason)")
            case .success(let path?)? where cpuIsIntel:
                return (.mkl, "Intel CPU, MKL found at \(path)")
            case .success(let path?)?:
                return (.openblas, "MKL found at \(path) but not used on a CPU that is not Intel's, where it runs "
                        + "slower code than OpenBLAS; \(variable)=mkl uses it anyway")
            case .success(nil)?, nil:
                return (.openblas, cpuIsIntel ? "MKL not found; on this Intel CPU it would run the products faster: "
                                                + "bash Tools/install/mkl.sh" : "MKL not found")
            }
        case Kind.openblas.rawValue:
            return (.openblas, "\(variable)=openblas")
        case Kind.mkl.rawValue:
            switch mkl {
            case .failure(let error)?: throw error
            case .success(let path?)?: return (.mkl, "\(variable)=mkl, found at \(path)")
            case .success(nil)?, nil:
                throw BLASError("\(variable)=mkl: MKL's libmkl_rt was not found (looked on the library path and in "
                                + MKL.searchDirectories(environment: { environment($0) }).joined(separator: ", ")
                                + "); install it with `bash Tools/install/mkl.sh`, or set \(MKL.pathVariable) to its libmkl_rt.so file")
            }
        default:
            throw BLASError("\(variable)=\(request ?? ""): not a product library; use auto, openblas or mkl")
        }
    }
}
