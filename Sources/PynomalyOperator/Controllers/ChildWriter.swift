import KubeCore
import KubeRuntime
import Logging

/// A child that exists under the name the operator wants but is not controlled by this CR: the
/// operator refuses to take it over (it could be someone's hand-made Deployment).
struct NotOwnedError: Error, CustomStringConvertible {
    var kind: String
    var name: String
    /// Another way out than renaming or deleting, where there is one.
    var hint: String? = nil
    /// The kind of the custom resource that wanted the name.
    var ownerKind = PynomalyDeployment.resourceType.kind
    var description: String {
        "\(kind) \(name) exists and is not controlled by this \(ownerKind); rename or delete it" + (hint.map { "; \($0)" } ?? "")
    }
}

/// The API server refused a child the operator built (invalid, forbidden, or a field it does not
/// know): retrying the same write cannot succeed until the spec, the cluster or RBAC changes.
struct ChildWriteRefused: Error, CustomStringConvertible {
    var kind: String
    var name: String
    var error: KubeError
    var description: String {
        let message = error.status?.message ?? "\(error)"
        return "the API server refused \(kind) \(name) (\(error.status?.code.map(String.init) ?? "?") \(error.status?.reason ?? "")): \(message)"
    }

    /// Whether `error` is a refusal of the object itself rather than a transient failure: invalid
    /// (422), bad request (400), forbidden (403), unsupported (415), or the 500 that server-side
    /// apply answers for a field the kind's schema does not have.
    static func isRefusal(_ error: KubeError) -> Bool {
        guard let code = error.status?.code else { return false }
        if [400, 403, 415, 422].contains(code) { return true }
        return code == 500 && (error.status?.message ?? "").contains("failed to create typed patch object")
    }
}

extension JSONValue {
    /// Whether this object's controller reference names the object with `uid`.
    public func isControlled(by uid: String) -> Bool {
        guard !uid.isEmpty, let refs = self[path: ["metadata", "ownerReferences"]]?.arrayValue else { return false }
        return refs.contains { $0["controller"]?.boolValue == true && $0["uid"]?.stringValue == uid }
    }
}

/// Every write the operator makes for one custom resource: to the objects it owns (compare with the
/// cache, then server-side apply only what differs; create-once; delete with a uid precondition;
/// scale), to its status, and its Events. The passes decide what and in which order; how a write is
/// made, refused or cached is decided here, once.
///
/// Ownership is the controller reference: an object under a child's name that the owner does not
/// control is never written or deleted (`NotOwnedError`). Every answer goes into the cache at once
/// (read-your-writes), so the next pass compares with what the server has.
struct ChildWriter: Sendable {
    static let fieldManager = "pynomaly-operator"

    /// The custom resource the children belong to.
    struct Owner: Sendable {
        /// As the cache holds it: Events are recorded on it and the status is written over it.
        var stored: JSONValue
        var resource: ResourceType
        /// Its informer, which takes the answer of a status write.
        var cache: Informer?

        var uid: String { stored[path: ["metadata", "uid"]]?.stringValue ?? "" }
        var name: String { stored[path: ["metadata", "name"]]?.stringValue ?? "" }
        /// Where the children live: the owner's namespace.
        var namespace: String { stored[path: ["metadata", "namespace"]]?.stringValue ?? "default" }
    }

    let client: any PynomalyDeploymentReconciler.Client
    let caches: OperatorCaches
    let events: EventRecorder?
    let owner: Owner

    var logger: Logger { ReconcileContext.current?.logger ?? .disabled }

    // MARK: Apply

    /// Applies `desired` unless the live object already contains it (compare, then write). A name
    /// taken by an object the owner does not control is refused. `removesOldFields`: apply even when
    /// the live object contains `desired`, because a field this manager applied before must go (a
    /// superset would otherwise look converged). Answers the object as compared or written.
    @discardableResult
    func apply<T: KubeResource>(_ desired: T, removesOldFields: Bool = false) async throws -> JSONValue {
        try await apply(json: try JSONValue(encoding: desired), T.resourceType, removesOldFields: removesOldFields)
    }

    /// `apply` for an object built as JSON (kinds without a typed model, e.g. ServiceMonitor).
    @discardableResult
    func apply(json body: JSONValue, _ resource: ResourceType, removesOldFields: Bool = false) async throws -> JSONValue {
        guard let name = body[path: ["metadata", "name"]]?.stringValue else { throw KubeError.configuration("a built \(resource.kind) has no name") }
        if let live = try await current(resource, name: name) {
            guard live.isControlled(by: owner.uid) else { throw notOwned(resource, name) }
            if live.contains(body) && !removesOldFields {
                guard let drift = ChildDrift.find(resource, live: live, desired: body) else { return live }
                return try await revert(drift, resource, name: name)
            }
        }
        logger.info("applying", metadata: ["kind": .string(resource.kind), "object": .string(name)])
        let answer = try await write(resource, name: name) {
            try await client.patch(resource, namespace: owner.namespace, name: name, type: .apply, body: body.serialized(), subresource: nil,
                                   options: WriteOptions(fieldManager: Self.fieldManager, force: true))
        }
        // Judged after the apply: what this manager set before and no longer sends is gone now, so
        // what is left beyond the desired object in the owned fields was added by someone else.
        if let drift = ChildDrift.find(resource, live: answer, desired: body) {
            return try await revert(drift, resource, name: name)
        }
        return answer
    }

    /// Applies an optional child, or deletes the one the owner controls when it is no longer wanted.
    /// Answers the child as applied or compared; nil when it is not wanted.
    @discardableResult
    func apply<T: KubeResource>(_ desired: T?, orDelete name: String) async throws -> JSONValue? {
        if let desired { return try await apply(desired) }
        try await deleteIfOwned(T.resourceType, name: name)
        return nil
    }

    /// Removes what another field manager added to the owned fields (`ChildDrift`) with one merge
    /// patch, and says so in a Warning Event on the owner, where `kubectl describe` shows it.
    private func revert(_ drift: ChildDrift.Finding, _ resource: ResourceType, name: String) async throws -> JSONValue {
        let fields = drift.fields.joined(separator: ", ")
        logger.warning("reverting hand edits", metadata: ["kind": .string(resource.kind), "object": .string(name), "fields": .string(fields)])
        let answer = try await write(resource, name: name) {
            try await client.patch(resource, namespace: owner.namespace, name: name, type: .merge, body: drift.patch.serialized(), subresource: nil,
                                   options: WriteOptions(fieldManager: Self.fieldManager))
        }
        record(PlannedEvent(.warning, "DriftReverted",
                            "\(resource.kind) \(name): \(fields) changed by someone else; restored to what the \(owner.resource.kind) says"))
        return answer
    }

    // MARK: Create once

    /// What `createOnce` found.
    struct Created {
        var object: JSONValue
        /// False: it existed already (the same request seen before).
        var isNew: Bool
    }

    /// Creates a one-shot object under a deterministic name (a Job per request, a ControllerRevision
    /// per template, the backup claim). One that exists already is the same request seen before, so
    /// AlreadyExists is success, when `isOurs` says the object is ours (by default: the owner
    /// controls it); else it is refused, with `hint` as another way out.
    @discardableResult
    func createOnce<T: KubeResource>(_ object: T, isOurs: ((JSONValue) -> Bool)? = nil, hint: String? = nil) async throws -> Created {
        let resource = T.resourceType
        let name = object.metadata.name ?? ""
        let ours: (JSONValue) -> Bool = isOurs ?? { $0.isControlled(by: owner.uid) }
        // Someone else's object is cached as a stub without labels or owners: refused with no request.
        if let cached = caches.ownedInformers[resource.resource]?.store.get(namespace: owner.namespace, name: name) {
            guard ours(cached) else { throw notOwned(resource, name, hint: hint) }
            return Created(object: cached, isNew: false)
        }
        logger.info("creating", metadata: ["kind": .string(resource.kind), "object": .string(name)])
        do {
            let answer = try await write(resource, name: name) {
                try await client.create(resource, namespace: owner.namespace, object: try JSONValue(encoding: object),
                                        options: WriteOptions(fieldManager: Self.fieldManager))
            }
            return Created(object: answer, isNew: true)
        } catch let error as KubeError where error.isAlreadyExists {
            let live = try await client.get(resource, namespace: owner.namespace, name: name, subresource: nil)
            guard ours(live) else { throw notOwned(resource, name, hint: hint) }
            return Created(object: live, isNew: false)
        }
    }

    // MARK: Change in place

    /// Sets only the replica count of a Deployment the owner controls (a merge patch: applying a
    /// partial object would drop the template).
    func scale(deployment name: String, replicas: Int32) async throws {
        guard let live = controlledChild(.deployments, name: name),
              live[path: ["spec", "replicas"]]?.intValue.map(Int32.init) != replicas else { return }
        logger.info("scaling", metadata: ["object": .string(name), "replicas": .stringConvertible(replicas)])
        try await mergePatch(.deployments, name: name, ["spec": ["replicas": .int(Int64(replicas))]])
    }

    /// Suspends a CronJob the owner controls where it stands, without building it from the spec.
    func suspend(cronJob name: String) async throws {
        guard let live = controlledChild(.cronJobs, name: name), live[path: ["spec", "suspend"]]?.boolValue != true else { return }
        try await mergePatch(.cronJobs, name: name, ["spec": ["suspend": true]])
    }

    private func mergePatch(_ resource: ResourceType, name: String, _ body: JSONValue) async throws {
        _ = try await write(resource, name: name) {
            try await client.patch(resource, namespace: owner.namespace, name: name, type: .merge, body: body.serialized(), subresource: nil,
                                   options: WriteOptions(fieldManager: Self.fieldManager))
        }
    }

    // MARK: Delete

    /// Deletes `name` when it exists and the owner controls it, with a uid precondition so only the
    /// object judged ours goes. A kind without a cache (the monitoring kinds) is read first.
    /// `propagation`: e.g. "Background" for a Job, whose pods go with it.
    func deleteIfOwned(_ resource: ResourceType, name: String, propagation: String? = nil) async throws {
        let live: JSONValue?
        if caches.ownedInformers[resource.resource] != nil {
            live = controlledChild(resource, name: name)
        } else {
            live = try await get(resource, name: name).flatMap { $0.isControlled(by: owner.uid) ? $0 : nil }
        }
        guard let live else { return }
        logger.info("deleting", metadata: ["kind": .string(resource.kind), "object": .string(name)])
        var options = DeleteOptions(propagationPolicy: propagation)
        options.preconditionUID = live[path: ["metadata", "uid"]]?.stringValue
        do {
            _ = try await client.delete(resource, namespace: owner.namespace, name: name, options: options)
        } catch let error as KubeError where error.isNotFound {
            return
        }
    }

    // MARK: Status and Events

    /// Writes the owner's status through the status subresource, over the stored object's
    /// resourceVersion: a stale cache answers 409 and the pass is retried once the cache caught up.
    /// The answer goes into the owner's cache at once, so the next pass reads this status.
    func writeStatus<S: Encodable>(_ status: S) async throws {
        var object = owner.stored
        object["status"] = try JSONValue(encoding: status)
        let basis = owner.cache?.writeBasis(basedOn: owner.stored[path: ["metadata", "resourceVersion"]]?.stringValue)
        // The answer only goes into the cache, and the watch usually delivered the write before
        // the answer arrives: then it is not even parsed.
        let (cache, namespace, name) = (owner.cache, owner.namespace, owner.name)
        let answer = try await client.update(owner.resource, namespace: namespace, name: name, object: object, subresource: "status",
                                             options: WriteOptions(fieldManager: Self.fieldManager), keepingAnswerIf: {
            guard let cache, let basis else { return false }
            return cache.mayStoreWritten(namespace: namespace, name: name, basis: basis)
        })
        if let basis, let answer { owner.cache?.storeWritten(answer, basis: basis) }
    }

    /// Records an Event on the owner (and logs it).
    func record(_ event: PlannedEvent) {
        logger.info("event", metadata: ["reason": .string(event.reason), "message": .string(event.message)])
        events?.record(owner.stored, type: event.type, reason: event.reason, message: event.message)
    }

    // MARK: Reading

    /// The cached child `name` of `resource` when the owner controls it.
    func controlledChild(_ resource: ResourceType, name: String) -> JSONValue? {
        caches.owned(resource, namespace: owner.namespace, name: name).flatMap { $0.isControlled(by: owner.uid) ? $0 : nil }
    }

    /// The object under `name` as the compare needs it: the cached one when it is ours; else, unless a
    /// synced cache rules it out, from the API server (someone else's, cached as a stub only; just
    /// created and not seen by the watch yet; or the cache has not synced).
    private func current(_ resource: ResourceType, name: String) async throws -> JSONValue? {
        if let cached = caches.owned(resource, namespace: owner.namespace, name: name) { return cached }
        if caches.knownAbsent(resource, namespace: owner.namespace, name: name) { return nil }
        return try await get(resource, name: name)
    }

    private func get(_ resource: ResourceType, name: String) async throws -> JSONValue? {
        do {
            return try await client.get(resource, namespace: owner.namespace, name: name, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            return nil
        }
    }

    /// Runs one write of a child: a refusal of the object becomes `ChildWriteRefused`, and the answer
    /// goes into the cache unless the watch may already be past it.
    private func write(_ resource: ResourceType, name: String, _ request: () async throws -> JSONValue) async throws -> JSONValue {
        let basis = caches.writeBasis(resource, namespace: owner.namespace, name: name)
        let answer: JSONValue
        do {
            answer = try await request()
        } catch let error as KubeError where ChildWriteRefused.isRefusal(error) {
            throw ChildWriteRefused(kind: resource.kind, name: name, error: error)
        }
        caches.storeWritten(resource, answer, basis: basis)
        return answer
    }

    private func notOwned(_ resource: ResourceType, _ name: String, hint: String? = nil) -> NotOwnedError {
        NotOwnedError(kind: resource.kind, name: name, hint: hint, ownerKind: owner.resource.kind)
    }
}
