import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Synchronization

/// libcurl's global initialisation, done once before the first handle (a static let runs once, thread-safely).
enum CurlGlobal {
    static let initialized: Bool = curl_global_init(ccurl_global_all()) == CURLE_OK
}

/// The `CURLM*` handle. Used only on the engine thread, except `curl_multi_wakeup`, which libcurl
/// documents as callable from any thread (we call it under the queue lock, so never after cleanup).
struct MultiHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// Counters of a `CurlTransport`, for tests and metrics.
public struct CurlTransportStatistics: Sendable, Hashable {
    /// Transfers handed to libcurl.
    public var transfersStarted = 0
    /// Easy handles made for them (the rest reused a spare one).
    public var easyHandlesMade = 0
    /// New TCP connections libcurl had to open (the rest reused a pooled connection).
    public var connectionsOpened = 0
    /// Transfers running now.
    public var activeTransfers = 0
    /// Transfers waiting in the engine for their `notBefore` (a rate limiter's turn).
    public var heldTransfers = 0
    /// The most bytes any stream held in its buffer waiting for a slow consumer.
    public var streamBufferHighWaterMark = 0
    /// Times a stream paused the network read because its consumer was behind.
    public var streamPauses = 0
}

/// Tunables of the multi handle.
struct CurlEngineOptions: Sendable {
    /// 0: no bound (watches each hold an HTTP/1.1 connection for their whole life).
    var maxConnectionsPerHost = 0
    var maxTotalConnections = 0
    /// Idle connections kept for reuse.
    var idleConnectionCache = 32
    /// A stream pauses its network read when its buffer holds more than this.
    var streamBufferLimit = 1 << 20
    /// Easy handles kept, reset, for the next transfers: making and freeing one per request was a
    /// few percent of a busy operator's CPU. Each kept handle holds its buffers (tens of KiB), so
    /// only as many as requests usually overlap.
    var spareEasyHandles = 4
}

/// Keeps an engine running while anything uses it: the transport, and every transfer in flight
/// (a stream body holds its transfer), so a watch outlives the client value that opened it. The
/// last owner to go stops the engine's thread.
final class CurlEngineLifetime: Sendable {
    let engine: CurlEngine
    init(engine: CurlEngine) { self.engine = engine }
    deinit { engine.shutdown() }
}

/// One thread running `curl_multi_poll` for every transfer of a transport. Other threads hand it
/// work through a locked command queue and `curl_multi_wakeup`; all easy/multi handle calls
/// (including `curl_easy_pause`) happen on this thread, as libcurl requires. A transfer with a
/// `notBefore` waits in the engine until then (the poll's timeout ends on time for the earliest),
/// so that a rate-limited request costs no timer and no extra thread wake-up.
final class CurlEngine: Sendable {
    enum Command {
        case add(CurlTransfer)
        case cancel(CurlTransfer)
        case unpause(CurlTransfer)
    }

    private struct Queue {
        var commands: [Command] = []
        var shuttingDown = false
        var stopped = false
        /// While the engine waits in `curl_multi_poll` with nothing but its timeout to end the wait
        /// early: when that timeout ends. A transfer due no earlier is picked up then, so adding it
        /// needs no wake-up (at a rate limit most requests are held, and each wake-up is a context
        /// switch of the engine's thread).
        var sleepingUntil: ContinuousClock.Instant?
    }

    private let multi: MultiHandle
    private let queue = Mutex(Queue())
    let options: CurlEngineOptions
    let statistics = Mutex(CurlTransportStatistics())

    init(options: CurlEngineOptions = CurlEngineOptions()) throws {
        guard CurlGlobal.initialized, let m = curl_multi_init() else {
            throw KubeError.transport(TransportError(kind: .other, detail: "libcurl could not be initialised"))
        }
        self.multi = MultiHandle(raw: m)
        self.options = options
        // One pool of connections for all requests; HTTP/2 streams share a connection when offered.
        _ = ccurl_multi_setopt_long(m, CURLMOPT_PIPELINING, ccurl_pipe_multiplex())
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAX_HOST_CONNECTIONS, options.maxConnectionsPerHost)
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.maxTotalConnections)
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAXCONNECTS, max(options.idleConnectionCache, options.maxTotalConnections))
        startOSThread(name: "kube-curl") { [self] in self.run() }
    }

    /// Hands a command to the engine thread. After shutdown, new transfers fail at once.
    func post(_ command: Command) {
        let accepted = queue.withLock { q -> Bool in
            guard !q.shuttingDown else { return false }
            q.commands.append(command)
            if case .add(let t) = command, let due = t.spec.notBefore, let wake = q.sleepingUntil, due >= wake { return true }
            _ = curl_multi_wakeup(multi.raw)
            return true
        }
        if !accepted, case .add(let transfer) = command {
            transfer.fail(TransportError(kind: .cancelled, detail: "the transport was shut down", url: transfer.spec.url))
        }
    }

    /// Stops the thread; running transfers end with a cancellation error.
    func shutdown() {
        queue.withLock { q in
            guard !q.shuttingDown else { return }
            q.shuttingDown = true
            _ = curl_multi_wakeup(multi.raw)
        }
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        // Reset handles for the next transfers (see `CurlEngineOptions.spareEasyHandles`).
        var spare: [UnsafeMutableRawPointer] = []
        func release(_ t: CurlTransfer) {
            if let easy = t.releaseEasyHandle(keep: spare.count < options.spareEasyHandles) { spare.append(easy) }
        }
        // Transfers waiting for their `notBefore`, earliest first (equal times in arrival order).
        var waiting: [(due: ContinuousClock.Instant, transfer: CurlTransfer)] = []
        func countHeld() { statistics.withLock { $0.heldTransfers = waiting.count } }

        func start(_ t: CurlTransfer) {
            if t.isCancelled {
                t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                return
            }
            do {
                let reused = spare.popLast()
                if reused == nil { statistics.withLock { $0.easyHandlesMade += 1 } }
                let easy = try t.makeEasyHandle(reusing: reused)
                let rc = curl_multi_add_handle(multi.raw, easy)
                guard rc == CURLM_OK else {
                    t.fail(TransportError(kind: .other, detail: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(rc)))", url: t.spec.url))
                    release(t)
                    return
                }
                active[easy] = t
                statistics.withLock {
                    $0.transfersStarted += 1
                    $0.activeTransfers = active.count
                }
            } catch let e as TransportError {
                t.fail(e)
            } catch {
                t.fail(TransportError(kind: .other, detail: "\(error)", url: t.spec.url))
            }
        }

        while true {
            let (commands, stop) = queue.withLock { q -> ([Command], Bool) in
                defer { q.commands.removeAll(keepingCapacity: true) }
                q.sleepingUntil = nil
                return (q.commands, q.shuttingDown)
            }
            var now = ContinuousClock.now
            for command in commands {
                switch command {
                case .add(let t):
                    if let due = t.spec.notBefore, due > now, !t.isCancelled {
                        let index = waiting.firstIndex { $0.due > due } ?? waiting.endIndex
                        waiting.insert((due, t), at: index)
                        countHeld()
                    } else {
                        start(t)
                    }
                case .cancel(let t):
                    if let easy = t.easy, active.removeValue(forKey: easy) != nil {
                        _ = curl_multi_remove_handle(multi.raw, easy)
                        t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                        release(t)
                        statistics.withLock { $0.activeTransfers = active.count }
                    } else if let index = waiting.firstIndex(where: { $0.transfer === t }) {
                        waiting.remove(at: index)
                        countHeld()
                        t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                    }
                case .unpause(let t):
                    if let easy = t.easy, active[easy] != nil {
                        // May call the write callback right here with the data held back while paused.
                        _ = curl_easy_pause(easy, ccurl_pause_cont())
                    }
                }
            }
            if stop {
                for (easy, t) in active {
                    _ = curl_multi_remove_handle(multi.raw, easy)
                    t.fail(TransportError(kind: .cancelled, detail: "the transport was shut down", url: t.spec.url))
                    release(t)
                }
                active.removeAll()
                for easy in spare { curl_easy_cleanup(easy) }
                spare.removeAll()
                for (_, t) in waiting {
                    t.fail(TransportError(kind: .cancelled, detail: "the transport was shut down", url: t.spec.url))
                }
                waiting.removeAll()
                countHeld()
                let leftover = queue.withLock { q -> [Command] in
                    q.stopped = true
                    _ = curl_multi_cleanup(multi.raw)
                    defer { q.commands.removeAll() }
                    return q.commands
                }
                for case .add(let t) in leftover {
                    t.fail(TransportError(kind: .cancelled, detail: "the transport was shut down", url: t.spec.url))
                }
                return
            }
            var due = 0
            while due < waiting.count, waiting[due].due <= now { due += 1 }
            if due > 0 {
                let ready = waiting[..<due].map(\.transfer)
                waiting.removeFirst(due)
                countHeld()
                for t in ready { start(t) }
            }

            var running: Int32 = 0
            _ = curl_multi_perform(multi.raw, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi.raw, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle,
                      let t = active.removeValue(forKey: easy)
                else { continue }
                let result = msg.pointee.data.result
                _ = curl_multi_remove_handle(multi.raw, easy)
                let newConnections = t.complete(result: result)
                release(t)
                statistics.withLock {
                    $0.connectionsOpened += newConnections
                    $0.activeTransfers = active.count
                }
            }
            // Wake up for the earliest waiting transfer (rounded up to a whole millisecond, so
            // it is due when the poll returns), else after a second at the latest.
            var timeout: Int32 = 1000
            now = ContinuousClock.now
            if let first = waiting.first {
                let wait = now.duration(to: first.due)
                let milliseconds = wait.components.seconds * 1000 + (wait.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
                timeout = Int32(clamping: max(0, min(Int64(timeout), milliseconds)))
            }
            // Commands that came in since the queue was read wake the poll at once (`curl_multi_wakeup`
            // is remembered until the next poll), so this only spares the wake-ups of later ones.
            let wake = now.advanced(by: .milliseconds(timeout))
            queue.withLock { $0.sleepingUntil = wake }
            var fds: Int32 = 0
            _ = curl_multi_poll(multi.raw, nil, 0, timeout, &fds)
        }
    }

    func recordStreamBuffer(bytes: Int, paused: Bool) {
        statistics.withLock {
            if bytes > $0.streamBufferHighWaterMark { $0.streamBufferHighWaterMark = bytes }
            if paused { $0.streamPauses += 1 }
        }
    }
}
