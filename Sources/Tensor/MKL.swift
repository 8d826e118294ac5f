#if canImport(Glibc)
import Glibc
#endif

/// Intel's MKL (its single dynamic library `libmkl_rt`), found, opened with dlopen and set up
/// before its first product. Never linked: the program builds and runs without it.
///
/// Set-up, each step left to the user when they set MKL's own variable:
/// - the threading layer (`MKL_THREADING_LAYER`): Intel OpenMP when `libiomp5` is next to MKL or on
///   the library path, else GNU OpenMP (`libgomp`, part of GCC), else one thread per product. MKL's
///   default, Intel OpenMP, ends the process with "undefined symbol: omp_get_num_procs" at the first
///   product when `libiomp5` is missing (`pip install mkl` without `intel-openmp`), so it is never
///   left to chance;
/// - strict conditional numerical reproducibility (`MKL_CBWR`) on the code path MKL picks for this
///   CPU: sgemm then gives the same bits on any thread count, as OpenBLAS does and as this engine's
///   tests and exact resume expect. Measured cost on SmolLM2-135M steps: within noise;
/// - how long Intel OpenMP's idle threads spin (`KMP_BLOCKTIME`, see `blocktimeMilliseconds`).
struct MKL {
    /// Environment variable naming MKL's `libmkl_rt.so*` file, or the folder holding it.
    static let pathVariable = "CLLM4REC_MKL"
    static let libraryNames = ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]

    /// Milliseconds Intel OpenMP's threads spin after a product before they sleep (its default: 200).
    /// Spinning threads take turns with this engine's own loops between products on the same cores;
    /// 0 was the fastest on SmolLM2-135M training steps (Intel Xeon 2.8 GHz, 2 threads, one
    /// alternating run of 5 pairs, frozen fwd+bwd 20x64: 404 tok/s, against 383 with 1 ms, 350 with
    /// 5, 354 with 200; forward 4x128 754, 715, 678, 729). Decoding, which it slows, keeps its
    /// matrix-vector products on OpenBLAS (see `ProductLibrary`).
    static let blocktimeMilliseconds = 0

    typealias SetLayer = @convention(c) (Int32) -> Int32
    typealias GetInt = @convention(c) () -> Int32
    typealias SetInt = @convention(c) (Int32) -> Int32
    typealias VersionString = @convention(c) (UnsafeMutablePointer<CChar>?, Int32) -> Void

    let path: String
    let products: ProductEntryPoints
    private let setThreadingLayer: SetLayer
    private let autoBranch: GetInt
    private let setCNR: SetInt
    private let versionString: VersionString

    /// Folders searched (after the dynamic linker's own search) for `libmkl_rt`: where `pip install
    /// mkl` puts it in a virtual environment, a conda environment, a `--user` or `--prefix ~/.local`
    /// install, a system-wide install, and Intel's oneAPI installer.
    ///
    ///     searchDirectories(environment: { ["HOME": "/home/u"][$0] })
    ///     // ["/home/u/.local/lib", "/usr/local/lib", "/opt/intel/oneapi/mkl/latest/lib", ...]
    static func searchDirectories(environment: (String) -> String?) -> [String] {
        var dirs: [String] = []
        for variable in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = environment(variable), !prefix.isEmpty { dirs.append(prefix + "/lib") }
        }
        if let home = environment("HOME"), !home.isEmpty { dirs.append(home + "/.local/lib") }
        dirs += ["/usr/local/lib", "/opt/intel/oneapi/mkl/latest/lib", "/opt/intel/oneapi/mkl/latest/lib/intel64"]
        return dirs
    }

    /// The path of MKL's library: the one `CLLM4REC_MKL` names (a file, or a folder holding one of
    /// `libraryNames`; an error when it names neither), else the first the dynamic linker finds, else
    /// the first in `searchDirectories`; nil when there is none.
    static func locate(explicitPath: String?) throws(BLASError) -> String? {
        if let explicit = explicitPath {
            if isDirectory(explicit) {
                if let file = libraryFile(in: explicit) { return file }
                throw BLASError("\(pathVariable)=\(explicit): the folder holds none of \(libraryNames.joined(separator: ", "))")
            }
            guard isReadableFile(explicit) else { throw BLASError("\(pathVariable)=\(explicit): no such file") }
            return explicit
        }
        for name in libraryNames {
            // The linker's search (LD_LIBRARY_PATH, its cache): the path is read back from a symbol.
            guard let handle = dlopen(name, RTLD_LAZY | RTLD_LOCAL) else { continue }
            if let symbol = dlsym(handle, "cblas_sgemm"), let file = fileDefining(symbol) { return file }
            dlclose(handle)
        }
        return searchDirectories(environment: { environment($0) }).lazy.compactMap(libraryFile(in:)).first
    }

    /// The first of `libraryNames` that is a readable file in `dir`, as a path.
    private static func libraryFile(in dir: String) -> String? {
        libraryNames.lazy.map { dir + "/" + $0 }.first(where: isReadableFile)
    }

    /// Opens the library at `path` and resolves the functions this program calls; calls none of them.
    static func open(path: String) throws(BLASError) -> MKL {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw BLASError("\(path): could not be opened: " + (dlerror().map { String(cString: $0) } ?? "dlopen failed"))
        }
        func symbol<T>(_ name: String, as type: T.Type) throws(BLASError) -> T {
            guard let p = dlsym(handle, name) else { throw BLASError("\(path) has no \(name): is it MKL's libmkl_rt?") }
            return unsafeBitCast(p, to: type)
        }
        return MKL(
            path: path,
            products: ProductEntryPoints(
                sgemm: try symbol("cblas_sgemm", as: ProductEntryPoints.SGEMM.self),
                sgemv: try symbol("cblas_sgemv", as: ProductEntryPoints.SGEMV.self),
                setThreads: try symbol("MKL_Set_Num_Threads", as: ProductEntryPoints.SetThreads.self),
                getThreads: try symbol("MKL_Get_Max_Threads", as: ProductEntryPoints.GetThreads.self)),
            setThreadingLayer: try symbol("MKL_Set_Threading_Layer", as: SetLayer.self),
            autoBranch: try symbol("MKL_CBWR_Get_Auto_Branch", as: GetInt.self),
            setCNR: try symbol("MKL_CBWR_Set", as: SetInt.self),
            versionString: try symbol("MKL_Get_Version_String", as: VersionString.self))
    }

    // MKL's constants (mkl_service.h, mkl_cbwr.h).
    static let layerIntel: Int32 = 0, layerSequential: Int32 = 1, layerGNU: Int32 = 3
    static let cnrStrict: Int32 = 0x10000
    static let branchNames: [Int32: String] = [3: "compatible", 4: "SSE2", 6: "SSSE3", 7: "SSE4.1", 8: "SSE4.2", 9: "AVX",
                                               10: "AVX2", 12: "AVX-512", 14: "AVX-512 E1"]

    /// The threading layer to ask for, given what is installed, and its name; nil when the user
    /// set `MKL_THREADING_LAYER` (MKL reads it) or an error when that asks for a missing runtime.
    ///
    ///     threadingLayer(userLayer: nil, intelOpenMP: false, gnuOpenMP: true)  // (3, "GNU OpenMP")
    static func threadingLayer(userLayer: String?, intelOpenMP: Bool, gnuOpenMP: Bool) throws(BLASError)
        -> (code: Int32?, name: String) {
        if let user = userLayer, !user.isEmpty {
            switch user.uppercased() {
            case "INTEL" where !intelOpenMP:
                throw BLASError("MKL_THREADING_LAYER=\(user) but Intel OpenMP (libiomp5.so) was not found: "
                                + "install it (pip install intel-openmp) or unset the variable")
            case "GNU" where !gnuOpenMP:
                throw BLASError("MKL_THREADING_LAYER=\(user) but GNU OpenMP (libgomp.so.1) was not found")
            default:
                return (nil, "MKL_THREADING_LAYER=\(user)")
            }
        }
        if intelOpenMP { return (layerIntel, "Intel OpenMP") }
        if gnuOpenMP { return (layerGNU, "GNU OpenMP") }
        return (layerSequential, "sequential: no OpenMP runtime found, one thread per product")
    }

    /// Sets MKL up before its first product (threading layer, reproducibility, spin time) and
    /// returns one line describing it: "MKL 2026.2 (AVX-512 code, strict CNR, Intel OpenMP)".
    func configure() throws(BLASError) -> String {
        let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let intel = isReadableFile(folder + "/libiomp5.so") || dlopen("libiomp5.so", RTLD_LAZY | RTLD_LOCAL) != nil
        let gnu = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_LOCAL) != nil
        let userLayer = environment("MKL_THREADING_LAYER")
        let layer = try MKL.threadingLayer(userLayer: userLayer, intelOpenMP: intel, gnuOpenMP: gnu)
        if layer.code == MKL.layerIntel || (layer.code == nil && userLayer?.uppercased() == "INTEL") {
            // Set before MKL loads Intel OpenMP (which reads it when its first parallel region
            // starts); a value the user set is kept.
            setenv("KMP_BLOCKTIME", "\(MKL.blocktimeMilliseconds)", 0)
        }
        if let code = layer.code {
            let got = setThreadingLayer(code)
            guard got == code else { throw BLASError("\(path): MKL did not take threading layer \(code) (it has \(got))") }
        }
        var cnr: String
        if let user = environment("MKL_CBWR"), !user.isEmpty {
            cnr = "MKL_CBWR=\(user)"
        } else {
            let branch = autoBranch()
            let name = MKL.branchNames[branch] ?? "branch \(branch)"
            let status = setCNR(branch | MKL.cnrStrict)
            cnr = status == 0 ? "\(name) code, strict CNR" : "\(name) code, CNR not strict (MKL_CBWR_Set: \(status))"
        }
        var buffer = [CChar](repeating: 0, count: 512)
        versionString(&buffer, Int32(buffer.count - 1))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // "Intel(R) oneAPI Math Kernel Library Version 2026.2-Product Build ...": keep "2026.2".
        var version = "?"
        if let range = text.firstRange(of: "Version ") {
            version = String(text[range.upperBound...].prefix { $0 != "-" && $0 != " " })
        }
        return "MKL \(version) (\(cnr), \(layer.name))"
    }
}

/// The file of the loaded library that defines `symbol` (glibc's `dladdr`, which Swift's Glibc
/// module leaves out: it is a GNU extension, declared only under _GNU_SOURCE).
private func fileDefining(_ symbol: UnsafeMutableRawPointer) -> String? {
    // Dl_info: dli_fname, dli_fbase, dli_sname, dli_saddr.
    typealias DLAddr = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32
    guard let program = dlopen(nil, RTLD_NOW), let dladdr = dlsym(program, "dladdr") else { return nil }
    var info: (UnsafePointer<CChar>?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil, nil, nil)
    let found = withUnsafeMutableBytes(of: &info) { unsafeBitCast(dladdr, to: DLAddr.self)(symbol, $0.baseAddress) }
    guard found != 0, let name = info.0 else { return nil }
    return String(cString: name)
}

private func isReadableFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, R_OK) == 0
}

private func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}
