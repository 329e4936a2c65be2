import Foundation
import KubeCore
import Synchronization

/// Watches one namespace's PynomalyDeployments and Deployments from the bench's side and records,
/// with monotonic timestamps taken as each event arrives: when each PynomalyDeployment first was
/// Ready (for its current generation), when one first had a status, when each Deployment was first
/// seen, and every image a Deployment's pod template showed.
final class Observer: Sendable {
    struct State: Sendable {
        var readyAt: [String: Double] = [:]
        var firstStatusAt: Double?
        var firstDeploymentAt: Double?
        /// The first object the operator created (its ConfigMap comes before the Deployment).
        var firstChildAt: Double?
        /// instance name → (time, image) in arrival order.
        var images: [String: [(at: Double, image: String)]] = [:]
    }

    private let state = Mutex(State())
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// Opens both watches and returns once the server answered them.
    static func start(_ client: KubeAPIClient, namespace: String) async throws -> Observer {
        let observer = Observer()
        let pyd = try await client.watch(.pynomalyDeployments, namespace: namespace, options: ListOptions(timeoutSeconds: 3600))
        let deployments = try await client.watch(.deployments, namespace: namespace, options: ListOptions(timeoutSeconds: 3600))
        observer.follow(client, .pynomalyDeployments, namespace: namespace, first: pyd) { observer.sawDeploymentResource($0, at: $1) }
        observer.follow(client, .deployments, namespace: namespace, first: deployments) { observer.sawDeployment($0, at: $1) }
        let managed = ListOptions(labelSelector: "app.kubernetes.io/managed-by=pynomaly-operator", timeoutSeconds: 3600)
        let configMaps = try await client.watch(.configMaps, namespace: namespace, options: managed)
        observer.follow(client, .configMaps, namespace: namespace, options: managed, first: configMaps) { observer.sawChild($0, at: $1) }
        return observer
    }

    var snapshot: State { state.withLock { $0 } }

    func stop() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    /// Consumes `first`, then re-watches from the last resourceVersion whenever the stream ends.
    private func follow(_ client: KubeAPIClient, _ resource: ResourceType, namespace: String,
                        options: ListOptions = ListOptions(timeoutSeconds: 3600), first: WatchStream,
                        handle: @escaping @Sendable (JSONValue, Double) -> Void) {
        let task = Task {
            var stream: WatchStream? = first
            var resourceVersion: String?
            while !Task.isCancelled {
                do {
                    if stream == nil {
                        var again = options
                        again.resourceVersion = resourceVersion
                        stream = try await client.watch(resource, namespace: namespace, options: again)
                    }
                    guard let current = stream else { continue }
                    try await withTaskCancellationHandler {
                        for try await event in current {
                            let at = monotonicSeconds()
                            if let rv = event.object[path: ["metadata", "resourceVersion"]]?.stringValue { resourceVersion = rv }
                            guard event.type == .added || event.type == .modified else { continue }
                            handle(event.object, at)
                        }
                    } onCancel: { current.cancel() }
                } catch {
                    if Task.isCancelled { return }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                stream = nil
            }
        }
        tasks.withLock { $0.append(task) }
    }

    private func sawDeploymentResource(_ object: JSONValue, at: Double) {
        guard let name = object[path: ["metadata", "name"]]?.stringValue else { return }
        state.withLock { state in
            if object["status"]?.objectValue?.isEmpty == false, state.firstStatusAt == nil { state.firstStatusAt = at }
            if Self.isReady(object) {
                if state.readyAt[name] == nil { state.readyAt[name] = at }
            } else {
                state.readyAt[name] = nil
            }
        }
    }

    private func sawChild(_ object: JSONValue, at: Double) {
        state.withLock { state in
            state.firstChildAt = min(state.firstChildAt ?? at, at)
        }
    }

    private func sawDeployment(_ object: JSONValue, at: Double) {
        let instance = object[path: ["metadata", "labels", "app.kubernetes.io/instance"]]?.stringValue
            ?? object[path: ["metadata", "name"]]?.stringValue ?? "?"
        let image = object[path: ["spec", "template", "spec", "containers"]]?[0]?["image"]?.stringValue ?? ""
        state.withLock { state in
            if state.firstDeploymentAt == nil { state.firstDeploymentAt = at }
            if state.firstChildAt == nil { state.firstChildAt = at }
            if state.images[instance]?.last?.image != image { state.images[instance, default: []].append((at, image)) }
        }
    }

    /// Ready=True for the current generation (as the sandbox and `kubectl wait` read it).
    static func isReady(_ object: JSONValue) -> Bool {
        let conditions = object[path: ["status", "conditions"]]?.arrayValue ?? []
        guard let ready = conditions.first(where: { $0["type"]?.stringValue == "Ready" }),
              ready["status"]?.stringValue == "True" else { return false }
        let generation = object[path: ["metadata", "generation"]]?.intValue
        let observed = object[path: ["status", "observedGeneration"]]?.intValue
        return generation == nil || observed == nil || generation == observed
    }

    /// Polls until `condition` holds for the recorded state, or throws after `timeout` seconds.
    func wait(timeout: Double, what: String, until condition: (State) -> Bool) async throws -> State {
        let deadline = monotonicSeconds() + timeout
        while true {
            let current = snapshot
            if condition(current) { return current }
            guard monotonicSeconds() < deadline else { throw BenchError("timed out after \(Int(timeout)) s waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
