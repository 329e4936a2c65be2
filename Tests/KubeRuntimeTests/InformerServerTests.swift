import Foundation
import OperatorTestSupport
import Synchronization
import KubeCore
import KubeTestServer
import XCTest

@testable import KubeRuntime

/// A small deterministic generator, so a failing run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state ^ (state >> 29)
    }
}

/// The server's objects of a kind, with the type meta a LIST leaves out, keyed like the cache.
func serverObjects(_ client: KubeAPIClient, _ resource: ResourceType, namespace: String?, selector: String) async throws -> [ObjectKey: JSONValue] {
    let list = try await client.listAll(resource, namespace: namespace, options: ListOptions(labelSelector: selector))
    var out: [ObjectKey: JSONValue] = [:]
    for var item in list.items {
        item["apiVersion"] = item["apiVersion"] ?? .string(resource.apiVersion)
        item["kind"] = item["kind"] ?? .string(resource.kind)
        if let key = ObjectKey(object: item) { out[key] = item }
    }
    return out
}

func cacheObjects(_ store: CacheStore) -> [ObjectKey: JSONValue] {
    Dictionary(uniqueKeysWithValues: store.list().compactMap { o in ObjectKey(object: o).map { ($0, o) } })
}

let fastWatcher = WatcherConfiguration(pageSize: 50, backoff: ExponentialBackoff(initial: 0.02, maximum: 0.5, factor: 2, jitter: 0.2),
                                       healthyAfter: 5, watchTimeoutSeconds: 30)

final class InformerServerTests: XCTestCase {
    func testCacheEqualsTheServerAfterAThousandCreatesUpdatesAndDeletes() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        func create(_ name: String, labelled: Bool) async throws {
            let cm = configMap(name, namespace: "default", labels: labelled ? ["suite": "informer"] : ["suite": "other"], data: ["v": "0"])
            var body = cm
            body[path: ["metadata", "resourceVersion"]] = nil
            body[path: ["metadata", "uid"]] = nil
            _ = try await client.create(.configMaps, namespace: "default", object: body)
        }
        // More than a page before the informer starts: the first list is paginated.
        for i in 0..<120 { try await create("pre-\(i)", labelled: true) }
        for i in 0..<10 { try await create("unrelated-\(i)", labelled: false) }

        let informer = Informer(client: client, resource: .configMaps,
                                options: InformerOptions(namespace: "default", labelSelector: "suite=informer", transform: .none,
                                                         watcher: fastWatcher))
        let changes = Counter()
        informer.addHandler { _ in changes.increment() }
        let run = Task { await informer.run() }
        let synced = await informer.waitForSync()
        XCTAssertTrue(synced)
        XCTAssertEqual(informer.store.count, 120, "the paginated list brought every labelled object and nothing else")
        XCTAssertEqual(changes.value, 120)

        var rng = SeededGenerator(state: 42)
        var live = Set((0..<120).map { "pre-\($0)" })
        var next = 0
        for step in 0..<1000 {
            let roll = Int.random(in: 0..<10, using: &rng)
            if roll < 4 || live.count < 10 {
                let name = "cm-\(next)"
                next += 1
                try await create(name, labelled: true)
                live.insert(name)
            } else if roll < 8 {
                let name = live.sorted()[Int.random(in: 0..<live.count, using: &rng)]
                let patch: JSONValue = ["data": ["v": .string(String(step))]]
                _ = try await client.patch(.configMaps, namespace: "default", name: name, type: .merge, body: patch.serialized())
            } else {
                let name = live.sorted()[Int.random(in: 0..<live.count, using: &rng)]
                _ = try await client.delete(.configMaps, namespace: "default", name: name)
                live.remove(name)
            }
        }
        let expected = try await serverObjects(client, .configMaps, namespace: "default", selector: "suite=informer")
        XCTAssertEqual(expected.count, live.count)
        try await waitUntil("the cache equals the server") { cacheObjects(informer.store) == expected }
        XCTAssertEqual(informer.listCount, 1, "no re-list was needed")
        XCTAssertNil(informer.store.get(namespace: "default", name: "unrelated-0"), "the label selector filtered on the server")
        run.cancel()
        await run.value
        try await server.stop()
    }

    func testRelistsAfterTheWatchHistoryIsCompacted() async throws {
        var options = KubeTestServerOptions()
        // No periodic bookmarks: they would move the watcher past the compaction point.
        options.bookmarkInterval = 3600
        let server = try await KubeTestServer.start(options)
        let client = KubeAPIClient(transport: server.transport)
        var config = fastWatcher
        config.watchTimeoutSeconds = 1
        let informer = Informer(client: client, resource: .configMaps,
                                options: InformerOptions(namespace: "default", labelSelector: "suite=compact", watcher: config))
        let run = Task { await informer.run() }
        _ = await informer.waitForSync()
        for i in 0..<5 {
            _ = try await client.create(.configMaps, namespace: "default",
                                        object: configMap("c-\(i)", namespace: "default", labels: ["suite": "compact"]).removingServerFields())
        }
        try await waitUntil("the informer saw the creates") { informer.store.count == 5 }
        // Writes the informer does not watch move the cluster's resourceVersion past the last one it saw;
        // after compaction its next watch (the current one ends within a second) gets 410.
        for i in 0..<3 {
            _ = try await client.create(.secrets, namespace: "default",
                                        object: ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string("s-\(i)")]])
        }
        server.compactWatchHistory()
        try await waitUntil("the informer re-listed") { informer.listCount >= 2 }
        // It goes on watching from the new list.
        _ = try await client.delete(.configMaps, namespace: "default", name: "c-0")
        _ = try await client.create(.configMaps, namespace: "default",
                                    object: configMap("c-9", namespace: "default", labels: ["suite": "compact"]).removingServerFields())
        let expected = try await serverObjects(client, .configMaps, namespace: "default", selector: "suite=compact")
            .mapValues { ObjectTransform.stripManagedFields.apply($0) }
        try await waitUntil("the cache equals the server after the re-list") { cacheObjects(informer.store) == expected }
        XCTAssertTrue(informer.hasSynced)
        run.cancel()
        await run.value
        try await server.stop()
    }

    func testMetadataOnlyInformerKeepsNoSecretData() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let informer = Informer(client: client, resource: .secrets,
                                options: InformerOptions(namespace: "default", transform: .metadataOnly, watcher: fastWatcher))
        let changes = informer.changes()
        let run = Task { await informer.run() }
        _ = await informer.waitForSync()
        _ = try await client.create(.secrets, namespace: "default",
                                    object: ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "db"], "stringData": ["password": "hunter2-secret"]])
        try await waitUntil("the secret is cached") { informer.store.get(namespace: "default", name: "db") != nil }
        let first = try XCTUnwrap(informer.store.get(namespace: "default", name: "db"))
        XCTAssertNil(first["data"])
        XCTAssertFalse(first.serializedString().contains("aHVudGVyMi1zZWNyZXQ"), "no secret bytes in memory")
        XCTAssertFalse(first.serializedString().contains("hunter2"), "no secret bytes in memory")
        let hash = first[ObjectTransform.contentHashKey]
        XCTAssertNotNil(hash)
        var iterator = changes.makeAsyncIterator()
        let change = await iterator.next()
        XCTAssertEqual(change, .added(first), "the change stream carries what the cache keeps")
        let patch: JSONValue = ["stringData": ["password": "changed"]]
        _ = try await client.patch(.secrets, namespace: "default", name: "db", type: .merge, body: patch.serialized())
        try await waitUntil("the change is noticed through the hash") {
            informer.store.get(namespace: "default", name: "db")?[ObjectTransform.contentHashKey] != hash
        }
        run.cancel()
        await run.value
        try await server.stop()
    }
}

/// Forwards to a real client and logs each LIST request, so a test sees the order of requests and
/// of the transform calls between them.
private final class LoggingListClient: Watcher.Client {
    let inner: KubeAPIClient
    let log: Mutex<[String]>
    init(inner: KubeAPIClient) { self.inner = inner; log = Mutex([]) }

    func get(_ resource: ResourceType, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        try await inner.get(resource, namespace: namespace, name: name, subresource: subresource)
    }
    func list(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> ObjectList<JSONValue> {
        log.withLock { $0.append("list") }
        return try await inner.list(resource, namespace: namespace, options: options)
    }
    func list(_ resource: ResourceType, namespace: String?, options: ListOptions,
              transformingItems transform: @Sendable (JSONValue) -> JSONValue, droppingManagedFields: Bool) async throws -> ObjectList<JSONValue> {
        log.withLock { $0.append("list") }
        return try await inner.list(resource, namespace: namespace, options: options, transformingItems: transform, droppingManagedFields: droppingManagedFields)
    }
    func watch(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> WatchStream {
        try await inner.watch(resource, namespace: namespace, options: options)
    }
}

final class WatcherTransformTests: XCTestCase {
    /// Each LIST item is projected while its page is read, before the next page is asked for, and
    /// the list handed to the cache holds projections only; watch events are projected as well.
    func testItemsAreTransformedAsEachPageArrivesNotAfterTheWholeList() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        for i in 0..<120 {
            _ = try await client.create(.configMaps, namespace: "default",
                                        object: configMap("big-\(i)", namespace: "default", labels: ["suite": "stream"],
                                                          data: ["payload": String(repeating: "x", count: 2048)]).removingServerFields())
        }
        let logging = LoggingListClient(inner: client)
        let watcher = Watcher(client: logging, resource: .configMaps, namespace: "default", labelSelector: "suite=stream",
                              configuration: fastWatcher, transform: { object in
                                  logging.log.withLock { $0.append("t") }
                                  return ObjectTransform.fullWhenLabelled(labelKey: "none", labelValue: "none").apply(object)
                              })
        let received = Mutex<[CacheOperation]>([])
        let run = Task { await watcher.run { op in received.withLock { $0.append(op) } } }
        try await waitUntil("the list reached the sink") { received.withLock { !$0.isEmpty } }

        let pages = logging.log.withLock { entries in entries.split(separator: "list", omittingEmptySubsequences: false).dropFirst().map(\.count) }
        XCTAssertEqual(pages, [50, 50, 20], "every page's items are transformed before the next page is requested")
        guard case .replaceAll(let items, _) = received.withLock({ $0.first }) else { return XCTFail("the first operation is the list") }
        XCTAssertEqual(items.count, 120)
        XCTAssertTrue(items.allSatisfy { $0["data"] == nil && $0[path: ["metadata", "labels"]] == nil }, "only projections reach the cache")

        _ = try await client.patch(.configMaps, namespace: "default", name: "big-3", type: .merge,
                                   body: Data(#"{"data":{"payload":"changed"}}"#.utf8))
        try await waitUntil("the watch event reached the sink") { received.withLock { $0.count >= 2 } }
        guard case .upsert(let object) = received.withLock({ $0[1] }) else { return XCTFail("a watch upsert follows") }
        XCTAssertNil(object["data"], "watch events are transformed too")
        XCTAssertEqual(object[path: ["metadata", "name"]], "big-3")
        run.cancel()
        await run.value
        try await server.stop()
    }
}

/// A thread-safe counter for handlers.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

extension JSONValue {
    /// The object as a client would send it: without uid and resourceVersion.
    func removingServerFields() -> JSONValue {
        var o = self
        o[path: ["metadata", "resourceVersion"]] = nil
        o[path: ["metadata", "uid"]] = nil
        return o
    }
}
