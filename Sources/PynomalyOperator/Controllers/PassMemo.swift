#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime
import Synchronization

/// What earlier passes of each PynomalyDeployment worked out from inputs that have not changed
/// since, so that a pass woken by a child's status (most passes while a rollout converges) does
/// not validate the spec, build and hash the pod template, and build, encode and compare every
/// child again.
///
/// Every entry is keyed by what decides it: the CR's uid and generation (the API server bumps the
/// generation on every spec change), the restart token, the content hash of the referenced objects
/// and the ConfigMap's hash. Children are remembered as converged together with each child's
/// `SpecStamp` at the time the pass found it equal to the desired object; any change to a child
/// other than its status (a hand edit, a deletion, another manager's labels) changes its stamp
/// and the next pass compares again. A miss costs what a pass cost without the memo.
public final class PassMemo: Sendable {
    /// The spec as the builders see it, except the revision plan.
    struct SpecInputs: Hashable, Sendable {
        var uid: String
        var generation: Int64
        var restartToken: String?
        var referencedHash: String
        var configHash: String
    }

    /// The spec's pod template identity: its hash, and its hash without the restart token.
    struct TemplateDigest: Sendable, Equatable {
        var templateHash: String
        var templateKey: String
    }

    /// What a rolling pass applies: the spec inputs and the revision it deploys.
    struct ChildrenInputs: Hashable, Sendable {
        var spec: SpecInputs
        var revision: Int64
        var templateHash: String?
        var pinned: Bool
    }

    /// One per CR, a few hundred bytes: the inputs are held once, and the children's stamps as one
    /// hash over all of them.
    private struct Entry: Sendable {
        var uid: String
        /// The generation whose spec passed validation.
        var validGeneration: Int64?
        /// What the pod template of a generation references (the restart token and hashes do not matter).
        var references: (generation: Int64, objects: ReferencedObjects)?
        /// The inputs `template` and `children` were worked out from.
        var inputs: SpecInputs?
        var template: TemplateDigest?
        var children: (revision: Int64, templateHash: String?, pinned: Bool, stamps: Int)?
        /// When this process wrote the Deployment of a new revision (its template hash): the start
        /// of the window in which its status may wait for the rollout.
        var rolloutStart: (templateHash: String, at: Date)?

        /// Moves the entry to `inputs`; what was known for other inputs goes.
        mutating func use(_ inputs: SpecInputs) {
            guard self.inputs != inputs else { return }
            self.inputs = inputs
            template = nil
            children = nil
        }
    }

    private let entries = Mutex<[ObjectKey: Entry]>([:])

    public init() {}

    /// Whether the spec of this uid and generation passed validation before.
    func isValid(_ key: ObjectKey, uid: String, generation: Int64) -> Bool {
        entries.withLock { $0[key].map { $0.uid == uid && $0.validGeneration == generation } ?? false }
    }

    func noteValid(_ key: ObjectKey, uid: String, generation: Int64) {
        update(key, uid: uid) { $0.validGeneration = generation }
    }

    func references(_ key: ObjectKey, uid: String, generation: Int64) -> ReferencedObjects? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.uid == uid, let held = entry.references, held.generation == generation else { return nil }
            return held.objects
        }
    }

    func noteReferences(_ key: ObjectKey, uid: String, generation: Int64, objects: ReferencedObjects) {
        update(key, uid: uid) { $0.references = (generation, objects) }
    }

    func template(_ key: ObjectKey, for inputs: SpecInputs) -> TemplateDigest? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.inputs == inputs else { return nil }
            return entry.template
        }
    }

    func noteTemplate(_ key: ObjectKey, inputs: SpecInputs, digest: TemplateDigest) {
        update(key, uid: inputs.uid) { entry in
            entry.use(inputs)
            entry.template = digest
        }
    }

    /// Whether a pass with `inputs` found these children, with these stamps, converged.
    func childrenConverged(_ key: ObjectKey, inputs: ChildrenInputs, stamps: [SpecStamp?]) -> Bool {
        let stamps = Self.combined(stamps)
        return entries.withLock { entries in
            guard let entry = entries[key], entry.inputs == inputs.spec, let held = entry.children else { return false }
            return held.revision == inputs.revision && held.templateHash == inputs.templateHash && held.pinned == inputs.pinned
                && held.stamps == stamps
        }
    }

    func noteChildrenConverged(_ key: ObjectKey, inputs: ChildrenInputs, stamps: [SpecStamp?]) {
        let stamps = Self.combined(stamps)
        update(key, uid: inputs.spec.uid) { entry in
            entry.use(inputs.spec)
            entry.children = (inputs.revision, inputs.templateHash, inputs.pinned, stamps)
        }
    }

    /// Whether the cache holds, for every child, the object a pass compared or wrote (`results`,
    /// nil where none is wanted), or a later version of it that changed only its status: the same
    /// `SpecStamp`. A new Deployment's status often arrives before the pass that wrote it ends,
    /// and that must not cost the next pass a full compare. A cache behind the write, or ahead of
    /// it with any other change, leaves the next pass to compare again.
    static func cacheHolds(_ results: [JSONValue?], stamps held: [SpecStamp?]) -> Bool {
        held == results.map { $0.map(SpecStamp.init(of:)) }
    }

    func noteRolloutStarted(_ key: ObjectKey, uid: String, templateHash: String, at time: Date) {
        update(key, uid: uid) { $0.rolloutStart = (templateHash, time) }
    }

    /// When this process wrote the Deployment of the revision with `templateHash`, if it did.
    func rolloutStarted(_ key: ObjectKey, uid: String, templateHash: String) -> Date? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.uid == uid, let start = entry.rolloutStart, start.templateHash == templateHash else { return nil }
            return start.at
        }
    }

    func forgetChildren(_ key: ObjectKey) {
        entries.withLock { _ = $0[key]?.children = nil }
    }

    /// Drops what is known of a CR that is gone, so the memo holds no more entries than CRs exist.
    func forget(_ key: ObjectKey) {
        entries.withLock { _ = $0.removeValue(forKey: key) }
    }

    private static func combined(_ stamps: [SpecStamp?]) -> Int {
        var hasher = Hasher()
        for stamp in stamps { hasher.combine(stamp) }
        return hasher.finalize()
    }

    /// Entries held (for tests and the memory figures).
    public var count: Int { entries.withLock { $0.count } }

    private func update(_ key: ObjectKey, uid: String, _ change: (inout Entry) -> Void) {
        entries.withLock { entries in
            // Another uid under the same name is another CR: nothing of the old one applies.
            var entry = entries[key].flatMap { $0.uid == uid ? $0 : nil } ?? Entry(uid: uid)
            change(&entry)
            entries[key] = entry
        }
    }
}
