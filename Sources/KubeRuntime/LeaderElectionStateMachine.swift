#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Tunables of leader election (client-go defaults: 15 s / 10 s / 2 s).
public struct LeaderElectionConfiguration: Sendable, Hashable {
    public var leaseNamespace: String
    public var leaseName: String
    /// Unique per process: pod name (or host name) plus a random suffix.
    public var identity: String
    /// How long a lease is valid after its last renewal; followers wait this long to take over.
    public var leaseDuration: Double
    /// A leader that could not renew for this long gives up (before its lease can expire elsewhere).
    public var renewDeadline: Double
    /// Time between attempts to acquire or renew.
    public var retryPeriod: Double
    /// Release the lease when stopped gracefully, so a successor need not wait for it to expire.
    public var releaseOnCancel: Bool

    public init(leaseNamespace: String, leaseName: String, identity: String = LeaderElectionConfiguration.defaultIdentity(),
                leaseDuration: Double = 15, renewDeadline: Double = 10, retryPeriod: Double = 2, releaseOnCancel: Bool = true) {
        self.leaseNamespace = leaseNamespace
        self.leaseName = leaseName
        self.identity = identity
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
        self.releaseOnCancel = releaseOnCancel
    }

    /// What is wrong with these settings, each naming its field (empty when usable). The renew
    /// deadline must be shorter than the lease, so a leader gives up before anyone may take over.
    public var problems: [String] {
        var out: [String] = []
        if leaseNamespace.isEmpty { out.append("leaseNamespace must not be empty") }
        if leaseName.isEmpty { out.append("leaseName must not be empty") }
        if identity.isEmpty { out.append("identity must not be empty") }
        if !(leaseDuration >= 1) { out.append("leaseDuration (\(leaseDuration) s) must be at least 1 s: the Lease stores whole seconds") }
        if !(renewDeadline > 0) || renewDeadline >= leaseDuration {
            out.append("renewDeadline (\(renewDeadline) s) must be positive and shorter than leaseDuration (\(leaseDuration) s)")
        }
        if !(retryPeriod > 0) || retryPeriod >= renewDeadline {
            out.append("retryPeriod (\(retryPeriod) s) must be positive and shorter than renewDeadline (\(renewDeadline) s)")
        }
        return out
    }

    /// `POD_NAME` (or the host name) plus `_` and eight random hex digits.
    public static func defaultIdentity(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["POD_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? ProcessInfo.processInfo.hostName
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(base)_\(String(repeating: "0", count: 8 - suffix.count))\(suffix)"
    }
}

/// The `spec` of a coordination.k8s.io/v1 Lease.
public struct LeaseRecord: Sendable, Hashable {
    public var holderIdentity: String?
    public var leaseDurationSeconds: Int
    public var acquireTime: Date?
    public var renewTime: Date?
    public var leaseTransitions: Int

    public init(holderIdentity: String?, leaseDurationSeconds: Int, acquireTime: Date?, renewTime: Date?, leaseTransitions: Int) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }

    /// Reads `spec` of a Lease object (missing fields read as empty).
    public init(lease: JSONValue) {
        let spec = lease["spec"] ?? .object([:])
        holderIdentity = spec["holderIdentity"]?.stringValue
        leaseDurationSeconds = Int(spec["leaseDurationSeconds"]?.intValue ?? 0)
        acquireTime = spec["acquireTime"]?.stringValue.flatMap(KubeTime.parse)
        renewTime = spec["renewTime"]?.stringValue.flatMap(KubeTime.parse)
        leaseTransitions = Int(spec["leaseTransitions"]?.intValue ?? 0)
    }

    /// The holder, with "" read as none.
    public var holder: String? { holderIdentity.flatMap { $0.isEmpty ? nil : $0 } }

    /// Free (no holder) or not renewed within its duration.
    public func isExpired(at now: Date) -> Bool {
        guard holder != nil, let renewed = renewTime else { return true }
        return renewed.addingTimeInterval(Double(leaseDurationSeconds)) < now
    }

    /// `lease` with this record as its spec (times as MicroTime, six fractional digits).
    public func written(into lease: JSONValue) -> JSONValue {
        var spec = lease["spec"] ?? .object([:])
        spec["holderIdentity"] = holderIdentity.map(JSONValue.string) ?? .null
        spec["leaseDurationSeconds"] = .int(Int64(leaseDurationSeconds))
        spec["acquireTime"] = acquireTime.map { .string(KubeTime.format($0, fractionalDigits: 6)) } ?? .null
        spec["renewTime"] = renewTime.map { .string(KubeTime.format($0, fractionalDigits: 6)) } ?? .null
        spec["leaseTransitions"] = .int(Int64(leaseTransitions))
        var out = lease
        out["spec"] = spec
        return out
    }
}

/// Leader election on a Lease as a pure state machine (client-go `leaderelection.go`): after each
/// GET of the lease it decides what to write; the outcome of writes moves it between follower and
/// leader. Safety rests on the API server's optimistic concurrency: every write carries the
/// resourceVersion that was read, so of two candidates only one write succeeds (409 for the other).
public struct LeaderElectionStateMachine: Sendable {
    public enum Role: Sendable, Hashable { case follower, leader, stopped }

    /// What to do after reading the lease.
    public enum Decision: Sendable, Hashable {
        /// No lease yet: create this one.
        case create(JSONValue)
        /// Take or renew the lease: PUT this object (it carries the resourceVersion read).
        case update(JSONValue)
        /// Someone else holds a valid lease.
        case wait(holder: String)
    }

    /// What changed, for callbacks.
    public enum Transition: Sendable, Hashable {
        case startedLeading
        case stoppedLeading
        case newLeader(String)
    }

    public let configuration: LeaderElectionConfiguration
    public private(set) var role: Role = .follower
    /// Monotonic time of the last successful acquire or renew.
    public private(set) var lastRenew: Double?
    /// The lease as last written by us (what a release starts from).
    public private(set) var lastWritten: JSONValue?
    public private(set) var observedHolder: String?

    public init(configuration: LeaderElectionConfiguration) {
        self.configuration = configuration
    }

    public var isLeader: Bool { role == .leader }

    /// Decides what to write given the lease read (`nil`: it does not exist). A leader that finds
    /// someone else holding a valid lease has lost it: `transitions` then says so at once.
    public mutating func decide(lease: JSONValue?, wallNow: Date) -> (decision: Decision, transitions: [Transition]) {
        let me = configuration.identity
        guard let lease else {
            let record = LeaseRecord(holderIdentity: me, leaseDurationSeconds: Int(configuration.leaseDuration.rounded(.up)),
                                     acquireTime: wallNow, renewTime: wallNow, leaseTransitions: 0)
            let object: JSONValue = [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": .string(configuration.leaseName), "namespace": .string(configuration.leaseNamespace)],
            ]
            return (.create(record.written(into: object)), [])
        }
        let current = LeaseRecord(lease: lease)
        var transitions: [Transition] = []
        if let holder = current.holder, holder != observedHolder {
            observedHolder = holder
            if holder != me { transitions.append(.newLeader(holder)) }
        }
        if let holder = current.holder, holder != me, !current.isExpired(at: wallNow) {
            if role == .leader {
                role = .follower
                lastRenew = nil
                transitions.append(.stoppedLeading)
            }
            return (.wait(holder: holder), transitions)
        }
        var record = current
        if current.holder != me {
            record.acquireTime = wallNow
            record.leaseTransitions = current.leaseTransitions + 1
        }
        record.holderIdentity = me
        record.renewTime = wallNow
        record.leaseDurationSeconds = Int(configuration.leaseDuration.rounded(.up))
        return (.update(record.written(into: lease)), transitions)
    }

    /// The write decided on succeeded; `written` is the server's answer.
    public mutating func writeSucceeded(_ written: JSONValue, now: Double) -> [Transition] {
        lastWritten = written
        lastRenew = now
        observedHolder = configuration.identity
        guard role == .follower else { return [] }
        role = .leader
        return [.startedLeading]
    }

    /// A GET or write failed (409 included). A leader that has not renewed within the renew
    /// deadline stops leading: its lease may be taken over soon after.
    public mutating func attemptFailed(now: Double) -> [Transition] {
        guard role == .leader, let last = lastRenew, now - last >= configuration.renewDeadline else { return [] }
        role = .follower
        lastRenew = nil
        return [.stoppedLeading]
    }

    /// The lease write that gives it up (as client-go: no holder, duration 1 s), when we lead.
    public mutating func release(wallNow: Date) -> (lease: JSONValue?, transitions: [Transition]) {
        defer { role = .stopped }
        guard role == .leader, let lease = lastWritten else { return (nil, []) }
        var record = LeaseRecord(lease: lease)
        record.holderIdentity = ""
        record.leaseDurationSeconds = 1
        record.renewTime = wallNow
        record.acquireTime = wallNow
        return (record.written(into: lease), [.stoppedLeading])
    }

    /// Stops without a release (the lease expires on its own).
    public mutating func stop() -> [Transition] {
        defer { role = .stopped }
        return role == .leader ? [.stoppedLeading] : []
    }
}
