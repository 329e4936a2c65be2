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
    /// New TCP connections libcurl had to open (the rest reused a pooled connection).
    public var connectionsOpened = 0
    /// Transfers running now.
    public var activeTransfers = 0
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
/// (including `curl_easy_pause`) happen on this thread, as libcurl requires.
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
        while true {
            let (commands, stop) = queue.withLock { q -> ([Command], Bool) in
                defer { q.commands.removeAll(keepingCapacity: true) }
                return (q.commands, q.shuttingDown)
            }
            for command in commands {
                switch command {
                case .add(let t):
                    if t.isCancelled {
                        t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                        continue
                    }
                    do {
                        let easy = try t.makeEasyHandle()
                        let rc = curl_multi_add_handle(multi.raw, easy)
                        guard rc == CURLM_OK else {
                            t.fail(TransportError(kind: .other, detail: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(rc)))", url: t.spec.url))
                            t.releaseEasyHandle()
                            continue
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
                case .cancel(let t):
                    if let easy = t.easy, active.removeValue(forKey: easy) != nil {
                        _ = curl_multi_remove_handle(multi.raw, easy)
                        t.fail(TransportError(kind: .cancelled, detail: "", url: t.spec.url))
                        t.releaseEasyHandle()
                        statistics.withLock { $0.activeTransfers = active.count }
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
                    t.releaseEasyHandle()
                }
                active.removeAll()
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
                t.releaseEasyHandle()
                statistics.withLock {
                    $0.connectionsOpened += newConnections
                    $0.activeTransfers = active.count
                }
            }
            var fds: Int32 = 0
            _ = curl_multi_poll(multi.raw, nil, 0, 1000, &fds)
        }
    }

    func recordStreamBuffer(bytes: Int, paused: Bool) {
        statistics.withLock {
            if bytes > $0.streamBufferHighWaterMark { $0.streamBufferHighWaterMark = bytes }
            if paused { $0.streamPauses += 1 }
        }
    }
}
