import Foundation
import KubeCore
import KubeTestServer
import Logging
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

/// Collects rendered log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

final class LoggingTests: XCTestCase {
    func testJSONAndTextLinesCarryFieldsAndEscape() throws {
        let time = Date(timeIntervalSince1970: 1_800_000_000.25)
        let json = StructuredLogHandler.render(time: time, level: .error, label: "op", message: "bad \"quote\"\nnext",
                                               metadata: ["name": "web", "controller": "pyd"], format: .json)
        let parsed = try JSONValue(parsing: json)
        XCTAssertEqual(parsed["msg"]?.stringValue, "bad \"quote\"\nnext")
        XCTAssertEqual(parsed["level"]?.stringValue, "error")
        XCTAssertEqual(parsed["name"]?.stringValue, "web")
        XCTAssertEqual(parsed["ts"]?.stringValue, "2027-01-15T08:00:00.250Z")
        XCTAssertFalse(json.contains("\n"), "one line per message")

        let text = StructuredLogHandler.render(time: time, level: .info, label: "op", message: "applied",
                                               metadata: ["object": "a b", "kind": "Deployment"], format: .text)
        XCTAssertEqual(text, "2027-01-15T08:00:00.250Z INFO applied kind=Deployment object=\"a b\"")
    }

    /// Reconcile ids read as version-4 UUIDs (as controller-runtime's), and differ.
    func testReconcileIDsAreRandomVersionFourUUIDs() throws {
        let ids = (0..<1000).map { _ in ReconcileContext.newReconcileID() }
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids.prefix(20) {
            let parsed = try XCTUnwrap(UUID(uuidString: id), id)
            XCTAssertEqual(parsed.uuidString.lowercased(), id)
            let bytes = parsed.uuid
            XCTAssertEqual(bytes.6 >> 4, 4, "version 4: \(id)")
            XCTAssertEqual(bytes.8 >> 6, 2, "RFC 4122 variant: \(id)")
        }
    }

    func testEveryReconcileLogsWithControllerNamespaceNameAndAReconcileID() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let lines = LogLines()
        let logger = Logger(label: "test") { label in
            StructuredLogHandler(label: label, format: .json, level: .debug) { lines.append($0) }
        }
        let informer = Informer(client: client, resource: .configMaps, options: InformerOptions(namespace: "default", labelSelector: "mirror=true", watcher: fastWatcher))
        let seen = Mutex<[String]>([])
        let controller = Controller(name: "logger-test", primary: informer, reconciler: ReconcileFunction { key in
            ReconcileContext.current?.logger.info("inside")
            seen.withLock { $0.append(ReconcileContext.current?.reconcileID ?? "") }
            return key.name == "fails" ? .error("boom") : .done
        }, options: ControllerOptions(resyncPeriod: nil), logger: logger)
        for name in ["one", "fails"] {
            _ = try await client.create(.configMaps, namespace: "default",
                                        object: configMap(name, namespace: "default", labels: ["mirror": "true"]).removingServerFields())
        }
        let run = Task { await informer.run() }
        let work = Task { await controller.run() }
        try await waitUntil("both were reconciled and the failure logged") {
            lines.all.contains { $0.contains("\"msg\":\"inside\"") && $0.contains("\"name\":\"one\"") }
                && lines.all.contains { $0.contains("reconcile failed") && $0.contains("\"name\":\"fails\"") }
        }
        for line in lines.all where line.contains("\"msg\":\"inside\"") {
            let fields = try JSONValue(parsing: line.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertEqual(fields["controller"]?.stringValue, "logger-test")
            XCTAssertEqual(fields["namespace"]?.stringValue, "default")
            XCTAssertNotNil(fields["reconcileID"]?.stringValue)
        }
        let ids = seen.withLock { $0 }
        XCTAssertEqual(Set(ids).count, ids.count, "every reconcile has its own id")
        await controller.shutDown()
        work.cancel(); run.cancel()
        _ = await work.value; _ = await run.value
        try await server.stop()
    }
}
