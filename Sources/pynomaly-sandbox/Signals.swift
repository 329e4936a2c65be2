import Foundation
import Synchronization

/// Catches SIGINT and SIGTERM for the life of the process, turning each into an event.
final class SignalCatcher: Sendable {
    /// Kept for the life of the catcher (a released source stops delivering); set once in init and
    /// never touched again, hence safe to share.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]
    private let flag = SignalFlag()

    init(_ sink: AsyncStream<SandboxEvent>.Continuation) {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "signals")
        let flag = flag
        var installed: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                flag.set()
                sink.yield(.signal(number))
            }
            source.resume()
            installed.append(source)
        }
        sources = installed
    }

    /// Whether a termination signal has arrived.
    var received: Bool { flag.isSet }
}

/// A flag set once from the signal queue and read from tasks.
final class SignalFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
