import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Time as the runtime sees it: a monotonic clock for delays and timings, a wall clock for
/// timestamps written to the API (Lease renew times, Events). Injected everywhere, so tests can
/// drive time by hand instead of sleeping.
public protocol RuntimeClock: Sendable {
    /// Monotonic seconds since an arbitrary origin; only differences are meaningful.
    var now: Double { get }
    /// Wall-clock time, for timestamps other processes read.
    var wallTime: Date { get }
    /// Suspends until `now >= deadline`. Throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Double) async throws
}

extension RuntimeClock {
    /// Suspends for `seconds` (nothing when zero or negative).
    public func sleep(for seconds: Double) async throws {
        try await sleep(until: now + max(0, seconds))
    }
}

/// The real clock: `DispatchTime` uptime for monotonic time, `Date()` for wall time.
public struct SystemClock: RuntimeClock {
    public init() {}

    public var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    public var wallTime: Date { Date() }

    public func sleep(until deadline: Double) async throws {
        let delta = deadline - now
        if delta > 0 {
            try await Task.sleep(nanoseconds: UInt64(delta * 1e9))
        } else {
            try Task.checkCancellation()
        }
    }
}

/// A clock that only moves when a test calls `advance(by:)`. Sleepers whose deadline is reached
/// resume in deadline order; wall time moves with monotonic time from a fixed start.
public final class ManualClock: RuntimeClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: Double
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Double = 0
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        /// Sleeps started but not yet registered, and those among them cancelled meanwhile.
        var unregistered: Set<UInt64> = []
        var cancelledBeforeRegistration: Set<UInt64> = []
    }

    private let state = Mutex(State())
    private let wallOrigin: Date

    /// - Parameter wallOrigin: the wall time at monotonic time 0.
    public init(wallOrigin: Date = Date(timeIntervalSince1970: 1_900_000_000)) {
        self.wallOrigin = wallOrigin
    }

    public var now: Double { state.withLock { $0.now } }
    public var wallTime: Date { wallOrigin.addingTimeInterval(now) }

    /// How many tasks are currently suspended in `sleep` (lets a test wait until a timer is armed).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline anyone sleeps until, if any.
    public var nextDeadline: Double? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by seconds: Double) {
        let due: [Sleeper] = state.withLock { s in
            s.now += max(0, seconds)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Advances to the earliest pending deadline (if any) and wakes its sleepers.
    public func advanceToNextDeadline() {
        guard let next = nextDeadline else { return }
        advance(by: max(0, next - now))
    }

    public func sleep(until deadline: Double) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.unregistered.insert(s.nextID)
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case resume, cancelled, wait }
                let outcome: Outcome = state.withLock { s in
                    s.unregistered.remove(id)
                    if s.cancelledBeforeRegistration.remove(id) != nil { return .cancelled }
                    if deadline <= s.now { return .resume }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return .wait
                }
                switch outcome {
                case .resume: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { s in
                if let index = s.sleepers.firstIndex(where: { $0.id == id }) {
                    return s.sleepers.remove(at: index)
                }
                // Not registered yet: remember, so the registration fails at once.
                if s.unregistered.contains(id) { s.cancelledBeforeRegistration.insert(id) }
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
