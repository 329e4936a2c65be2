#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Prometheus
import Synchronization

/// Runs leader election (the async shell around `LeaderElectionStateMachine`): tries to acquire
/// the lease every retry period, renews it while leading, reports the loss of leadership at once
/// (callback and `isLeader`), and releases the lease when its task is cancelled.
public final class LeaderElector: Sendable {
    public typealias Client = KubernetesReader & KubernetesWriter

    /// Called on the election's task; keep them short (e.g. start or cancel the controllers).
    public struct Callbacks: Sendable {
        public var onStartedLeading: @Sendable () -> Void
        public var onStoppedLeading: @Sendable () -> Void
        public var onNewLeader: @Sendable (String) -> Void

        public init(onStartedLeading: @escaping @Sendable () -> Void = {}, onStoppedLeading: @escaping @Sendable () -> Void = {},
                    onNewLeader: @escaping @Sendable (String) -> Void = { _ in }) {
            self.onStartedLeading = onStartedLeading
            self.onStoppedLeading = onStoppedLeading
            self.onNewLeader = onNewLeader
        }
    }

    /// How `run` ended.
    public enum Outcome: Sendable, Hashable {
        /// Cancelled; the lease was released if we held it (and `releaseOnCancel`).
        case stopped
        /// Leadership was lost (lease taken or not renewed in time): the process must stop acting.
        case lostLeadership
    }

    public let configuration: LeaderElectionConfiguration
    private let client: any Client
    private let clock: any RuntimeClock
    private let callbacks: Callbacks
    private let random: @Sendable () -> Double
    private let machine: Mutex<LeaderElectionStateMachine>
    private let changes = Mutex<[AsyncStream<Bool>.Continuation]>([])
    /// `leader_election_master_status{name=<lease name>}`, when metrics are exported.
    private let statusGauge: Gauge?

    /// Throws `KubeError.configuration` naming the field when the timings cannot work (see
    /// `LeaderElectionConfiguration.problems`).
    public init(client: any Client, configuration: LeaderElectionConfiguration, clock: any RuntimeClock = SystemClock(),
                callbacks: Callbacks = Callbacks(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                metrics: RuntimeMetrics? = nil) throws {
        let problems = configuration.problems
        guard problems.isEmpty else {
            throw KubeError.configuration("leader election: " + problems.joined(separator: "; "))
        }
        self.client = client
        self.configuration = configuration
        self.clock = clock
        self.callbacks = callbacks
        self.random = random
        self.machine = Mutex(LeaderElectionStateMachine(configuration: configuration))
        self.statusGauge = metrics?.leaderElectionStatus(name: configuration.leaseName)
        statusGauge?.set(0.0)
    }

    public var isLeader: Bool { machine.withLock { $0.isLeader } }
    public var identity: String { configuration.identity }

    /// true when leadership starts, false when it ends (one consumer per call).
    public func leadershipChanges() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream.makeStream(of: Bool.self)
        changes.withLock { $0.append(continuation) }
        return stream
    }

    /// Campaigns, then leads until cancelled or until leadership is lost.
    @discardableResult
    public func run() async -> Outcome {
        // Follower: try until we lead.
        while !isLeader {
            await attempt()
            if isLeader { break }
            let wait = configuration.retryPeriod * (1 + 0.2 * random())
            do { try await clock.sleep(for: wait) } catch { return await stop() }
        }
        // Leader: renew every retry period.
        while true {
            do { try await clock.sleep(for: configuration.retryPeriod) } catch { return await stop() }
            await attempt()
            if !isLeader {
                finish()
                return .lostLeadership
            }
        }
    }

    /// One acquire-or-renew round: GET, decide, write.
    private func attempt() async {
        let lease: JSONValue?
        do {
            lease = try await client.get(.leases, namespace: configuration.leaseNamespace, name: configuration.leaseName, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            lease = nil
        } catch {
            failed()
            return
        }
        let wallNow = clock.wallTime
        let (decision, transitions) = machine.withLock { $0.decide(lease: lease, wallNow: wallNow) }
        report(transitions)
        do {
            let written: JSONValue
            switch decision {
            case .wait:
                return
            case .create(let object):
                written = try await client.create(.leases, namespace: configuration.leaseNamespace, object: object, options: WriteOptions())
            case .update(let object):
                written = try await client.update(.leases, namespace: configuration.leaseNamespace, name: configuration.leaseName,
                                                  object: object, subresource: nil, options: WriteOptions())
            }
            let now = clock.now
            report(machine.withLock { $0.writeSucceeded(written, now: now) })
        } catch {
            // 409: someone else wrote first; the next GET shows who.
            failed()
        }
    }

    private func failed() {
        let now = clock.now
        report(machine.withLock { $0.attemptFailed(now: now) })
    }

    /// Cancelled: release the lease (in a task of its own, so the cancellation does not abort the write).
    private func stop() async -> Outcome {
        if configuration.releaseOnCancel {
            let wallNow = clock.wallTime
            let (lease, transitions) = machine.withLock { $0.release(wallNow: wallNow) }
            report(transitions)
            if let lease {
                let (client, configuration) = (client, configuration)
                _ = await Task {
                    try? await client.update(.leases, namespace: configuration.leaseNamespace, name: configuration.leaseName,
                                             object: lease, subresource: nil, options: WriteOptions())
                }.value
            }
        } else {
            report(machine.withLock { $0.stop() })
        }
        finish()
        return .stopped
    }

    private func report(_ transitions: [LeaderElectionStateMachine.Transition]) {
        for transition in transitions {
            switch transition {
            case .startedLeading:
                statusGauge?.set(1.0)
                callbacks.onStartedLeading()
                for c in changes.withLock({ $0 }) { c.yield(true) }
            case .stoppedLeading:
                statusGauge?.set(0.0)
                callbacks.onStoppedLeading()
                for c in changes.withLock({ $0 }) { c.yield(false) }
            case .newLeader(let holder):
                callbacks.onNewLeader(holder)
            }
        }
    }

    private func finish() {
        for c in changes.withLock({ let all = $0; $0 = []; return all }) { c.finish() }
    }
}
