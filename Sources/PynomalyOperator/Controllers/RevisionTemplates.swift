import KubeCore
import Synchronization

/// Pod templates of the ControllerRevisions a pass deployed from (a pinned rollback, a blue-green
/// colour that is not the spec's revision), by name and uid. The revisions cache leaves templates
/// out, since most of them (up to revisionHistoryLimit per CR) are never read; the few that are
/// would otherwise cost a GET on every pass. A ControllerRevision's data is immutable, so an entry
/// is right for as long as the uid matches the cached revision's.
public final class RevisionTemplates: Sendable {
    struct Entry: Sendable {
        var uid: String
        var template: PodTemplateSpec
    }

    /// A bound on what a memo can hold; past it, the memo starts over (each entry is one GET away).
    static let limit = 1024
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    func template(namespace: String, name: String, uid: String) -> PodTemplateSpec? {
        entries.withLock { entries in
            guard let entry = entries["\(namespace)/\(name)"], entry.uid == uid else { return nil }
            return entry.template
        }
    }

    func store(namespace: String, name: String, uid: String, template: PodTemplateSpec) {
        entries.withLock { entries in
            if entries.count >= Self.limit { entries.removeAll() }
            entries["\(namespace)/\(name)"] = Entry(uid: uid, template: template)
        }
    }

    /// Entries held (for tests and the memory figures).
    public var count: Int { entries.withLock { $0.count } }
}
