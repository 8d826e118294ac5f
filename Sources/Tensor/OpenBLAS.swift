import COpenBLAS

#if canImport(Glibc)
import Glibc
#endif

/// The OpenBLAS shared library, opened with dlopen, and the few entry points the engine calls.
///
/// OpenBLAS fixes its kernel set (`gotoblas`) in its load-time constructor from `OPENBLAS_CORETYPE`
/// or its own CPU detection, so the choice has to be made before the library is loaded: this type
/// sets `OPENBLAS_CORETYPE` for the duration of `dlopen` only, then puts the environment back.
public struct OpenBLAS: @unchecked Sendable {
    typealias GetString = @convention(c) () -> UnsafeMutablePointer<CChar>?
    /// LAPACK's Fortran interface (`dpotrf_`, `dpotri_`): uplo, n, a, lda, info, and the hidden
    /// length of the uplo string that gfortran passes last.
    typealias DPOTRx = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<Int32>?, UnsafeMutablePointer<Double>?,
                                       UnsafePointer<Int32>?, UnsafeMutablePointer<Int32>?, Int) -> Void
    /// `dsyev_`: jobz, uplo, n, a, lda, w, work, lwork, info, and the hidden lengths of jobz and uplo.
    typealias DSYEV = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<Int32>?, UnsafeMutablePointer<Double>?,
                                      UnsafePointer<Int32>?, UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?,
                                      UnsafePointer<Int32>?, UnsafeMutablePointer<Int32>?, Int, Int) -> Void

    /// Environment variable naming the OpenBLAS kernel set this program asks for (`SkylakeX`,
    /// `Haswell`, `Zen`, ...), or `openblas` to leave the choice to OpenBLAS and `OPENBLAS_CORETYPE`.
    public static let coreTypeVariable = "CLLM4REC_BLAS_CORETYPE"

    /// The C functions this library is called through; all plain pointers, so the hot path copies no Strings.
    struct EntryPoints {
        /// cblas_sgemm, cblas_sgemv and the thread count: what `BLAS` calls when OpenBLAS runs the products.
        let products: ProductEntryPoints
        /// LAPACK, when the library carries it (Debian's OpenBLAS does).
        let dpotrf: DPOTRx?
        let dpotri: DPOTRx?
        let dsyev: DSYEV?
    }
    let entries: EntryPoints
    /// `shared`'s entry points, resolved once.
    static let entryPoints = shared.entries
    /// The kernel set OpenBLAS runs (`openblas_get_corename`), e.g. "SkylakeX".
    public let coreName: String
    /// The spin time OpenBLAS took (`openblas_thread_timeout`, 2^x cycles; nil: not exported).
    public let threadTimeout: Int?
    /// OpenBLAS's build description (`openblas_get_config`), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...".
    public let config: String
    /// Why this kernel set: the variable that named it, or the CPU feature that chose it.
    public let reason: String

    /// One line for logs and benchmarks: "OpenBLAS 0.3.21 ..., kernels SkylakeX (AVX-512 CPU)".
    public var summary: String { "\(config), kernels \(coreName) (\(reason))" }

    /// The library, opened once. A program that wants a clean error instead of a stop calls
    /// `OpenBLAS.load()` first.
    public static var shared: OpenBLAS { loaded.valueOrStop }

    /// Opens OpenBLAS (once) and returns it, or why it could not be opened.
    @discardableResult
    public static func load() throws(BLASError) -> OpenBLAS { try loaded.get() }

    private static let loaded: Result<OpenBLAS, BLASError> = Result {
        () throws(BLASError) -> OpenBLAS in
        let choice = kernelChoice(override: environment(coreTypeVariable), openblasCoreType: environment("OPENBLAS_CORETYPE"),
                                  cpuHasAVX512: cllm4rec_cpu_has_avx512() != 0)
        return try open(choice: choice)
    }

    /// The kernel set to ask OpenBLAS for (`nil`: let it decide) and why. Pure, so it is tested on
    /// every combination.
    ///
    ///     kernelChoice(override: nil, openblasCoreType: "Haswell", cpuHasAVX512: true)
    ///     // ("SkylakeX", "AVX-512 CPU; OPENBLAS_CORETYPE=Haswell overridden, set CLLM4REC_BLAS_CORETYPE=openblas to keep it")
    ///     kernelChoice(override: "openblas", openblasCoreType: "Haswell", cpuHasAVX512: true)
    ///     // (nil, "OPENBLAS_CORETYPE=Haswell")
    public static func kernelChoice(override: String?, openblasCoreType: String?, cpuHasAVX512: Bool)
        -> KernelChoice {
        let inherited = openblasCoreType.flatMap { $0.isEmpty ? nil : "OPENBLAS_CORETYPE=\($0)" } ?? "OpenBLAS's CPU detection"
        if let override, !override.isEmpty {
            if override.lowercased() == "openblas" { return KernelChoice(coreType: nil, reason: inherited, explicit: true) }
            return KernelChoice(coreType: override, reason: "\(coreTypeVariable)=\(override)", explicit: true)
        }
        if cpuHasAVX512 {
            var reason = "AVX-512 CPU"
            if let openblasCoreType, !openblasCoreType.isEmpty, openblasCoreType.lowercased() != "skylakex" {
                reason += "; OPENBLAS_CORETYPE=\(openblasCoreType) overridden, set \(coreTypeVariable)=openblas to keep it"
            }
            return KernelChoice(coreType: "SkylakeX", reason: reason, explicit: false)
        }
        return KernelChoice(coreType: nil, reason: inherited, explicit: false)
    }

    /// The kernel set to ask for (nil: OpenBLAS decides), why, and whether the user named it.
    public struct KernelChoice: Equatable, Sendable {
        public var coreType: String?
        public var reason: String
        /// Named by `CLLM4REC_BLAS_CORETYPE`: a set OpenBLAS does not run is then an error; chosen
        /// by this program, it falls back to what OpenBLAS runs (a build without those kernels).
        public var explicit: Bool
    }

    static let libraryNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"]

    /// How long OpenBLAS's idle threads spin before they sleep, as OpenBLAS counts it: 2^x cycles.
    /// Its default, 2^28 (~0.1 s), keeps them spinning (sched_yield) through the engine's own
    /// parallel loops and attention tasks between products, where they take turns with the
    /// engine's workers: the scheduler was 17% of a SmolLM2 1x1024 forward's samples. 2^23 cycles
    /// (~3 ms at 2.8 GHz) keeps them awake across a layer's back-to-back products and a decoding
    /// step's, asleep through a parallel section: forward 1x1024 1.10x, 4x128 1.16x as fast (median
    /// of 9 alternating pairs, Intel Xeon 2.8 GHz AVX-512, 2 threads), training and generation
    /// unchanged. A value the user set in OPENBLAS_THREAD_TIMEOUT is kept.
    public static let threadTimeoutExponent = 23

    static func open(choice: KernelChoice) throws(BLASError) -> OpenBLAS {
        let saved = environment("OPENBLAS_CORETYPE")
        if let core = choice.coreType { setenv("OPENBLAS_CORETYPE", core, 1) }
        // OpenBLAS reads both variables once, in its load-time constructor.
        let savedTimeout = environment("OPENBLAS_THREAD_TIMEOUT")
        if savedTimeout == nil { setenv("OPENBLAS_THREAD_TIMEOUT", "\(threadTimeoutExponent)", 1) }
        defer { if savedTimeout == nil { unsetenv("OPENBLAS_THREAD_TIMEOUT") } }
        var handle: UnsafeMutableRawPointer?
        var failures: [String] = []
        for name in libraryNames where handle == nil {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle == nil { failures.append(dlerror().map { String(cString: $0) } ?? name) }
        }
        if let saved { setenv("OPENBLAS_CORETYPE", saved, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        guard let handle else {
            throw BLASError("OpenBLAS could not be opened (install it: apt-get install -y libopenblas-dev): "
                            + failures.joined(separator: "; "))
        }
        func symbol<T>(_ name: String, as type: T.Type) throws(BLASError) -> T {
            guard let p = dlsym(handle, name) else {
                throw BLASError("the OpenBLAS library that was opened has no \(name): is it OpenBLAS?")
            }
            return unsafeBitCast(p, to: type)
        }
        let timeout = dlsym(handle, "openblas_thread_timeout").map { unsafeBitCast($0, to: ProductEntryPoints.GetThreads.self)() }
        let corename = try symbol("openblas_get_corename", as: GetString.self)
        let config = try symbol("openblas_get_config", as: GetString.self)
        let running = corename().map { String(cString: $0) } ?? "unknown"
        var reason = choice.reason
        if let core = choice.coreType, core.lowercased() != running.lowercased() {
            // An unknown name makes OpenBLAS fall back to its own detection: a name the user gave
            // is refused rather than run on other kernels than asked for.
            guard !choice.explicit else {
                throw BLASError("\(choice.reason): OpenBLAS has no kernel set named \(core) (it chose \(running)); "
                                + "names include SkylakeX, Cooperlake, Haswell, Zen, Sandybridge, or `openblas` for its own choice")
            }
            reason += "; this OpenBLAS build has no \(core) kernels"
        }
        return OpenBLAS(
            entries: EntryPoints(
                products: ProductEntryPoints(
                    sgemm: try symbol("cblas_sgemm", as: ProductEntryPoints.SGEMM.self),
                    sgemv: try symbol("cblas_sgemv", as: ProductEntryPoints.SGEMV.self),
                    setThreads: try symbol("openblas_set_num_threads", as: ProductEntryPoints.SetThreads.self),
                    getThreads: try symbol("openblas_get_num_threads", as: ProductEntryPoints.GetThreads.self)),
                dpotrf: dlsym(handle, "dpotrf_").map { unsafeBitCast($0, to: DPOTRx.self) },
                dpotri: dlsym(handle, "dpotri_").map { unsafeBitCast($0, to: DPOTRx.self) },
                dsyev: dlsym(handle, "dsyev_").map { unsafeBitCast($0, to: DSYEV.self) }),
            coreName: running, threadTimeout: timeout.map(Int.init),
            config: config().map { String(cString: $0).trimmingTrailingSpaces } ?? "OpenBLAS", reason: reason)
    }
}
