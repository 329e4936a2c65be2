#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Typed conveniences over the untyped client protocols. Every typed call goes through
// `KubeResource.decoded(from:)` / `JSONValue(encoding:)`, so read objects keep their unknown fields
// (`UnknownFieldPreserving`) and decode errors name the object and the field.

extension KubeResource {
    /// Decodes an object answered by the server. A failure is `KubeError.decoding` naming the kind,
    /// the object (`namespace/name` when readable) and the field path.
    public static func decoded(from value: JSONValue) throws -> Self {
        do {
            return try value.decode(Self.self)
        } catch let error as DecodingError {
            throw KubeError.decoding(describe(error, kind: resourceType.kind, object: value))
        }
    }

    /// The request body of this object: typed fields laid over what was read.
    public func encodedJSON() throws -> JSONValue {
        do {
            return try JSONValue(encoding: self)
        } catch let error as EncodingError {
            throw KubeError.invalidRequest("cannot encode \(Self.resourceType.kind) \(metadata.name ?? ""): \(error)")
        }
    }
}

/// Words a DecodingError as `cannot decode Deployment fx/web: spec.replicas: expected Int32, found a string`.
func describe(_ error: DecodingError, kind: String, object: JSONValue) -> String {
    let name = object[path: ["metadata", "name"]]?.stringValue
    let namespace = object[path: ["metadata", "namespace"]]?.stringValue
    let who = [namespace, name].compactMap { $0 }.joined(separator: "/")
    let prefix = "cannot decode \(kind)\(who.isEmpty ? "" : " \(who)")"
    func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out.isEmpty ? "(top level)" : out
    }
    func found(_ keys: [any CodingKey]) -> String {
        var v: JSONValue? = object
        for key in keys { v = key.intValue.map { v?[$0] } ?? v?[key.stringValue] }
        return v.map { "found \($0.typeName)" } ?? "found nothing"
    }
    switch error {
    case .typeMismatch(let type, let ctx):
        return "\(prefix): \(path(ctx.codingPath)): expected \(type), \(found(ctx.codingPath))"
    case .valueNotFound(let type, let ctx):
        return "\(prefix): \(path(ctx.codingPath)): expected \(type), found null"
    case .keyNotFound(let key, let ctx):
        return "\(prefix): \(path(ctx.codingPath + [key])): required field is missing"
    case .dataCorrupted(let ctx):
        return "\(prefix): \(path(ctx.codingPath)): \(ctx.debugDescription)"
    @unknown default:
        return "\(prefix): \(error)"
    }
}

extension KubernetesReader {
    /// GET one object.
    public func get<T: KubeResource>(_ type: T.Type, namespace: String?, name: String) async throws -> T {
        try T.decoded(from: try await get(T.resourceType, namespace: namespace, name: name, subresource: nil))
    }

    /// LIST a collection (all namespaces when `namespace` is nil).
    public func list<T: KubeResource>(_ type: T.Type, namespace: String?, options: ListOptions = ListOptions()) async throws -> ObjectList<T> {
        let list = try await list(T.resourceType, namespace: namespace, options: options)
        return ObjectList(metadata: list.metadata, items: try list.items.map { try T.decoded(from: $0) })
    }

    /// GET the `scale` subresource of a scalable object (Deployments, scalable custom resources).
    public func getScale<T: KubeResource>(_ type: T.Type, namespace: String?, name: String) async throws -> Scale {
        let value = try await get(T.resourceType, namespace: namespace, name: name, subresource: "scale")
        do {
            return try value.decode(Scale.self)
        } catch let error as DecodingError {
            throw KubeError.decoding(describe(error, kind: "Scale", object: value))
        }
    }
}

extension KubernetesWriter {
    /// POST a new object (in `metadata.namespace`, or the client's default namespace when nil).
    public func create<T: KubeResource>(_ object: T, options: WriteOptions = WriteOptions()) async throws -> T {
        let answer = try await create(T.resourceType, namespace: object.metadata.namespace, object: try object.encodedJSON(), options: options)
        return try T.decoded(from: answer)
    }

    /// PUT the object; fails with a conflict when `metadata.resourceVersion` is stale.
    public func update<T: KubeResource>(_ object: T, options: WriteOptions = WriteOptions()) async throws -> T {
        let answer = try await update(T.resourceType, namespace: object.metadata.namespace, name: object.metadata.name ?? "",
                                      object: try object.encodedJSON(), subresource: nil, options: options)
        return try T.decoded(from: answer)
    }

    /// PUT the `status` subresource (only `status` changes).
    public func updateStatus<T: KubeResource>(_ object: T, options: WriteOptions = WriteOptions()) async throws -> T {
        let answer = try await update(T.resourceType, namespace: object.metadata.namespace, name: object.metadata.name ?? "",
                                      object: try object.encodedJSON(), subresource: "status", options: options)
        return try T.decoded(from: answer)
    }

    /// Server-side apply: PATCH with `application/apply-patch+yaml` (a JSON body is valid YAML).
    /// Send only the fields you own. `metadata.managedFields` is dropped: the server refuses it in
    /// an apply body.
    public func apply<T: KubeResource>(_ object: T, fieldManager: String, force: Bool = false, dryRun: Bool = false) async throws -> T {
        try await apply(object, subresource: nil, fieldManager: fieldManager, force: force, dryRun: dryRun)
    }

    /// Server-side apply of the `status` subresource.
    public func applyStatus<T: KubeResource>(_ object: T, fieldManager: String, force: Bool = false, dryRun: Bool = false) async throws -> T {
        try await apply(object, subresource: "status", fieldManager: fieldManager, force: force, dryRun: dryRun)
    }

    private func apply<T: KubeResource>(_ object: T, subresource: String?, fieldManager: String, force: Bool, dryRun: Bool) async throws -> T {
        var body = try object.encodedJSON()
        body[path: ["metadata", "managedFields"]] = nil
        let answer = try await patch(T.resourceType, namespace: object.metadata.namespace, name: object.metadata.name ?? "",
                                     type: .apply, body: body.serialized(), subresource: subresource,
                                     options: WriteOptions(fieldManager: fieldManager, force: force, dryRun: dryRun))
        return try T.decoded(from: answer)
    }

    /// PATCH with any patch type and a ready body.
    public func patch<T: KubeResource>(_ type: T.Type, namespace: String?, name: String, type patchType: PatchType, body: Data,
                                       subresource: String? = nil, options: WriteOptions = WriteOptions()) async throws -> T {
        let answer = try await patch(T.resourceType, namespace: namespace, name: name, type: patchType, body: body,
                                     subresource: subresource, options: options)
        return try T.decoded(from: answer)
    }

    /// DELETE; answers the object while finalizers keep it, nil once it is gone.
    @discardableResult
    public func delete<T: KubeResource>(_ type: T.Type, namespace: String?, name: String, options: DeleteOptions = DeleteOptions()) async throws -> T? {
        guard let answer = try await delete(T.resourceType, namespace: namespace, name: name, options: options) else { return nil }
        if answer["kind"]?.stringValue == "Status" { return nil }
        return try T.decoded(from: answer)
    }

    /// PUT the `scale` subresource (`scale.metadata` names the object).
    public func updateScale<T: KubeResource>(_ type: T.Type, _ scale: Scale, options: WriteOptions = WriteOptions()) async throws -> Scale {
        let answer = try await update(T.resourceType, namespace: scale.metadata.namespace, name: scale.metadata.name ?? "",
                                      object: try JSONValue(encoding: scale), subresource: "scale", options: options)
        do {
            return try answer.decode(Scale.self)
        } catch let error as DecodingError {
            throw KubeError.decoding(describe(error, kind: "Scale", object: answer))
        }
    }
}

extension KubernetesWatcher {
    /// WATCH a collection with typed events.
    public func watch<T: KubeResource>(_ type: T.Type, namespace: String?, options: ListOptions = ListOptions()) async throws -> TypedWatchStream<T> {
        TypedWatchStream(try await watch(T.resourceType, namespace: namespace, options: options))
    }
}

/// A watch whose events carry decoded objects. `ERROR` lines end it with `KubeError.api` (410 is
/// `isGone`); an object that does not decode ends it with `KubeError.decoding` naming the object
/// and field. Bookmarks decode too (all model fields but `metadata` are optional).
public struct TypedWatchStream<T: KubeResource>: AsyncSequence, Sendable {
    public typealias Element = WatchEvent<T>
    public let raw: WatchStream

    public init(_ raw: WatchStream) { self.raw = raw }

    public func makeAsyncIterator() -> Iterator { Iterator(inner: raw.makeAsyncIterator()) }

    /// Stops the underlying transfer.
    public func cancel() { raw.cancel() }

    public struct Iterator: AsyncIteratorProtocol {
        var inner: WatchStream.Iterator

        public mutating func next() async throws -> WatchEvent<T>? {
            guard let event = try await inner.next() else { return nil }
            return WatchEvent(type: event.type, object: try T.decoded(from: event.object))
        }
    }
}
