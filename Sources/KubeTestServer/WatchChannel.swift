import Foundation
import KubeCore
import Synchronization

/// The outgoing side of one watch: a bounded queue of encoded lines between the store (producer,
/// never blocks) and the connection writer (consumer). A consumer that falls more than `limit`
/// lines behind is closed, as kube-apiserver closes watchers that cannot keep up; the client then
/// re-watches from its last resourceVersion.
final class WatchChannel: ByteChunkSource, Sendable {
    private struct State {
        var queue: [Data] = []
        var head = 0
        var closed = false
        /// Close after the queued lines are delivered (timeout, ERROR line) rather than at once.
        var finishing = false
        var waiter: CheckedContinuation<Data?, Never>?
        var onClose: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Queues one line (a newline is appended). Returns false when the channel is closed or overflowed.
    @discardableResult
    func push(_ line: Data, bypassLimit: Bool = false) -> Bool {
        var data = line
        data.append(0x0A)
        let (accepted, resume, closers) = state.withLock { s -> (Bool, CheckedContinuation<Data?, Never>?, [@Sendable () -> Void]) in
            guard !s.closed, !s.finishing else { return (false, nil, []) }
            if let w = s.waiter {
                s.waiter = nil
                return (true, w, [])
            }
            if !bypassLimit, s.queue.count - s.head >= limit {
                // Too slow: drop the watcher instead of blocking the writer or growing without bound.
                s.closed = true
                s.queue.removeAll()
                s.head = 0
                let c = s.onClose
                s.onClose = []
                return (false, nil, c)
            }
            s.queue.append(data)
            return (true, nil, [])
        }
        resume?.resume(returning: data)
        closers.forEach { $0() }
        return accepted
    }

    /// Ends the stream once the queued lines have been read.
    func finish() {
        let (resume, closers) = state.withLock { s -> (CheckedContinuation<Data?, Never>?, [@Sendable () -> Void]) in
            guard !s.closed, !s.finishing else { return (nil, []) }
            s.finishing = true
            let c = s.onClose
            s.onClose = []
            if s.head >= s.queue.count, let w = s.waiter {
                s.waiter = nil
                s.closed = true
                return (w, c)
            }
            return (nil, c)
        }
        resume?.resume(returning: nil)
        closers.forEach { $0() }
    }

    var isClosed: Bool { state.withLock { $0.closed || $0.finishing } }

    /// Runs `body` when the channel closes for any reason (or at once if it already has).
    func onClose(_ body: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.closed || s.finishing { return true }
            s.onClose.append(body)
            return false
        }
        if runNow { body() }
    }

    // MARK: ByteChunkSource

    func next() async throws -> Data? {
        await withCheckedContinuation { (cont: CheckedContinuation<Data?, Never>) in
            let immediate: Data?? = state.withLock { s in
                if s.head < s.queue.count {
                    let d = s.queue[s.head]
                    s.head += 1
                    if s.head > 1024, s.head * 2 > s.queue.count {
                        s.queue.removeFirst(s.head)
                        s.head = 0
                    }
                    return .some(d)
                }
                if s.closed || s.finishing {
                    s.closed = true
                    return .some(nil)
                }
                s.waiter = cont
                return .none
            }
            if let value = immediate { cont.resume(returning: value) }
        }
    }

    func cancel() {
        let (resume, closers) = state.withLock { s -> (CheckedContinuation<Data?, Never>?, [@Sendable () -> Void]) in
            s.closed = true
            s.queue.removeAll()
            s.head = 0
            let w = s.waiter
            s.waiter = nil
            let c = s.onClose
            s.onClose = []
            return (w, c)
        }
        resume?.resume(returning: nil)
        closers.forEach { $0() }
    }
}
