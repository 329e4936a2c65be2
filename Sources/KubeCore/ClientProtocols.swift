#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A typed Kubernetes object: a Codable model that knows where it lives in the API.
public protocol KubeResource: Codable, Sendable {
    static var resourceType: ResourceType { get }
    var metadata: ObjectMeta { get set }
}

/// A LIST answer: the items and the list's metadata (resourceVersion, continue token).
public struct ObjectList<Item: Sendable>: Sendable {
    public var metadata: ListMeta
    public var items: [Item]

    public init(metadata: ListMeta, items: [Item]) {
        self.metadata = metadata
        self.items = items
    }
}

/// Reads objects. Untyped (`JSONValue`) operations are the primitive; typed ones decode them.
public protocol KubernetesReader: Sendable {
    func get(_ resource: ResourceType, namespace: String?, name: String, subresource: String?) async throws -> JSONValue
    func list(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> ObjectList<JSONValue>
    /// A LIST page whose items went through `transform` one by one as they were read, so the page's
    /// full objects never exist together (a cache keeps only its projection of each).
    /// `droppingManagedFields`: `transform` removes `metadata.managedFields`, so a reader may leave
    /// it out while parsing (the result is the same).
    func list(_ resource: ResourceType, namespace: String?, options: ListOptions,
              transformingItems transform: @Sendable (JSONValue) -> JSONValue, droppingManagedFields: Bool) async throws -> ObjectList<JSONValue>
}

extension KubernetesReader {
    /// For readers without a streaming parser (test doubles): the page, then each item transformed.
    public func list(_ resource: ResourceType, namespace: String?, options: ListOptions,
                     transformingItems transform: @Sendable (JSONValue) -> JSONValue, droppingManagedFields: Bool) async throws -> ObjectList<JSONValue> {
        let page = try await list(resource, namespace: namespace, options: options)
        return ObjectList(metadata: page.metadata, items: page.items.map(transform))
    }
}

/// Writes objects, including the `status` and `scale` subresources.
public protocol KubernetesWriter: Sendable {
    func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions) async throws -> JSONValue
    /// PUT; `subresource` is nil, `status` or `scale`. Fails with a conflict on a stale resourceVersion.
    func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?, options: WriteOptions) async throws -> JSONValue
    func patch(_ resource: ResourceType, namespace: String?, name: String, type: PatchType, body: Data, subresource: String?, options: WriteOptions) async throws -> JSONValue
    /// Answers the object when finalizers delay the deletion, nil when it is gone.
    func delete(_ resource: ResourceType, namespace: String?, name: String, options: DeleteOptions) async throws -> JSONValue?
    /// `create`, answering the object only when `keepAnswer()`, asked once the write succeeded,
    /// says so: a client may then leave an answer nobody reads unparsed.
    func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions,
                keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue?
    /// `update`, answering the object only when `keepAnswer()`, asked once the write succeeded,
    /// says so (a status write whose answer only a cache would keep, and the cache moved past it).
    func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?, options: WriteOptions,
                keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue?
}

extension KubernetesWriter {
    public func create(_ resource: ResourceType, namespace: String?, object: JSONValue, options: WriteOptions,
                       keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue? {
        let answer = try await create(resource, namespace: namespace, object: object, options: options)
        return keepAnswer() ? answer : nil
    }

    public func update(_ resource: ResourceType, namespace: String?, name: String, object: JSONValue, subresource: String?, options: WriteOptions,
                       keepingAnswerIf keepAnswer: @Sendable () -> Bool) async throws -> JSONValue? {
        let answer = try await update(resource, namespace: namespace, name: name, object: object, subresource: subresource, options: options)
        return keepAnswer() ? answer : nil
    }
}

/// API discovery: which resources a group version serves (for kinds whose CRDs may be absent).
public protocol KubernetesDiscovery: Sendable {
    /// The resource names `/apis/GROUP/VERSION` (or `/api/v1`) lists; nil when that group version
    /// is not served at all (404).
    func servedResources(groupVersion: String) async throws -> [String]?
}

/// Watches a collection from a resourceVersion.
public protocol KubernetesWatcher: Sendable {
    /// Events as they arrive; `ERROR` lines end the sequence with `KubeError.api` (410 `isGone`).
    func watch(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> WatchStream
}

/// An async sequence of raw watch events read from a transport stream, line by line, with the
/// transport's back-pressure: nothing is read ahead beyond its bounded buffer.
public struct WatchStream: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<JSONValue>
    let source: any ByteChunkSource
    /// Each object's `metadata.managedFields` is checked but not built: for a consumer that
    /// would discard it (an informer's transform), it is often the largest part of the event.
    public var droppingManagedFields = false

    public init(source: any ByteChunkSource) { self.source = source }

    public func makeAsyncIterator() -> Iterator { Iterator(source: source, droppingManagedFields: droppingManagedFields) }

    /// Stops the underlying transfer.
    public func cancel() { source.cancel() }

    public struct Iterator: AsyncIteratorProtocol {
        let source: any ByteChunkSource
        let droppingManagedFields: Bool
        var splitter = LineSplitter()
        var pending: [Data] = []
        var finished = false

        public mutating func next() async throws -> WatchEvent<JSONValue>? {
            while true {
                if !pending.isEmpty {
                    let line = pending.removeFirst()
                    return try WatchLineDecoder.decode(line, droppingManagedFields: droppingManagedFields)
                }
                if finished { return nil }
                if let chunk = try await source.next() {
                    pending = try splitter.feed(chunk)
                } else {
                    finished = true
                    if let last = splitter.finish() { pending = [last] }
                }
            }
        }
    }
}
