import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import KubeRuntime

final class EventRecorderTests: XCTestCase {
    private func events(_ client: KubeAPIClient, reason: String) async throws -> [JSONValue] {
        try await client.list(.events, namespace: "default").items.filter { $0["reason"]?.stringValue == reason }
    }

    func testFiftyIdenticalEventsBecomeOneEventWithCountFifty() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        var target = try await client.create(.configMaps, namespace: "default",
                                             object: configMap("ev-target", namespace: "default").removingServerFields())
        target["apiVersion"] = "v1"
        target["kind"] = "ConfigMap"
        // A small per-object burst, so most repeats are held back by the rate limit and written
        // together: counts are delayed, never lost.
        let recorder = EventRecorder(client: client, configuration: EventRecorderConfiguration(
            component: "pynomaly-operator", instance: "op-0", perObjectBurst: 3, perObjectQPS: 20, flushInterval: 0.02))
        let run = Task { await recorder.run() }
        for _ in 0..<50 {
            XCTAssertTrue(recorder.record(target, type: .normal, reason: "Synced", message: "mirror is up to date"))
        }
        XCTAssertTrue(recorder.record(target, type: .warning, reason: "Drift", message: "mirror was edited"))
        try await waitUntil("the aggregated Event reaches count 50 and the Warning is written") {
            let (synced, drift) = (try await self.events(client, reason: "Synced"), try await self.events(client, reason: "Drift"))
            return synced.first?["count"]?.intValue == 50 && drift.count == 1
        }
        let synced = try await events(client, reason: "Synced")
        XCTAssertEqual(synced.count, 1, "one Event, not fifty")
        let event = try XCTUnwrap(synced.first)
        XCTAssertEqual(event[path: ["involvedObject", "uid"]], target[path: ["metadata", "uid"]])
        XCTAssertEqual(event[path: ["involvedObject", "kind"]], "ConfigMap")
        XCTAssertEqual(event[path: ["involvedObject", "name"]], "ev-target")
        XCTAssertEqual(event["type"], "Normal")
        XCTAssertEqual(event[path: ["source", "component"]], "pynomaly-operator")
        XCTAssertEqual(event["reportingComponent"], "pynomaly-operator")
        XCTAssertEqual(event["reportingInstance"], "op-0")
        let name = try XCTUnwrap(event[path: ["metadata", "name"]]?.stringValue)
        XCTAssertTrue(name.hasPrefix("ev-target."), name)
        XCTAssertNotNil(UInt64(name.dropFirst("ev-target.".count), radix: 16), "NAME.<hex nanoseconds>: \(name)")
        let drift = try await events(client, reason: "Drift")
        XCTAssertEqual(drift.count, 1)
        XCTAssertEqual(drift.first?["type"], "Warning")
        let stats = recorder.stats
        XCTAssertEqual(stats.created, 2)
        XCTAssertGreaterThan(stats.deferred, 0, "the rate limit held some repeats back")
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertLessThan(stats.patched, 49, "held-back repeats were written together")
        run.cancel()
        await run.value
        try await server.stop()
    }

    func testRepeatsHeldBackByTheRateLimitAreWrittenOnStop() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let target = configMap("held", namespace: "default")
        // One write per object, then nothing for five minutes.
        let recorder = EventRecorder(client: client, configuration: EventRecorderConfiguration(
            component: "t", perObjectBurst: 1, perObjectQPS: 1.0 / 300, flushInterval: 3600))
        let run = Task { await recorder.run() }
        for _ in 0..<10 { recorder.record(target, type: .normal, reason: "Repeat", message: "again") }
        try await waitUntil("the first is written and the rest held back") {
            recorder.stats.created == 1 && recorder.stats.deferred == 9
        }
        let early = try await events(client, reason: "Repeat")
        XCTAssertEqual(early.first?["count"], 1)
        run.cancel()
        await run.value
        let final = try await events(client, reason: "Repeat")
        XCTAssertEqual(final.count, 1)
        XCTAssertEqual(final.first?["count"], 10, "the held-back repeats were written when the recorder stopped")
        try await server.stop()
    }

    func testRecordNeverBlocksAndCountsDropsWhenTheQueueIsFull() async throws {
        let server = try await KubeTestServer.start()
        let recorder = EventRecorder(client: KubeAPIClient(transport: server.transport),
                                     configuration: EventRecorderConfiguration(component: "t", queueBound: 10))
        // Not running: nothing drains the queue.
        let accepted = (0..<15).filter { i in
            recorder.record(configMap("o\(i)", namespace: "default"), type: .normal, reason: "R", message: "m")
        }
        XCTAssertEqual(accepted.count, 10)
        XCTAssertEqual(recorder.stats.recorded, 10)
        XCTAssertEqual(recorder.stats.dropped, 5)
        XCTAssertFalse(recorder.record(["metadata": [:]], type: .normal, reason: "R", message: "an object without a name"))
        try await server.stop()
    }

    func testTheMetricsExportWhatBecameOfTheEvents() async throws {
        let server = try await KubeTestServer.start()
        let recorder = EventRecorder(client: KubeAPIClient(transport: server.transport),
                                     configuration: EventRecorderConfiguration(component: "t", queueBound: 2))
        let metrics = RuntimeMetrics()
        metrics.eventRecorder(recorder)
        XCTAssertTrue(metrics.exposition().contains(#"event_recorder_events_total{result="dropped"} 0"#))
        for i in 0..<5 { recorder.record(configMap("o\(i)", namespace: "default"), type: .normal, reason: "R", message: "m") }
        let text = metrics.exposition()
        XCTAssertTrue(text.contains(#"event_recorder_events_total{result="recorded"} 2"#), text)
        XCTAssertTrue(text.contains(#"event_recorder_events_total{result="dropped"} 3"#), text)
        // Read again: the counters do not count the same drops twice.
        XCTAssertTrue(metrics.exposition().contains(#"event_recorder_events_total{result="dropped"} 3"#))
        try await server.stop()
    }
}
