import Foundation
import KubeCore
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// A watch body fed by the test: scripted lines, then an end, a failure, or nothing until cancelled.
final class ScriptedChunks: ByteChunkSource, @unchecked Sendable {
    // One consumer reads sequentially (the watcher), so the iterator is never used concurrently.
    private var iterator: AsyncThrowingStream<Data, any Error>.Iterator
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation

    enum Ending { case end, fail(any Error), hang }

    init(lines: [String], ending: Ending) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
        iterator = stream.makeAsyncIterator()
        self.continuation = continuation
        for line in lines { continuation.yield(Data((line + "\n").utf8)) }
        switch ending {
        case .end: continuation.finish()
        case .fail(let error): continuation.finish(throwing: error)
        case .hang: break
        }
    }

    func next() async throws -> Data? { try await iterator.next() }
    func cancel() { continuation.finish() }
}

/// A reader/watcher that answers from a script and records what was asked.
final class ScriptedClient: KubernetesReader, KubernetesWatcher {
    struct Script {
        var lists: [Result<ObjectList<JSONValue>, any Error>] = []
        var watches: [(lines: [String], ending: ScriptedChunks.Ending)] = []
    }
    private let script: Mutex<Script>
    let requests = Mutex<[String]>([])

    init(_ script: Script) { self.script = Mutex(script) }

    func get(_ resource: ResourceType, namespace: String?, name: String, subresource: String?) async throws -> JSONValue {
        throw KubeError.invalidRequest("not scripted")
    }

    func list(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> ObjectList<JSONValue> {
        requests.withLock { $0.append("list limit=\(options.limit ?? 0) continue=\(options.continue ?? "")") }
        let next = script.withLock { $0.lists.isEmpty ? nil : $0.lists.removeFirst() }
        guard let next else { throw KubeError.invalidRequest("no more scripted lists") }
        return try next.get()
    }

    func watch(_ resource: ResourceType, namespace: String?, options: ListOptions) async throws -> WatchStream {
        requests.withLock { $0.append("watch rv=\(options.resourceVersion ?? "") bookmarks=\(options.allowWatchBookmarks ?? false)") }
        let next = script.withLock { $0.watches.isEmpty ? nil : $0.watches.removeFirst() }
        let (lines, ending) = next ?? ([], .hang)
        return WatchStream(source: ScriptedChunks(lines: lines, ending: ending))
    }
}

func watchLine(_ type: String, _ object: JSONValue) -> String {
    JSONValue.object(["type": .string(type), "object": object]).serializedString()
}

final class WatcherShellTests: XCTestCase {
    func testGoneMidStreamRelistsAndTheCacheDropsWhatVanished() async throws {
        let expired = #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 10 (15)","reason":"Expired","code":410}}"#
        let client = ScriptedClient(.init(
            lists: [
                .success(ObjectList(metadata: ListMeta(resourceVersion: "", continue: "p2"), items: [configMap("a", rv: "5")])),
                .success(ObjectList(metadata: ListMeta(resourceVersion: "10"), items: [configMap("b", rv: "6")])),
                // The re-list: a vanished, c changed, d is new.
                .success(ObjectList(metadata: ListMeta(resourceVersion: "20"), items: [configMap("b", rv: "6"), configMap("c", rv: "18"), configMap("d", rv: "19")])),
            ],
            watches: [
                ([watchLine("ADDED", configMap("c", rv: "11")),
                  watchLine("BOOKMARK", ["kind": "ConfigMap", "apiVersion": "v1", "metadata": ["resourceVersion": "12"]]),
                  expired], .end),
            ]))
        let informer = Informer(client: client, resource: .configMaps, options: InformerOptions(transform: .none, watcher: fastWatcher),
                                clock: ManualClock())
        let seen = Mutex<[String]>([])
        informer.addHandler { change in
            let name = change.object[path: ["metadata", "name"]]?.stringValue ?? "?"
            switch change {
            case .added: seen.withLock { $0.append("+\(name)") }
            case .updated: seen.withLock { $0.append("~\(name)") }
            case .deleted: seen.withLock { $0.append("-\(name)") }
            }
        }
        let run = Task { await informer.run() }
        try await waitUntil("the re-list was applied and the next watch opened") {
            informer.listCount == 2 && client.requests.withLock { $0.count } == 5
        }
        XCTAssertEqual(client.requests.withLock { $0 }, [
            "list limit=50 continue=", "list limit=50 continue=p2", "watch rv=10 bookmarks=true",
            "list limit=50 continue=", "watch rv=20 bookmarks=true",
        ])
        XCTAssertEqual(seen.withLock { $0 }, ["+a", "+b", "+c", "~c", "+d", "-a"])
        XCTAssertEqual(informer.store.keys.map(\.name), ["b", "c", "d"])
        XCTAssertEqual(informer.store.get(namespace: "ns", name: "c")?[path: ["metadata", "resourceVersion"]], "18")
        run.cancel()
        await run.value
    }

    func testFailedWatchesBackOffOnTheClockAndResumeFromTheLastResourceVersion() async throws {
        let clock = ManualClock()
        let client = ScriptedClient(.init(
            lists: [.success(ObjectList(metadata: ListMeta(resourceVersion: "10"), items: []))],
            watches: [
                ([], .fail(KubeError.transport(TransportError(kind: .connectionClosed, detail: "reset")))),
                ([], .fail(KubeError.transport(TransportError(kind: .connectionClosed, detail: "reset")))),
                ([watchLine("ADDED", configMap("x", rv: "30"))], .end),
            ]))
        let config = WatcherConfiguration(backoff: ExponentialBackoff(initial: 1, maximum: 30, factor: 2, jitter: 0), healthyAfter: 100)
        let informer = Informer(client: client, resource: .configMaps, options: InformerOptions(watcher: config), clock: clock, random: { 0 })
        let run = Task { await informer.run() }
        try await waitUntil("the first watch failed and the watcher sleeps 1 s") { clock.nextDeadline == 1 }
        XCTAssertEqual(client.requests.withLock { $0.count }, 2)
        clock.advance(by: 1)
        try await waitUntil("the second watch failed and the watcher sleeps 2 s") { clock.nextDeadline == 3 }
        clock.advance(by: 2)
        try await waitUntil("the third watch delivered x") { informer.store.count == 1 }
        // It ended after an event (progress): the backoff starts over, and the watch resumes from x's version at once.
        try await waitUntil("the fourth watch opened") { client.requests.withLock { $0.count } == 5 }
        XCTAssertEqual(client.requests.withLock { $0 }, [
            "list limit=500 continue=", "watch rv=10 bookmarks=true", "watch rv=10 bookmarks=true",
            "watch rv=10 bookmarks=true", "watch rv=30 bookmarks=true",
        ])
        XCTAssertEqual(informer.listCount, 1, "transport failures do not re-list")
        run.cancel()
        await run.value
    }
}
