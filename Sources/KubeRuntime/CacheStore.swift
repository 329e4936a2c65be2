import KubeCore
import Synchronization

/// A change the cache saw, handed to informer handlers. `updated` carries the previous object, or
/// the new one in its place when the cache knows the two differ in nothing a handler maps from
/// (a status change of a kind with a generation: same generation, same metadata).
public enum ObjectChange: Sendable, Equatable {
    case added(JSONValue)
    case updated(old: JSONValue, new: JSONValue)
    case deleted(JSONValue)

    /// The current object (for a deletion, the last known state).
    public var object: JSONValue {
        switch self {
        case .added(let o), .deleted(let o): return o
        case .updated(_, let o): return o
        }
    }
}

/// A secondary index: derives zero or more index values from an object.
public struct CacheIndex: Sendable {
    public var name: String
    /// The paths `values` reads, when it reads nothing else: an update that leaves all of them
    /// unchanged keeps the index as it is, without deriving the values again (most updates of a
    /// CR are status writes, and most updates of a child are status or resourceVersion changes).
    /// nil: derived again on every update.
    public var dependsOn: [[String]]?
    public var values: @Sendable (JSONValue) -> [String]

    public init(name: String, dependsOn: [[String]]? = nil, values: @escaping @Sendable (JSONValue) -> [String]) {
        self.name = name
        self.dependsOn = dependsOn
        self.values = values
    }

    /// Whether the values depend only on paths a `SpecStamp` of a kind with a generation covers:
    /// the spec (a change bumps the generation) and the metadata but its resourceVersion and
    /// managedFields. An update that keeps such a stamp keeps these values.
    var readsOnlyStampedPaths: Bool {
        guard let dependsOn else { return false }
        return dependsOn.allSatisfy { path in
            guard let first = path.first else { return false }
            if first == "spec" { return true }
            return first == "metadata" && path.count > 1 && path[1] != "resourceVersion" && path[1] != "managedFields"
        }
    }

    /// Whether `old` and `new` agree on every path the values depend on (false when unknown).
    func sameInputs(_ old: JSONValue, _ new: JSONValue) -> Bool {
        guard let dependsOn else { return false }
        return dependsOn.allSatisfy { old[path: $0] == new[path: $0] }
    }

    /// Objects by the uid of their controller ownerReference.
    public static let controllerOwnerUID = CacheIndex(name: "controller-owner-uid", dependsOn: [["metadata", "ownerReferences"]]) { object in
        guard let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue else { return [] }
        return refs.compactMap { ref in
            ref["controller"]?.boolValue == true ? ref["uid"]?.stringValue : nil
        }
    }

    /// Objects by namespace ("" for cluster-scoped ones).
    public static let namespace = CacheIndex(name: "namespace", dependsOn: [["metadata", "namespace"]]) { object in
        [object[path: ["metadata", "namespace"]]?.stringValue ?? ""]
    }

    /// Objects by the value of one label.
    public static func label(_ key: String) -> CacheIndex {
        CacheIndex(name: "label:\(key)", dependsOn: [["metadata", "labels", key]]) { object in
            object[path: ["metadata", "labels", key]]?.stringValue.map { [$0] } ?? []
        }
    }
}

/// What a write was based on, taken from the cache just before the request: the resourceVersion of
/// the cached object (nil: absent) and how many watch operations the cache had applied then. The
/// answer of the write is stored only if nothing since then could make it stale (see
/// `CacheStoreState.storeWritten`).
public struct WriteBasis: Sendable, Hashable {
    public var resourceVersion: String?
    /// Watch operations applied when the basis was read; nil when unknown (only `resourceVersion`
    /// was given), which skips the re-list and forgotten-deletion checks.
    public var sequence: UInt64?

    public init(resourceVersion: String?, sequence: UInt64? = nil) {
        self.resourceVersion = resourceVersion
        self.sequence = sequence
    }
}

/// The pure part of the cache: objects by key plus secondary indexes. Applying a watcher's
/// operation returns the changes it made, so handlers see exactly what the cache saw.
///
/// Watch operations are authoritative and always applied. A write's answer (read-your-writes) may
/// only fill the gap until the watch delivers it, so it is refused whenever the watch may already
/// be past it: the cache must never hold an object after the watch reported its deletion. For that
/// the cache remembers recent deletions as tombstones (key + uid → the deletion's
/// resourceVersion): a uid, once deleted, never comes back, so for one uid the watch's order is
/// enough and no resourceVersions are compared (they are opaque apart from "same or not").
///
/// Objects are held as their compact JSON text (keys sorted) and parsed again when read: a parsed
/// `JSONValue` tree of a Deployment takes several times the memory of its text, and a cache holds
/// thousands of them while a pass reads only a few. Indexes are computed once, on the way in. The
/// resourceVersion is kept beside the text, because every write reads it (`writeBasis`) and parsing
/// a whole Deployment for it cost more than the write's own encoding.
///
/// Once the cache holds a few objects, their texts are deflated against one of them
/// (`TextCompression`): objects of one kind share most of their text, so a CR or Deployment takes a
/// tenth of its text's size. Reading one costs a few microseconds more; a pass reads a handful.
///
/// A text is deflated only once it has aged out of the young texts (the last `youngBytesLimit`
/// bytes stored), not when it arrives: an object that changes changes again soon (a new CR's
/// status, a new Deployment's status as its pods start), and deflating every version cost more
/// than anything else the cache does. A version replaced while young is never deflated, and the
/// pass that reads an object just written reads it without inflating it.
public struct CacheStoreState: Sendable {
    struct Entry: Sendable {
        var text: StoredText
        var resourceVersion: String?
        var specStamp: SpecStamp
        /// The operation that stored `text`, while it is held plain among the young texts.
        var youngSince: UInt64?
        /// The compact text of the object's `CacheView`, when the store keeps one.
        var view: [UInt8]?
    }

    /// An object's compact text as held: deflated (`plainLength` set) or as it is.
    struct StoredText: Sendable, Equatable {
        var bytes: [UInt8]
        var plainLength: Int?

        /// The compact text; nil only if `compression` is not the one it was deflated with.
        func plain(_ compression: TextCompression?) -> [UInt8]? {
            guard let plainLength else { return bytes }
            return compression?.decompress(bytes, length: plainLength)
        }
    }

    /// The dictionary texts are deflated against; nil until the cache holds enough objects to pick one.
    private(set) var compression: TextCompression?
    /// Until then, the longest text stored so far (its tail, up to zlib's window): the dictionary to be.
    private var dictionaryCandidate: [UInt8] = []
    /// Objects held before a dictionary is picked, and its least length (a kind whose objects are
    /// all stubs of a few hundred bytes gains little).
    static let dictionaryAfterObjects = 8
    static let dictionaryMinimumLength = 256
    /// Texts shorter than this are held as they are.
    static let compressionMinimumLength = 128
    /// Bytes of plain text held young, at most (per cache): a few seconds of a converge's changes
    /// of one kind, and at most this much more memory than deflating everything at once.
    public static let defaultYoungBytesLimit = 128 * 1024

    private let youngBytesLimit: Int
    /// Young texts in the order they were stored: key and the operation that stored the text. An
    /// entry replaced or removed since is skipped when its turn comes.
    private var youngQueue: [(key: ObjectKey, since: UInt64)] = []
    private var youngQueueHead = 0
    /// Bytes of the texts held young now.
    private(set) var youngBytes = 0
    /// Texts deflated so far (for tests and profiles).
    private(set) var deflations = 0

    private var stored: [ObjectKey: Entry] = [:]
    public private(set) var resourceVersion: String?
    private let indexes: [CacheIndex]
    /// Every index reads only paths a generation's `SpecStamp` covers (`CacheIndex.readsOnlyStampedPaths`).
    private let stampedPathsIndexOnly: Bool
    /// index name → index value → keys.
    private var indexed: [String: [String: Set<ObjectKey>]] = [:]
    /// Watch operations applied so far; a `WriteBasis` records it.
    public private(set) var sequence: UInt64 = 0
    /// The sequence of the last re-list.
    private var lastReplaceAll: UInt64 = 0
    /// Objects the watch reported gone (deleted, or out of the selection) and has not reported since.
    private var tombstones: [Tombstone: (resourceVersion: String?, sequence: UInt64)] = [:]
    /// Tombstones in the order they were made (a ring once full), to forget the oldest for room.
    private var tombstoneRing: [(tombstone: Tombstone, sequence: UInt64)] = []
    private var tombstoneNext = 0
    private let tombstoneCapacity: Int
    /// The sequence of the newest tombstone forgotten for room: a write based on an earlier point
    /// cannot be checked against it any more and is refused.
    private var forgottenThrough: UInt64 = 0

    struct Tombstone: Hashable {
        var key: ObjectKey
        var uid: String
    }

    private let view: CacheView?

    /// `tombstoneCapacity`: deletions remembered (~200 bytes each, only once they happen). They
    /// need to cover the deletions during one write request; a write that overlapped more is
    /// refused rather than risked. `youngBytesLimit`: plain text held before the oldest is
    /// deflated (0: deflate at once). `view`: the fields kept beside each text (`viewText`).
    public init(indexes: [CacheIndex] = [], tombstoneCapacity: Int = 1024, youngBytesLimit: Int = CacheStoreState.defaultYoungBytesLimit,
                view: CacheView? = nil) {
        self.indexes = indexes
        self.view = view
        self.youngBytesLimit = max(0, youngBytesLimit)
        stampedPathsIndexOnly = indexes.allSatisfy(\.readsOnlyStampedPaths)
        for index in indexes { indexed[index.name] = [:] }
        self.tombstoneCapacity = max(1, tombstoneCapacity)
    }

    /// The object under `key`, parsed from what the cache holds.
    public func object(_ key: ObjectKey) -> JSONValue? {
        stored[key].flatMap { $0.text.plain(compression) }.flatMap(Self.parse)
    }

    /// The text of `key` as held; `StoredText.plain(compression)` makes it the compact text.
    func storedText(_ key: ObjectKey) -> StoredText? { stored[key]?.text }

    /// Whether the cache holds `key` (nothing parsed).
    public func contains(_ key: ObjectKey) -> Bool { stored[key] != nil }

    /// The resourceVersion of the object under `key` (nothing parsed); nil when absent or unset.
    public func resourceVersion(_ key: ObjectKey) -> String? { stored[key]?.resourceVersion }

    /// The `SpecStamp` of the object under `key` (nothing parsed); nil when absent.
    public func specStamp(_ key: ObjectKey) -> SpecStamp? { stored[key]?.specStamp }

    /// The compact text of the `CacheView` of the object under `key`; nil when absent or no view is kept.
    func viewText(_ key: ObjectKey) -> [UInt8]? { stored[key]?.view }

    /// Every object by key (parses all of them: for tests and small caches).
    public var objects: [ObjectKey: JSONValue] { stored.compactMapValues { $0.text.plain(compression).flatMap(Self.parse) } }

    public var keys: some Collection<ObjectKey> { stored.keys }
    public var count: Int { stored.count }

    static func text(of object: JSONValue) -> [UInt8] { object.compactText() }

    /// Text this cache wrote itself; a failure would be a bug in the writer, read as "absent".
    static func parse(_ text: [UInt8]) -> JSONValue? { try? JSONValue(parsingText: text) }

    public mutating func apply(_ operation: CacheOperation) -> [ObjectChange] {
        sequence += 1
        switch operation {
        case .upsert(let object):
            guard let key = ObjectKey(object: object) else { return [] }
            forgetTombstone(key, object)
            // The watch event of the operator's own write, whose answer the cache took already: a
            // resourceVersion names one state of one object, so nothing is parsed, written out or
            // re-indexed; the handlers still hear of it, as of any event.
            if let version = Self.resourceVersion(of: object), stored[key]?.resourceVersion == version {
                return [.updated(old: object, new: object)]
            }
            return [put(key, object, text: Self.text(of: object))]
        case .delete(let object):
            guard let key = ObjectKey(object: object) else { return [] }
            bury(key, object, resourceVersion: Self.resourceVersion(of: object))
            // The deletion of another uid says nothing about the object held: that one is a newer
            // incarnation a write put there, which its own watch events will settle.
            guard let old = self.object(key) else {
                drop(key)
                return []
            }
            if let heldUID = Self.uid(of: old), let goneUID = Self.uid(of: object), heldUID != goneUID { return [] }
            drop(key)
            unindex(key, old)
            // Report the final state the server sent, falling back to what the cache held.
            return [.deleted(object.objectValue?["metadata"] == nil ? old : object)]
        case .replaceAll(let items, let rv):
            resourceVersion = rv
            lastReplaceAll = sequence
            var changes: [ObjectChange] = []
            var seen = Set<ObjectKey>()
            for object in items {
                guard let key = ObjectKey(object: object) else { continue }
                seen.insert(key)
                forgetTombstone(key, object)
                let text = Self.text(of: object)
                if let entry = stored[key], entry.text.plain(compression) == text { continue }
                changes.append(put(key, object, text: text))
            }
            for key in stored.keys.sorted() where !seen.contains(key) {
                if let old = remove(key) {
                    bury(key, old, resourceVersion: rv)
                    changes.append(.deleted(old))
                }
            }
            return changes
        }
    }

    static func uid(of object: JSONValue) -> String? {
        object[path: ["metadata", "uid"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
    }

    static func resourceVersion(of object: JSONValue) -> String? {
        object[path: ["metadata", "resourceVersion"]]?.stringValue
    }

    /// Where the watch reported `uid` under `key` gone, while remembered.
    func tombstone(_ key: ObjectKey, uid: String) -> (resourceVersion: String?, sequence: UInt64)? {
        tombstones[Tombstone(key: key, uid: uid)]
    }

    private mutating func bury(_ key: ObjectKey, _ object: JSONValue, resourceVersion: String?) {
        guard let uid = Self.uid(of: object) else { return }
        let tombstone = Tombstone(key: key, uid: uid)
        tombstones[tombstone] = (resourceVersion, sequence)
        if tombstoneRing.count < tombstoneCapacity {
            tombstoneRing.append((tombstone, sequence))
            return
        }
        let evicted = tombstoneRing[tombstoneNext]
        // Only if it still stands (not cleared by the object's return, nor made again since).
        if tombstones[evicted.tombstone]?.sequence == evicted.sequence {
            tombstones[evicted.tombstone] = nil
            forgottenThrough = max(forgottenThrough, evicted.sequence)
        }
        tombstoneRing[tombstoneNext] = (tombstone, sequence)
        tombstoneNext = (tombstoneNext + 1) % tombstoneCapacity
    }

    /// The watch reported the object again (back in the selection): its tombstone no longer holds.
    private mutating func forgetTombstone(_ key: ObjectKey, _ object: JSONValue) {
        guard !tombstones.isEmpty, let uid = Self.uid(of: object) else { return }
        tombstones[Tombstone(key: key, uid: uid)] = nil
    }

    /// Stores `new` (its compact `text`) under `key`, young. `old`: the object held, when the
    /// caller parsed it already.
    @discardableResult
    private mutating func put(_ key: ObjectKey, _ new: JSONValue, text plainText: [UInt8], old parsedOld: JSONValue? = nil) -> ObjectChange {
        defer {
            considerDictionary(plainText)
            ageYoungTexts()
        }
        let text = young(plainText, key)
        let stamp = SpecStamp(of: new)
        let viewText = view.map { $0.make(new).compactText() }
        // A status change (a kind with a generation, same generation and metadata: the same stamp)
        // keeps every index that reads only stamped paths, and maps to the same keys as the object
        // before it: the held text is not parsed for it, and the handlers get `new` as both.
        if parsedOld == nil, let held = stored[key], held.specStamp == stamp, new[path: ["metadata", "generation"]]?.intValue != nil,
           stampedPathsIndexOnly {
            replace(key, Entry(text: text, resourceVersion: Self.resourceVersion(of: new), specStamp: stamp, youngSince: youngSince(text), view: viewText))
            return .updated(old: new, new: new)
        }
        let old = parsedOld ?? object(key)
        for index in indexes {
            if let old, index.sameInputs(old, new) { continue }
            if let old { unindex(key, old, index) }
            self.index(key, new, index)
        }
        replace(key, Entry(text: text, resourceVersion: Self.resourceVersion(of: new), specStamp: stamp, youngSince: youngSince(text), view: viewText))
        return old.map { .updated(old: $0, new: new) } ?? .added(new)
    }

    /// `text` held plain, queued to be deflated once it ages out (when it is long enough to gain).
    private mutating func young(_ text: [UInt8], _ key: ObjectKey) -> StoredText {
        if text.count >= Self.compressionMinimumLength {
            youngQueue.append((key, sequence))
            youngBytes += text.count
        }
        return StoredText(bytes: text, plainLength: nil)
    }

    private func youngSince(_ text: StoredText) -> UInt64? {
        text.bytes.count >= Self.compressionMinimumLength ? sequence : nil
    }

    /// Puts `entry` under `key`, forgetting the young text it replaces.
    private mutating func replace(_ key: ObjectKey, _ entry: Entry) {
        if let old = stored.updateValue(entry, forKey: key), old.youngSince != nil { youngBytes -= old.text.bytes.count }
    }

    /// Removes `key`'s entry, forgetting its young text.
    private mutating func drop(_ key: ObjectKey) {
        if let old = stored.removeValue(forKey: key), old.youngSince != nil { youngBytes -= old.text.bytes.count }
    }

    /// Deflates the oldest young texts until the young ones fit `youngBytesLimit`. Before a
    /// dictionary is picked, an aged text stays plain (`considerDictionary` deflates it then).
    private mutating func ageYoungTexts() {
        while youngBytes > youngBytesLimit, youngQueueHead < youngQueue.count {
            let (key, since) = youngQueue[youngQueueHead]
            youngQueueHead += 1
            guard var entry = stored[key], entry.youngSince == since else { continue }
            youngBytes -= entry.text.bytes.count
            entry.youngSince = nil
            entry.text = held(entry.text.bytes)
            stored[key] = entry
        }
        // The queue's consumed head is dropped once it is most of the queue (amortised O(1)).
        if youngQueueHead > 64, youngQueueHead * 2 > youngQueue.count {
            youngQueue.removeFirst(youngQueueHead)
            youngQueueHead = 0
        }
    }

    /// `text` as the cache holds it once aged: deflated once a dictionary is picked, when that
    /// makes it smaller.
    private mutating func held(_ text: [UInt8]) -> StoredText {
        guard let compression, text.count >= Self.compressionMinimumLength, let deflated = compression.compress(text),
              deflated.count < text.count else { return StoredText(bytes: text, plainLength: nil) }
        deflations += 1
        return StoredText(bytes: deflated, plainLength: text.count)
    }

    /// Picks the dictionary once enough objects are held, and deflates the aged texts held
    /// already. Until then every text is held as it is.
    private mutating func considerDictionary(_ text: [UInt8]) {
        guard compression == nil else { return }
        if text.count > dictionaryCandidate.count {
            dictionaryCandidate = Array(text.suffix(TextCompression.windowSize))
        }
        guard stored.count >= Self.dictionaryAfterObjects, dictionaryCandidate.count >= Self.dictionaryMinimumLength else { return }
        compression = TextCompression(dictionary: dictionaryCandidate)
        dictionaryCandidate = []
        for key in Array(stored.keys) {
            guard var entry = stored[key], entry.text.plainLength == nil, entry.youngSince == nil else { continue }
            entry.text = held(entry.text.bytes)
            stored[key] = entry
        }
    }

    private mutating func remove(_ key: ObjectKey) -> JSONValue? {
        guard let entry = stored[key] else { return nil }
        drop(key)
        guard let old = entry.text.plain(compression).flatMap(Self.parse) else { return nil }
        unindex(key, old)
        return old
    }

    private mutating func index(_ key: ObjectKey, _ object: JSONValue, _ index: CacheIndex) {
        for value in index.values(object) { indexed[index.name, default: [:]][value, default: []].insert(key) }
    }

    private mutating func unindex(_ key: ObjectKey, _ object: JSONValue) {
        for index in indexes { unindex(key, object, index) }
    }

    private mutating func unindex(_ key: ObjectKey, _ object: JSONValue, _ index: CacheIndex) {
        for value in index.values(object) {
            indexed[index.name]?[value]?.remove(key)
            if indexed[index.name]?[value]?.isEmpty == true { indexed[index.name]?[value] = nil }
        }
    }

    /// What a write of `key` is based on, read just before the request.
    public func writeBasis(_ key: ObjectKey) -> WriteBasis {
        WriteBasis(resourceVersion: stored[key]?.resourceVersion, sequence: sequence)
    }

    /// Read-your-writes: puts the answer of a write in place only when the watch cannot be past it.
    /// Refused when
    /// - the watch reported this uid gone (a tombstone): nothing can follow a deletion, so the answer
    ///   is older (and an object that only left the selection comes back by its watch event);
    /// - the cache no longer holds what the write was based on (the object at
    ///   `basis.resourceVersion`, or nothing when nil): the watch delivered something newer;
    /// - the cache holds another uid under the key: another incarnation, the watch decides;
    /// - with a known `basis.sequence`: a re-list happened since (it may have dropped this object
    ///   without a tombstone, if the cache never saw it), or a tombstone made since was forgotten.
    /// Refusing is always safe (the watch event follows); storing is not. Reports no change.
    public mutating func storeWritten(_ object: JSONValue, basis: WriteBasis) -> Bool {
        guard let key = ObjectKey(object: object) else { return false }
        let uid = Self.uid(of: object)
        if let uid, tombstones[Tombstone(key: key, uid: uid)] != nil { return false }
        guard stored[key]?.resourceVersion == basis.resourceVersion else { return false }
        if let since = basis.sequence, lastReplaceAll > since || forgottenThrough > since { return false }
        let current = self.object(key)
        if let current {
            guard basis.resourceVersion != nil else { return false }
            if let heldUID = Self.uid(of: current), heldUID != uid { return false }
        }
        put(key, object, text: Self.text(of: object), old: current)
        return true
    }

    /// False when `storeWritten` would refuse any answer of a write of `key` on `basis`: the watch
    /// moved past it already (the usual case on a fast watch). Read before parsing an answer that
    /// only the cache would keep.
    public func mayStoreWritten(_ key: ObjectKey, basis: WriteBasis) -> Bool {
        guard stored[key]?.resourceVersion == basis.resourceVersion else { return false }
        if let since = basis.sequence, lastReplaceAll > since || forgottenThrough > since { return false }
        return true
    }

    /// `storeWritten(_:basis:)` with only the resourceVersion read before the write.
    public mutating func storeWritten(_ object: JSONValue, basedOn resourceVersion: String?) -> Bool {
        storeWritten(object, basis: WriteBasis(resourceVersion: resourceVersion))
    }

    /// Keys whose index `name` has `value`; empty when the index does not exist.
    public func keys(index name: String, value: String) -> Set<ObjectKey> {
        indexed[name]?[value] ?? []
    }

    public func hasIndex(_ name: String) -> Bool { indexed[name] != nil }
}

/// A few fields of each object, made from it on the way in and kept beside its text, for a reader
/// that reads only those of a large object (a Deployment's rollout state, read on every pass):
/// reading the view parses a few hundred bytes instead of inflating and parsing the whole object.
public struct CacheView: Sendable {
    let make: @Sendable (JSONValue) -> JSONValue

    public init(_ make: @escaping @Sendable (JSONValue) -> JSONValue) { self.make = make }
}

/// The cache an informer fills: thread-safe, synchronous reads from memory.
public final class CacheStore: Sendable {
    private let state: Mutex<CacheStoreState>

    public init(indexes: [CacheIndex] = [], view: CacheView? = nil) {
        state = Mutex(CacheStoreState(indexes: indexes, view: view))
        keepsView = view != nil
    }

    /// Whether the store keeps a `CacheView` of each object.
    public let keepsView: Bool

    /// The `CacheView` of the object under `key`; nil when absent or when the store keeps no view.
    public func view(_ key: ObjectKey) -> JSONValue? {
        state.withLock { $0.viewText(key) }.flatMap(CacheStoreState.parse)
    }

    /// Applies a watcher operation; returns the changes it caused.
    @discardableResult
    public func apply(_ operation: CacheOperation) -> [ObjectChange] {
        state.withLock { $0.apply(operation) }
    }

    public func get(_ key: ObjectKey) -> JSONValue? {
        // Copy the text out under the lock; inflate and parse outside it.
        let (text, compression) = state.withLock { ($0.storedText(key), $0.compression) }
        return text?.plain(compression).flatMap(CacheStoreState.parse)
    }

    /// See `CacheStoreState.storeWritten`.
    @discardableResult
    public func storeWritten(_ object: JSONValue, basedOn resourceVersion: String?) -> Bool {
        state.withLock { $0.storeWritten(object, basedOn: resourceVersion) }
    }

    /// See `CacheStoreState.storeWritten`.
    @discardableResult
    public func storeWritten(_ object: JSONValue, basis: WriteBasis) -> Bool {
        state.withLock { $0.storeWritten(object, basis: basis) }
    }

    /// What a write of `key` is based on; read it just before sending the request.
    public func writeBasis(_ key: ObjectKey) -> WriteBasis {
        state.withLock { $0.writeBasis(key) }
    }

    /// See `CacheStoreState.mayStoreWritten`.
    public func mayStoreWritten(_ key: ObjectKey, basis: WriteBasis) -> Bool {
        state.withLock { $0.mayStoreWritten(key, basis: basis) }
    }

    /// A basis for a write based on an object read earlier (its `resourceVersion`, nil when it was
    /// absent), at the cache's current point; read it just before sending the request.
    public func writeBasis(basedOn resourceVersion: String?) -> WriteBasis {
        WriteBasis(resourceVersion: resourceVersion, sequence: state.withLock { $0.sequence })
    }

    public func get(namespace: String?, name: String) -> JSONValue? { get(ObjectKey(namespace: namespace, name: name)) }

    /// Whether the cache holds `key` (nothing parsed).
    public func contains(_ key: ObjectKey) -> Bool { state.withLock { $0.contains(key) } }

    /// The resourceVersion of the cached object under `key` (nothing parsed).
    public func resourceVersion(_ key: ObjectKey) -> String? { state.withLock { $0.resourceVersion(key) } }

    /// The `SpecStamp` of the cached object under `key` (nothing parsed).
    public func specStamp(_ key: ObjectKey) -> SpecStamp? { state.withLock { $0.specStamp(key) } }

    /// Every object, in key order; optionally only one namespace.
    public func list(namespace: String? = nil) -> [JSONValue] {
        let (texts, compression) = state.withLock { s in
            (s.keys.filter { namespace == nil || $0.namespace == namespace }.sorted().compactMap { s.storedText($0) }, s.compression)
        }
        return texts.compactMap { $0.plain(compression).flatMap(CacheStoreState.parse) }
    }

    public var keys: [ObjectKey] { state.withLock { $0.keys.sorted() } }
    public var count: Int { state.withLock { $0.count } }
    /// The resourceVersion of the last complete list applied.
    public var listResourceVersion: String? { state.withLock { $0.resourceVersion } }

    /// Keys whose index `name` has `value`, in key order (nothing parsed). Throws when the index was
    /// not configured, so a typo does not silently read as "no objects".
    public func keys(index name: String, value: String) throws -> [ObjectKey] {
        try state.withLock { s in
            guard s.hasIndex(name) else { throw KubeError.invalidRequest("cache index \"\(name)\" is not configured") }
            return s.keys(index: name, value: value).sorted()
        }
    }

    /// Objects whose index `name` has `value`, in key order. Throws when the index was not configured,
    /// so a typo does not silently read as "no objects".
    public func byIndex(_ name: String, value: String) throws -> [JSONValue] {
        let (texts, compression) = try state.withLock { s in
            guard s.hasIndex(name) else { throw KubeError.invalidRequest("cache index \"\(name)\" is not configured") }
            return (s.keys(index: name, value: value).sorted().compactMap { s.storedText($0) }, s.compression)
        }
        return texts.compactMap { $0.plain(compression).flatMap(CacheStoreState.parse) }
    }
}
