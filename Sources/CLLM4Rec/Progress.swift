import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Progress of a long stage: a bar redrawn in place on a terminal, plain lines every `interval`
/// seconds otherwise (logs, CI), always to standard error.
public final class ProgressReporter: @unchecked Sendable {
    let isTerminal = isatty(2) != 0
    let interval: Double
    var lastPrint = 0.0
    let started = Date()

    public init(interval: Double = 30) { self.interval = interval }

    /// `fraction` of the whole stage is done; the ETA extrapolates from the time so far.
    public func update(_ text: String, fraction: Double, force: Bool = false) {
        let elapsed = Date().timeIntervalSince(started)
        let eta = fraction > 0.001 ? elapsed * (1 - fraction) / fraction : 0
        let bar = ProgressReporter.bar(fraction, width: 20)
        let line = "\(bar) \(text) | elapsed \(ProgressReporter.clock(elapsed)) ETA \(ProgressReporter.clock(eta))"
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            if force { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if force || elapsed - lastPrint >= interval {
            lastPrint = elapsed
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// A line that stays (phase summaries), printed on standard output.
    public func note(_ text: String) {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(text)
        fflush(nil)
    }

    static func bar(_ f: Double, width: Int) -> String {
        let n = max(0, min(width, Int(f * Double(width))))
        return "[" + String(repeating: "#", count: n) + String(repeating: ".", count: width - n) + "]" + String(format: " %3.0f%%", 100 * f)
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Set by SIGINT: training loops stop at the next step boundary and save a checkpoint.
nonisolated(unsafe) public var interruptRequested = false

/// Routes Ctrl-C to `interruptRequested` (a second Ctrl-C ends the process at once).
public func installInterruptHandler() {
    signal(SIGINT) { _ in
        if interruptRequested { _exit(130) }
        interruptRequested = true
    }
}
