import Foundation
import KubeCore

/// What the next simulation pass visits: the objects commits touched since the last pass (and
/// the Deployment or CronJob that owns a touched Pod or Job, the HPA whose target was touched),
/// the objects whose timer is due (a Pod's start, a progress deadline, a Job's end), or every
/// object when a full pass is asked for (start, a settings or rule change, a pass while the
/// simulation is off). A pass then costs what changed, not the size of the store. As a safety
/// net for a change the bookkeeping misses, a resync visits every object once per
/// `resyncInterval`, a slice at a time, so no single pass stalls the server for a whole sweep.
struct SimulationQueue: Sendable {
    enum Kind: Sendable, Hashable, CaseIterable {
        case pod, deployment, job, cronJob, hpa

        /// The storage of this kind's objects.
        var storage: String {
            switch self {
            case .pod: "/pods"
            case .deployment: "apps/deployments"
            case .job: "batch/jobs"
            case .cronJob: "batch/cronjobs"
            case .hpa: "autoscaling/horizontalpodautoscalers"
            }
        }

        /// The kind whose objects live in this storage.
        init?(storage: String) {
            switch storage {
            case "/pods": self = .pod
            case "apps/deployments": self = .deployment
            case "batch/jobs": self = .job
            case "batch/cronjobs": self = .cronJob
            case "autoscaling/horizontalpodautoscalers": self = .hpa
            default: return nil
            }
        }
    }

    struct Key: Hashable, Sendable {
        var kind: Kind
        /// "namespace/name", as the store keys objects.
        var name: String
    }

    /// Whether commits are recorded one by one; while the simulation is off a commit only asks
    /// for a full pass (what switching it on, or a pass run by hand, does anyway).
    var recording = false
    var full = true
    var dirty: Set<Key> = []
    /// When an object's timer is due.
    var due: [Key: Date] = [:]
    /// Seconds in which the resync visits every object while running; nil: no resync (tests
    /// that check the bookkeeping alone).
    var resyncInterval: Double? = 10
    /// The resync's slices: each object belongs to one (by its position in its kind's sorted
    /// keys), and one slice is due every `resyncInterval / resyncSlices` seconds.
    static let resyncSlices = 10
    var nextResync = Date.distantFuture
    var nextSlice = 0
    /// uids of simulated objects removed since the last pass: what the simulation remembers
    /// about them (start times, Pod IPs) goes.
    var gone: Set<String> = []
    /// HPA scale targets, by "namespace/name" of the target (any kind: a touched object of that
    /// name wakes the HPA, which then looks its target up), and each HPA's target.
    var hpasByTarget: [String: Set<String>] = [:]
    var targetOfHPA: [String: String] = [:]

    /// Records one commit; returns whether a pass should run for it.
    mutating func note(_ event: StoreEvent) -> Bool {
        let kind = Kind(storage: event.storage)
        if kind == .hpa { indexHPA(key: event.key, event.type == .deleted ? nil : event.object) }
        let hpas = hpasByTarget[event.key] ?? []
        guard kind != nil || !hpas.isEmpty else { return false }
        guard recording else {
            full = true
            return true
        }
        for hpa in hpas { dirty.insert(Key(kind: .hpa, name: hpa)) }
        guard let kind else { return true }
        dirty.insert(Key(kind: kind, name: event.key))
        if event.type == .deleted, let uid = OwnerIndex.uid(event.old ?? event.object) { gone.insert(uid) }
        let ownerKind: (kind: String, queued: Kind)? = switch kind {
        case .pod: ("Deployment", .deployment)
        case .job: ("CronJob", .cronJob)
        default: nil
        }
        if let ownerKind {
            for object in [event.old, event.object] {
                guard let object else { continue }
                let ns = object[path: ["metadata", "namespace"]]?.stringValue
                for ref in object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] where ref["kind"]?.stringValue == ownerKind.kind {
                    guard let name = ref["name"]?.stringValue else { continue }
                    dirty.insert(Key(kind: ownerKind.queued, name: ObjectStore.key(namespace: ns, name: name)))
                }
            }
        }
        return true
    }

    private mutating func indexHPA(key: String, _ hpa: JSONValue?) {
        if let old = targetOfHPA.removeValue(forKey: key) {
            hpasByTarget[old]?.remove(key)
            if hpasByTarget[old]?.isEmpty == true { hpasByTarget[old] = nil }
        }
        guard let hpa, let target = hpa[path: ["spec", "scaleTargetRef", "name"]]?.stringValue else { return }
        let targetKey = ObjectStore.key(namespace: hpa[path: ["metadata", "namespace"]]?.stringValue, name: target)
        targetOfHPA[key] = targetKey
        hpasByTarget[targetKey, default: []].insert(key)
    }

    /// The HPAs that scale the object with this "namespace/name".
    func hpas(targeting key: String) -> Set<String> { hpasByTarget[key] ?? [] }

    /// Starts a pass at `now`: whether it visits every object, else the resync slice due now
    /// (its objects are to be marked). A full pass forgets the marks and timers (every object is
    /// visited and sets its timer again) and starts the resync's sweep over.
    mutating func startPass(now: Date) -> (full: Bool, resyncSlice: Int?) {
        let tick = recording ? resyncInterval.map { now.addingTimeInterval($0 / Double(Self.resyncSlices)) } ?? .distantFuture : .distantFuture
        if full {
            full = false
            dirty.removeAll()
            due.removeAll()
            nextResync = tick
            nextSlice = 0
            return (true, nil)
        }
        guard recording, now >= nextResync else { return (false, nil) }
        nextResync = tick
        defer { nextSlice = (nextSlice + 1) % Self.resyncSlices }
        return (false, nextSlice)
    }

    /// Marks the objects of a resync slice, given every kind's keys in store order.
    mutating func markSlice(_ slice: Int, keys: [Kind: [String]]) {
        for (kind, names) in keys {
            for (position, name) in names.enumerated() where position % Self.resyncSlices == slice {
                dirty.insert(Key(kind: kind, name: name))
            }
        }
    }

    /// Takes the uids of the objects removed since the last call.
    mutating func takeGone() -> Set<String> {
        defer { gone.removeAll() }
        return gone
    }

    /// Takes the marked objects of a kind and those whose timer is due at `now`, in store order.
    mutating func take(_ kind: Kind, now: Date) -> [String] {
        var names: [String] = []
        for key in dirty where key.kind == kind { names.append(key.name) }
        for name in names { dirty.remove(Key(kind: kind, name: name)) }
        for (key, at) in due where key.kind == kind && at <= now { names.append(key.name) }
        for name in names { due[Key(kind: kind, name: name)] = nil }
        return Array(Set(names)).sorted()
    }

    /// The object is to be visited again at `at` (the earliest of its timers wins).
    mutating func schedule(_ kind: Kind, _ name: String, at: Date) {
        let key = Key(kind: kind, name: name)
        due[key] = due[key].map { min($0, at) } ?? at
    }

    /// When the next pass is due without a commit: the earliest timer, or the resync.
    var nextWake: Date? {
        let soonest = due.values.min()
        let resync = recording && nextResync != .distantFuture ? nextResync : nil
        switch (soonest, resync) {
        case let (a?, b?): return min(a, b)
        case let (a?, nil): return a
        case let (nil, b): return b
        }
    }
}
