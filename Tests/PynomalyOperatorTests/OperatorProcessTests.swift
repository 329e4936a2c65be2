import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import PynomalyOperator
import XCTest

/// `pynomaly-operator run` as a process against KubeTestServer through a kubeconfig, exactly as
/// against a real cluster: probes, metrics, SIGTERM, and two replicas electing a leader.
final class OperatorProcessTests: XCTestCase {
    private func runArguments(_ cluster: ExternalCluster, identityLease: Bool = true) -> [String] {
        var args = ["run", "--kubeconfig", cluster.kubeconfig, "--log-format", "text",
                    "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0"]
        if identityLease {
            args += ["--leader-elect", "--leader-election-namespace", "default", "--leader-election-id", "op-lock",
                     "--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.25"]
        }
        return args
    }

    private func leaseHolder(_ cluster: ExternalCluster) async throws -> String? {
        do {
            let lease = try await cluster.admin.get(.leases, namespace: "default", name: "op-lock")
            return lease[path: ["spec", "holderIdentity"]]?.stringValue
        } catch let error as KubeError where error.isNotFound { return nil }
    }

    func testRunServesProbesAndMetricsAndExitsZeroOnSIGTERMReleasingTheLease() async throws {
        let cluster = try await ExternalCluster()
        let op = try ChildProcess("pynomaly-operator", runArguments(cluster))
        try await op.waitForOutput("serving health probes")
        let probePort = try XCTUnwrap(reportedPort(in: op.text, after: "serving health probes"))
        let metricsPort = try XCTUnwrap(reportedPort(in: op.text, after: "serving metrics"))
        try await waitUntil("ready") { (try? httpGet(port: probePort, path: "/readyz").status) == 200 }
        XCTAssertEqual(try httpGet(port: probePort, path: "/healthz").status, 200)
        try await op.waitForOutput("became leader")
        let holder = try await leaseHolder(cluster)
        XCTAssertNotNil(holder)
        let metrics = try httpGet(port: metricsPort, path: "/metrics")
        XCTAssertEqual(metrics.status, 200)
        for name in ["leader_election_master_status{name=\"op-lock\"} 1", "rest_client_requests_total{", "workqueue_depth{"] {
            XCTAssertTrue(metrics.body.contains(name), "\(name) missing:\n\(metrics.body)")
        }

        op.signal(SIGTERM)
        let status = try await op.waitForExit()
        XCTAssertEqual(status, 0, op.text)
        XCTAssertTrue(op.text.contains("manager stopped"), op.text)
        let released = try await leaseHolder(cluster)
        XCTAssertEqual(released ?? "", "", "SIGTERM releases the lease")
        try await cluster.stop()
    }

    func testTwoProcessesOneLeadsAndTheOtherTakesOverAfterTheLeaderStops() async throws {
        let cluster = try await ExternalCluster()
        let first = try ChildProcess("pynomaly-operator", runArguments(cluster))
        try await first.waitForOutput("became leader")
        let second = try ChildProcess("pynomaly-operator", runArguments(cluster))
        try await second.waitForOutput("leader is now")
        XCTAssertFalse(second.text.contains("became leader"), "only one leads")
        let firstHolder = try await leaseHolder(cluster)

        first.signal(SIGINT)
        let firstStatus = try await first.waitForExit()
        XCTAssertEqual(firstStatus, 0, first.text)
        try await second.waitForOutput("became leader", timeout: 4)
        let secondHolder = try await leaseHolder(cluster)
        XCTAssertNotEqual(firstHolder, secondHolder)

        // A hard kill releases nothing: a successor waits for the lease to expire, then leads.
        let third = try ChildProcess("pynomaly-operator", runArguments(cluster))
        try await third.waitForOutput("leader is now")
        second.signal(SIGKILL)
        _ = try await second.waitForExit()
        try await third.waitForOutput("became leader", timeout: 6)
        third.signal(SIGTERM)
        let thirdStatus = try await third.waitForExit()
        XCTAssertEqual(thirdStatus, 0, third.text)
        try await cluster.stop()
    }

    func testAProcessWhoseLeaseIsTakenExitsNonZero() async throws {
        let cluster = try await ExternalCluster()
        let op = try ChildProcess("pynomaly-operator", runArguments(cluster))
        try await op.waitForOutput("became leader")
        try await waitUntil("the lease was taken") {
            var lease = try await cluster.admin.get(.leases, namespace: "default", name: "op-lock")
            lease[path: ["spec", "holderIdentity"]] = "someone-else"
            lease[path: ["spec", "leaseDurationSeconds"]] = 60
            lease[path: ["spec", "renewTime"]] = .string(KubeTime.format(Date(), fractionalDigits: 6))
            do {
                _ = try await cluster.admin.update(.leases, namespace: "default", name: "op-lock", object: lease)
                return true
            } catch let error as KubeError where error.isConflict { return false }
        }
        let status = try await op.waitForExit(timeout: 10)
        XCTAssertEqual(status, 1, op.text)
        XCTAssertTrue(op.text.contains("leadership lost"), op.text)
        try await cluster.stop()
    }

    func testBadFlagsAndKubeconfigAreNamed() async throws {
        let badLevel = try ChildProcess("pynomaly-operator", ["run", "--log-level", "loud"])
        let levelStatus = try await badLevel.waitForExit()
        XCTAssertNotEqual(levelStatus, 0)
        XCTAssertTrue(badLevel.text.contains("--log-level \"loud\""), badLevel.text)

        let badAddress = try ChildProcess("pynomaly-operator", ["run", "--metrics-bind-address", "localhost:80"])
        let addressStatus = try await badAddress.waitForExit()
        XCTAssertNotEqual(addressStatus, 0)
        XCTAssertTrue(badAddress.text.contains("--metrics-bind-address"), badAddress.text)

        let missing = try ChildProcess("pynomaly-operator", ["run", "--kubeconfig", "/nonexistent/kubeconfig"])
        let missingStatus = try await missing.waitForExit()
        XCTAssertEqual(missingStatus, 2, missing.text)
        XCTAssertTrue(missing.text.contains("/nonexistent/kubeconfig"), missing.text)
    }

    func testJSONLogsCarryTheFields() async throws {
        let cluster = try await ExternalCluster()
        let op = try ChildProcess("pynomaly-operator", ["run", "--kubeconfig", cluster.kubeconfig, "--log-format", "json", "--log-level", "debug",
                                                        "--metrics-bind-address", "0", "--health-probe-bind-address", "0"])
        try await op.waitForOutput("\"msg\":\"starting controllers\"")
        let lines = op.text.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let object = try JSONValue(parsing: String(line))
            XCTAssertNotNil(object["ts"]?.stringValue, String(line))
            XCTAssertNotNil(object["level"]?.stringValue, String(line))
            XCTAssertNotNil(object["msg"]?.stringValue, String(line))
        }
        op.signal(SIGTERM)
        let status = try await op.waitForExit()
        XCTAssertEqual(status, 0, op.text)
        try await cluster.stop()
    }
    /// The binary as shipped links FoundationEssentials only, which knows no named time zone: the
    /// sample's backup and maintenance zones (and a named one) must still be accepted, and the
    /// backup schedule read in its zone.
    func testTheOperatorProcessAcceptsTheSampleWithNamedTimeZones() async throws {
        let cluster = try await ExternalCluster()
        let namespace = "default"
        for var document in try OperatorRig.sample("pynomaly-backup.yaml") {
            document[path: ["metadata", "namespace"]] = .string(namespace)
            if document["kind"]?.stringValue == "PynomalyDeployment" {
                XCTAssertEqual(document[path: ["spec", "database", "maintenance", "timeZone"]]?.stringValue, "Etc/UTC")
                XCTAssertEqual(document[path: ["spec", "backup", "schedule"]]?.stringValue, "0 2 * * *")
                document[path: ["spec", "backup", "timeZone"]] = "Europe/Berlin"
                _ = try await cluster.admin.create(.pynomalyDeployments, namespace: namespace, object: document)
            } else {
                _ = try await cluster.admin.create(.secrets, namespace: namespace, object: document)
            }
        }
        let op = try ChildProcess("pynomaly-operator", ["run", "--kubeconfig", cluster.kubeconfig, "--log-format", "text",
                                                        "--metrics-bind-address", "0", "--health-probe-bind-address", "0"])
        try await waitUntil("the backup CronJob runs in Europe/Berlin and the status says when it fires next", timeout: 20) {
            let cron = try? await cluster.admin.get(.cronJobs, namespace: namespace, name: "pynomaly-backup")
            let cr = try await cluster.admin.get(.pynomalyDeployments, namespace: namespace, name: "pynomaly")
            let backupCondition = cr[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == ConditionType.backupHealthy }
            return cron?[path: ["spec", "timeZone"]]?.stringValue == "Europe/Berlin"
                && backupCondition?["message"]?.stringValue?.contains("the next is scheduled for") == true
        }
        let cr = try await cluster.admin.get(.pynomalyDeployments, namespace: namespace, name: "pynomaly")
        XCTAssertNotEqual(cr[path: ["status", "phase"]]?.stringValue, "Failed", op.text)
        // 02:00 on Berlin's wall clock, as Foundation's own zone data (ICU, in this test process) reads it.
        let message = cr[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == ConditionType.backupHealthy }?["message"]?.stringValue ?? ""
        let next = try XCTUnwrap(message.components(separatedBy: "the next is scheduled for ").last.flatMap { KubeTime.parse($0) }, message)
        var berlin = Calendar(identifier: .gregorian)
        berlin.timeZone = try XCTUnwrap(TimeZone(identifier: "Europe/Berlin"))
        XCTAssertEqual(berlin.dateComponents([.hour, .minute], from: next), DateComponents(hour: 2, minute: 0), message)
        XCTAssertLessThanOrEqual(next.timeIntervalSinceNow, 86_400, message)
        XCTAssertFalse(op.text.contains("InvalidSpec"), op.text)
        op.signal(SIGTERM)
        _ = try await op.waitForExit()
        try await cluster.stop()
    }
}
