import CCurl
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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

/// One thread polling the sockets of every transfer of a transport and driving libcurl through
/// `curl_multi_socket_action` (`CurlMulti`). Other threads hand it work through a locked command
/// queue and a wake-up pipe; all easy/multi handle calls (including `curl_easy_pause`) happen on
/// this thread, as libcurl requires. A transfer with a `notBefore` waits in the engine until then
/// (the poll's timeout ends on time for the earliest), so that a rate-limited request costs no
/// timer and no extra thread wake-up.
///
/// Streams (watches) and requests run on two multi handles, so on two connections: the dozen
/// long-lived watches share one HTTP/2 connection, and an answer to a request, arriving on the
/// other, runs only the requests in flight instead of every watch as well.
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
        /// While the engine waits in `poll` (nil while it is awake): when the poll's timeout ends.
        /// A transfer due no earlier is picked up then, so adding it needs no wake-up (at a rate
        /// limit most requests are held, and each wake-up is a context switch of the engine's
        /// thread); nor does any command while the engine is awake.
        var sleepingUntil: ContinuousClock.Instant?
        /// A byte is in the wake-up pipe that the engine has not read yet: one is enough.
        var wakePending = false
    }

    /// Engine thread only (the transport's requests, and its streams).
    private let requests: CurlMulti
    private let streams: CurlMulti
    private let wakePipe: WakePipe
    private let queue = Mutex(Queue())
    let options: CurlEngineOptions
    let statistics = Mutex(CurlTransportStatistics())

    init(options: CurlEngineOptions = CurlEngineOptions()) throws {
        let failed = KubeError.transport(TransportError(kind: .other, detail: "libcurl could not be initialised"))
        guard CurlGlobal.initialized, let requests = CurlMulti(options: options) else { throw failed }
        guard let streams = CurlMulti(options: options) else {
            requests.cleanup()
            throw failed
        }
        guard let wakePipe = WakePipe() else {
            requests.cleanup()
            streams.cleanup()
            throw KubeError.transport(TransportError(kind: .other, detail: "the transport's wake-up pipe could not be made"))
        }
        self.requests = requests
        self.streams = streams
        self.wakePipe = wakePipe
        self.options = options
        startOSThread(name: "kube-curl") { [self] in self.run() }
    }

    /// Hands a command to the engine thread. After shutdown, new transfers fail at once.
    func post(_ command: Command) {
        let accepted = queue.withLock { q -> Bool in
            guard !q.shuttingDown else { return false }
            q.commands.append(command)
            // Awake, the engine reads the queue before it sleeps again.
            guard let wake = q.sleepingUntil else { return true }
            if case .add(let t) = command, let due = t.spec.notBefore, due >= wake { return true }
            if !q.wakePending {
                q.wakePending = true
                wakePipe.wake()
            }
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
            wakePipe.wake()
        }
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        // Reset handles for the next transfers (see `CurlEngineOptions.spareEasyHandles`).
        var spare: [UnsafeMutableRawPointer] = []
        func release(_ t: CurlTransfer) {
            if let easy = t.releaseEasyHandle(keep: spare.count < options.spareEasyHandles) { spare.append(easy) }
        }
        func multi(for t: CurlTransfer) -> CurlMulti { t.spec.isStream ? streams : requests }
        let multis = [requests, streams]
        // Transfers waiting for their `notBefore`, earliest first (equal times in arrival order).
        var waiting: [(due: ContinuousClock.Instant, transfer: CurlTransfer)] = []
        func countHeld() { statistics.withLock { $0.heldTransfers = waiting.count } }
        // Sockets the last poll found ready, with the `CURL_CSELECT_*` bits for libcurl.
        var ready: [(multi: CurlMulti, socket: curl_socket_t, events: Int32)] = []
        var pollSet: [pollfd] = []
        var pollOwners: [CurlMulti] = []

        func start(_ t: CurlTransfer) {
            if t.isCancelled {
                t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                return
            }
            do {
                let reused = spare.popLast()
                if reused == nil { statistics.withLock { $0.easyHandlesMade += 1 } }
                let easy = try t.makeEasyHandle(reusing: reused)
                let rc = curl_multi_add_handle(multi(for: t).raw, easy)
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
                // Commands from here on need a new byte in the pipe (what was in it is read below
                // the poll, or makes the next poll return at once).
                q.wakePending = false
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
                        _ = curl_multi_remove_handle(multi(for: t).raw, easy)
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
                    _ = curl_multi_remove_handle(multi(for: t).raw, easy)
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
                    requests.cleanup()
                    streams.cleanup()
                    wakePipe.close()
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
                let started = waiting[..<due].map(\.transfer)
                waiting.removeFirst(due)
                countHeld()
                for t in started { start(t) }
            }

            // libcurl acts on the sockets that are ready, then on the timers that are due (a
            // transfer just added is due at once).
            for (owner, socket, events) in ready { owner.act(on: socket, events: events) }
            ready.removeAll(keepingCapacity: true)
            now = ContinuousClock.now
            for owner in multis { owner.actOnTimer(now: now) }
            for owner in multis {
                for (easy, result) in owner.finished() {
                    guard let t = active.removeValue(forKey: easy) else { continue }
                    _ = curl_multi_remove_handle(owner.raw, easy)
                    let newConnections = t.complete(result: result)
                    release(t)
                    statistics.withLock {
                        $0.connectionsOpened += newConnections
                        $0.activeTransfers = active.count
                    }
                }
            }

            // Wake up for the earliest of libcurl's timers and the waiting transfers (rounded up
            // to a whole millisecond, so it is due when the poll returns), else after a second.
            var timeout: Int32 = 1000
            now = ContinuousClock.now
            for earliest in multis.map(\.timerDue) + [waiting.first?.due] {
                guard let earliest else { continue }
                let wait = now.duration(to: earliest)
                let milliseconds = wait.components.seconds * 1000 + (wait.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
                timeout = Int32(clamping: max(0, min(Int64(timeout), milliseconds)))
            }
            pollSet.removeAll(keepingCapacity: true)
            pollOwners.removeAll(keepingCapacity: true)
            pollSet.append(pollfd(fd: wakePipe.readEnd, events: Int16(POLLIN), revents: 0))
            for owner in multis {
                for (socket, what) in owner.sockets {
                    var events: Int16 = 0
                    if what & ccurl_poll_in() != 0 { events |= Int16(POLLIN) }
                    if what & ccurl_poll_out() != 0 { events |= Int16(POLLOUT) }
                    pollSet.append(pollfd(fd: socket, events: events, revents: 0))
                    pollOwners.append(owner)
                }
            }
            // A command that comes in from now on finds the engine asleep: it writes to the pipe,
            // unless it is a held transfer due no earlier than the poll's own timeout.
            let wake = now.advanced(by: .milliseconds(timeout))
            let pending = queue.withLock { q -> Bool in
                q.sleepingUntil = wake
                return !q.commands.isEmpty
            }
            _ = poll(&pollSet, nfds_t(pollSet.count), pending ? 0 : timeout)
            if pollSet[0].revents != 0 { wakePipe.drain() }
            for (index, entry) in pollSet.enumerated().dropFirst() where entry.revents != 0 {
                var events: Int32 = 0
                if entry.revents & Int16(POLLIN | POLLHUP) != 0 { events |= ccurl_cselect_in() }
                if entry.revents & Int16(POLLOUT) != 0 { events |= ccurl_cselect_out() }
                if entry.revents & Int16(POLLERR | POLLNVAL) != 0 { events |= ccurl_cselect_err() }
                ready.append((pollOwners[index - 1], entry.fd, events))
            }
        }
    }

    func recordStreamBuffer(bytes: Int, paused: Bool) {
        statistics.withLock {
            if bytes > $0.streamBufferHighWaterMark { $0.streamBufferHighWaterMark = bytes }
            if paused { $0.streamPauses += 1 }
        }
    }
}
