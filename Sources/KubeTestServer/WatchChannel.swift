import Foundation
import KubeCore
import Synchronization

/// The outgoing side of one watch: a bounded queue of encoded lines between the store (producer,
/// never blocks) and the connection writer (consumer). A consumer that falls more than `limit`
/// lines behind is closed, as kube-apiserver closes watchers that cannot keep up; the client then
/// re-watches from its last resourceVersion.
final class WatchChannel: ByteChunkSource, Sendable {
    fileprivate struct State {
        var queue: [Data] = []
        var head = 0
        var closed = false
        /// Close after the queued lines are delivered (timeout, ERROR line) rather than at once.
        var finishing = false
        var waiter: CheckedContinuation<Data?, Never>?
        var onClose: [@Sendable () -> Void] = []
        /// Fault injection: end the stream after this many events (bookmarks not counted).
        var eventBudget: Int?
        var events = 0
        var onBudgetSpent: (@Sendable () -> Void)?
        /// Ended as by a broken connection: `next()` throws instead of ending the stream.
        var aborted = false
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
                return (true, w, s.countEvent(data))
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
            return (true, nil, s.countEvent(data))
        }
        resume?.resume(returning: data)
        closers.forEach { $0() }
        return accepted
    }

    /// Fault injection: the stream ends cleanly once `events` events were sent. Called when the
    /// watch starts: a longer backlog is cut to `events` lines (the client re-watches from the
    /// last resourceVersion it saw, so nothing is lost). `onSpent` runs when the budget is spent.
    func limitEvents(_ events: Int, onSpent: @escaping @Sendable () -> Void) {
        let (resume, closers) = state.withLock { s -> (CheckedContinuation<Data?, Never>?, [@Sendable () -> Void]) in
            guard !s.closed, !s.finishing else { return (nil, []) }
            // Lines already queued (a backlog) count: keep at most `events` of them.
            if s.queue.count - s.head > events { s.queue.removeSubrange((s.head + events)...) }
            s.events = s.queue.count - s.head
            s.eventBudget = events
            s.onBudgetSpent = onSpent
            let c = s.spendBudgetIfDone()
            // Already spent with nothing left to read: end the waiting reader now.
            if !c.isEmpty, s.head >= s.queue.count, let w = s.waiter {
                s.waiter = nil
                s.closed = true
                return (w, c)
            }
            return (nil, c)
        }
        resume?.resume(returning: nil)
        closers.forEach { $0() }
    }

    /// Ends the stream as a broken connection would: a pending or later `next()` throws
    /// `TransportError` `connectionClosed`.
    func abort() {
        state.withLock { $0.aborted = true }
        cancel()
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
        let line = await withCheckedContinuation { (cont: CheckedContinuation<Data?, Never>) in
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
        if line == nil, state.withLock({ $0.aborted }) {
            throw KubeError.transport(TransportError(kind: .connectionClosed, detail: "the test server dropped the watch (restart)"))
        }
        return line
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

extension WatchChannel.State {
    /// Counts a queued line against the event budget; when it is spent the channel starts
    /// finishing and the close handlers (plus the budget's own) are returned to run outside the lock.
    mutating func countEvent(_ line: Data) -> [@Sendable () -> Void] {
        guard eventBudget != nil else { return [] }
        // Bookmarks are progress notifications, not events.
        if line.range(of: Data("\"BOOKMARK\"".utf8)) == nil { events += 1 }
        return spendBudgetIfDone()
    }

    mutating func spendBudgetIfDone() -> [@Sendable () -> Void] {
        guard let budget = eventBudget, events >= budget, !finishing, !closed else { return [] }
        finishing = true
        eventBudget = nil
        var c = onClose
        onClose = []
        if let spent = onBudgetSpent { c.append(spent) }
        onBudgetSpent = nil
        return c
    }
}
