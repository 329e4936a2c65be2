import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import PynomalyOperator
import Testing

/// A reconciled PynomalyDeployment as JSON: revisions 1 (succeeded) and 2 (current), blue-green
/// state, a rollback, a backup and a restore in progress.
private func reconciledCR(strategy: String = "RollingUpdate") -> JSONValue {
    [
        "apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyDeployment",
        "metadata": ["name": "pynomaly", "namespace": "prod", "generation": 4],
        "spec": ["image": "ghcr.io/elgerytme/pynomaly:v0.1.4", "replicas": 3, "strategy": ["type": .string(strategy)]],
        "status": [
            "observedGeneration": 4, "phase": "Degraded", "message": "rolled back to revision 1",
            "image": "ghcr.io/elgerytme/pynomaly:v0.1.3",
            "replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2,
            "currentRevision": 2, "stableRevision": 1,
            "conditions": [
                ["type": "Ready", "status": "False", "reason": "RolledBack", "lastTransitionTime": "2026-01-01T11:58:00Z",
                 "message": "revision 2 failed"],
                ["type": "RolledBack", "status": "True", "reason": "ProgressDeadlineExceeded", "lastTransitionTime": "2026-01-01T11:00:00Z"],
            ],
            "history": [
                ["revision": 2, "image": "ghcr.io/elgerytme/pynomaly:v0.1.4", "configHash": "bbbb", "createdAt": "2026-01-01T11:00:00Z", "outcome": "Failed"],
                ["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "configHash": "aaaa", "createdAt": "2026-01-01T10:00:00Z", "outcome": "Succeeded"],
            ],
            "blueGreen": ["activeColor": "blue", "previewColor": "green", "step": "Idle", "activeRevision": 1],
            "lastRollback": ["fromRevision": 2, "toRevision": 1, "reason": "ProgressDeadlineExceeded", "at": "2026-01-01T11:50:00Z"],
            "backup": ["lastSuccessfulTime": "2026-01-01T02:00:00Z", "lastJob": "pynomaly-backup-1"],
            "restore": ["name": "pynomaly-restore-x", "phase": "Restoring", "originalReplicas": 3, "startedAt": "2026-01-01T11:59:00Z"],
        ],
    ]
}

private let noon = Date(timeIntervalSince1970: 1_767_268_800)  // 2026-01-01T12:00:00Z

@Suite struct PluginLogicTests {
    @Test func tokenFormatIsRFC3339WithNanoseconds() {
        #expect(PluginToken.format(seconds: 1_767_268_800, nanoseconds: 5) == "2026-01-01T12:00:00.000000005Z")
        #expect(PluginToken.isToken(PluginToken.now()))
        #expect(!PluginToken.isToken("2026-01-01T12:00:00Z"))
        #expect(PluginToken.now() != PluginToken.now())
    }

    @Test func patchesTouchOnlyTheirKey() {
        #expect(PluginPatch.request(.restart, token: "T").serializedString() == #"{"metadata":{"annotations":{"pynomaly.ai/restart":"T"}}}"#)
        #expect(PluginPatch.rollback(toRevision: 3, token: "T").serializedString()
                == #"{"metadata":{"annotations":{"pynomaly.ai/rollback-to":"3@T"}}}"#)
        #expect(PluginPatch.paused(true).serializedString() == #"{"spec":{"paused":true}}"#)
        #expect(PluginPatch.paused(false).serializedString() == #"{"spec":{"paused":false}}"#)
        #expect(PluginRequest.allCases.map(\.annotationKey) == [
            "pynomaly.ai/restart", "pynomaly.ai/promote", "pynomaly.ai/abort", "pynomaly.ai/backup", "pynomaly.ai/rollback-to",
            "pynomaly.ai/skip-analysis"])
        // One patch, so the operator never sees the promote of a skip without the skip.
        #expect(PluginPatch.skipAnalysis(token: "T", blueGreen: true).serializedString()
                == #"{"metadata":{"annotations":{"pynomaly.ai/promote":"T","pynomaly.ai/skip-analysis":"T"}}}"#)
        #expect(PluginPatch.skipAnalysis(token: "T", blueGreen: false).serializedString()
                == #"{"metadata":{"annotations":{"pynomaly.ai/skip-analysis":"T"}}}"#)
    }

    @Test func rollbackTargetMustBeInHistory() throws {
        let cr = reconciledCR()
        #expect(try PluginChecks.rollbackTarget(1, in: cr) == 1)
        #expect(try PluginChecks.rollbackTarget(0, in: cr) == 0)
        #expect(throws: PluginError.revisionNotInHistory(revision: 7, available: [1, 2])) { try PluginChecks.rollbackTarget(7, in: cr) }
        #expect(PluginError.revisionNotInHistory(revision: 7, available: [1, 2]).description.contains("revision 7 is not in the revision history"))
        #expect(throws: PluginError.invalidRevision("-1")) { try PluginChecks.rollbackTarget(-1, in: cr) }

        var onlyCurrent = cr
        onlyCurrent[path: ["status", "history"]] = [["revision": 2]]
        #expect(throws: PluginError.noPreviousRevision(current: 2)) { try PluginChecks.rollbackTarget(0, in: onlyCurrent) }
        // "Previous" means the latest successful other revision, as the operator resolves 0.
        var noEarlierSuccess = cr
        noEarlierSuccess[path: ["status", "history"]] = [["revision": 1, "outcome": "Failed"], ["revision": 2, "outcome": "Succeeded"]]
        #expect(throws: PluginError.noPreviousRevision(current: 2)) { try PluginChecks.rollbackTarget(0, in: noEarlierSuccess) }
        var fresh = cr
        fresh["status"] = nil
        #expect(throws: PluginError.noHistory(name: "pynomaly", state: nil)) { try PluginChecks.rollbackTarget(1, in: fresh) }
        var early = cr
        early["status"] = ["phase": "Progressing", "message": "0/3 ready"]
        #expect(throws: PluginError.noHistory(name: "pynomaly", state: "phase Progressing: 0/3 ready")) {
            try PluginChecks.rollbackTarget(1, in: early)
        }
    }

    @Test func revisionsAreNonNegativeIntegers() throws {
        #expect(try PluginChecks.revision(parsing: "0") == 0)
        #expect(try PluginChecks.revision(parsing: "12") == 12)
        for bad in ["-1", "", "1.5", "abc", "+3", "99999999999999999999"] {
            #expect(throws: PluginError.invalidRevision(bad)) { try PluginChecks.revision(parsing: bad) }
        }
        #expect(PluginError.invalidRevision("-1").description.contains("must be a positive integer"))
    }

    /// The operator handles no request while it refuses the spec: every request says so, with the
    /// status's message, instead of guessing ("not yet reconciled") or filing one that waits silently.
    @Test func requestsOnAnInvalidSpecNameTheProblem() throws {
        var cr = reconciledCR()
        cr[path: ["status", "history"]] = []
        cr[path: ["status", "message"]] = "invalid spec: spec.replicas: must be at least 0"
        cr[path: ["status", "conditions"]] = [["type": "Stalled", "status": "True", "reason": "InvalidSpec", "observedGeneration": 4,
                                               "message": "spec.replicas: must be at least 0"]]
        let expected = PluginError.invalidSpec(name: "pynomaly", message: "spec.replicas: must be at least 0")
        #expect(throws: expected) { try PluginChecks.rollbackTarget(0, in: cr) }
        #expect(throws: expected) { try PluginChecks.requireValidSpec(cr) }
        #expect(expected.description.contains("invalid spec") && !expected.description.contains("not yet reconciled"))
        // A spec changed since the operator judged it is not refused here.
        cr[path: ["metadata", "generation"]] = 5
        try PluginChecks.requireValidSpec(cr)
        try PluginChecks.requireValidSpec(reconciledCR())
    }

    @Test func backupAndRestoreNeedBackups() throws {
        var cr = reconciledCR()
        #expect(throws: PluginError.backupsNotEnabled(name: "pynomaly", command: "backup", reason: "has no spec.backup")) {
            try PluginChecks.requireBackups(cr, command: "backup")
        }
        cr[path: ["spec", "backup"]] = ["enabled": false]
        #expect(throws: PluginError.self) { try PluginChecks.requireBackups(cr, command: "restore") }
        cr[path: ["spec", "backup"]] = ["schedule": "0 2 * * *"]
        #expect(throws: PluginError.backupsNotEnabled(name: "pynomaly", command: "backup", reason: "has no spec.database to back up")) {
            try PluginChecks.requireBackups(cr, command: "backup")
        }
        cr[path: ["spec", "database"]] = ["host": "pg"]
        try PluginChecks.requireBackups(cr, command: "backup")
    }

    @Test func promoteAndAbortNeedBlueGreen() throws {
        #expect(throws: PluginError.notBlueGreen(name: "pynomaly", strategy: "RollingUpdate", command: "promote")) {
            try PluginChecks.requireBlueGreen(reconciledCR(), command: "promote")
        }
        var noStrategy = reconciledCR()
        noStrategy[path: ["spec", "strategy"]] = nil
        #expect(throws: PluginError.self) { try PluginChecks.requireBlueGreen(noStrategy, command: "abort") }
        try PluginChecks.requireBlueGreen(reconciledCR(strategy: "BlueGreen"), command: "abort")
    }

    @Test func restoreRequestNeedsExactlyOneSource() throws {
        #expect(throws: PluginError.self) { try PluginRestoreRequest(deploymentName: "p", namespace: "ns", from: "a.dump", latest: true) }
        #expect(throws: PluginError.self) { try PluginRestoreRequest(deploymentName: "p", namespace: "ns", from: nil, latest: false) }

        let latest = try PluginRestoreRequest(deploymentName: "p", namespace: "ns", from: nil, latest: true, emergencyBackup: false)
        #expect(latest.object == [
            "apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyRestore",
            "metadata": ["namespace": "ns", "generateName": "p-restore-"],
            "spec": ["deploymentName": "p", "latest": true, "emergencyBackup": false],
        ])
        let file = try PluginRestoreRequest(deploymentName: "p", namespace: "ns", from: "a.dump", latest: false, name: "r1")
        #expect(file.object["metadata"] == ["namespace": "ns", "name": "r1"])
        #expect(file.object["spec"] == ["deploymentName": "p", "backupFile": "a.dump", "emergencyBackup": true])
    }

    @Test func statusViewSummarisesEverything() {
        let text = StatusView.render(reconciledCR(strategy: "BlueGreen"), now: noon)
        for expected in [
            "Phase:", "Degraded", "Message:", "rolled back to revision 1",
            "ghcr.io/elgerytme/pynomaly:v0.1.3 (running); ghcr.io/elgerytme/pynomaly:v0.1.4 (desired)",
            "Strategy:", "BlueGreen", "2/3, 3 updated, 2 available", "current 2, stable 1",
            "Active color:", "blue (revision 1), preview green, step Idle",
            "Last rollback:", "2 -> 1 (ProgressDeadlineExceeded) 10m ago",
            "Last backup:", "succeeded 10h ago, job pynomaly-backup-1",
            "Restore:", "pynomaly-restore-x in progress, phase Restoring, started 60s ago",
            "TYPE", "STATUS", "REASON", "AGE", "MESSAGE",
        ] {
            #expect(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        let readyRow = text.split(separator: "\n").first { $0.contains("RolledBack") && $0.contains("Ready") }
        #expect(readyRow?.contains("2m") == true, "\(text)")
        #expect(readyRow?.contains("revision 2 failed") == true)
        // A RollingUpdate deployment shows no colour.
        #expect(!StatusView.render(reconciledCR(), now: noon).contains("Active color"))
    }

    @Test func statusViewPrintsTheAnalysisRunAndItsMeasurements() {
        var cr = reconciledCR(strategy: "BlueGreen")
        cr[path: ["status", "analysis"]] = [
            "stage": "PostPromotion", "revision": 2, "color": "green", "phase": "Failed", "startedAt": "2026-01-01T11:59:00Z",
            "message": "error-ratio = 0.03, must be <= 0.01 (1 failed of 5, failure limit 0)",
            "metrics": [[
                "name": "error-ratio", "measured": 2, "successful": 1, "failed": 1,
                "measurements": [
                    ["at": "2026-01-01T11:59:00.000Z", "value": 0.002, "phase": "Successful"],
                    ["at": "2026-01-01T11:59:30.000Z", "value": 0.03, "phase": "Failed"],
                ],
            ], [
                "name": "latency-p95", "measured": 1, "inconclusive": 1,
                "measurements": [["at": "2026-01-01T11:59:00.000Z", "phase": "Inconclusive", "message": "Prometheus: connection refused"]],
            ]],
        ]
        let text = StatusView.render(cr, now: noon)
        #expect(text.contains("PostPromotion of revision 2 on green: Failed, started 60s ago; error-ratio = 0.03, must be <= 0.01"), "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        let header = lines.firstIndex { $0.contains("METRIC") && $0.contains("VALUE") && $0.contains("RESULT") }
        #expect(header != nil && lines.contains("Measurements:"), "\(text)")
        let rows = lines.filter { $0.hasPrefix("  error-ratio") || $0.hasPrefix("  latency-p95") }
        #expect(rows.count == 3, "\(text)")
        #expect(rows.contains { $0.contains("30s") && $0.contains("0.03") && $0.contains("Failed") }, "\(text)")
        #expect(rows.contains { $0.contains("0.002") && $0.contains("Successful") }, "\(text)")
        #expect(rows.contains { $0.contains("latency-p95") && $0.contains("-") && $0.contains("Prometheus: connection refused") }, "\(text)")
        #expect(!StatusView.render(reconciledCR(), now: noon).contains("Measurements:"))
    }

    @Test func statusViewOfAnUnreconciledCR() {
        var cr = reconciledCR()
        cr["status"] = nil
        let text = StatusView.render(cr, now: noon)
        #expect(text.contains("not yet reconciled"), "\(text)")
        #expect(text.contains("ghcr.io/elgerytme/pynomaly:v0.1.4"))
        #expect(text.contains("0/3"))
        #expect(!text.contains("Conditions"))
    }

    @Test func historyViewListsRevisionsOldestFirst() {
        let text = HistoryView.render(reconciledCR(), now: noon)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(text)")
        #expect(lines[0].hasPrefix("REVISION"))
        #expect(lines[0].contains("IMAGE") && lines[0].contains("CONFIG-HASH") && lines[0].contains("CREATED") && lines[0].contains("OUTCOME"))
        #expect(lines[1].hasPrefix("1 (stable)") && lines[1].contains("aaaa") && lines[1].contains("Succeeded"), "\(text)")
        #expect(lines[2].hasPrefix("2 (current)") && lines[2].contains("v0.1.4") && lines[2].contains("Failed"), "\(text)")
        #expect(lines[1].contains("2026-01-01T10:00:00Z (120m)"), "\(text)")
        // Columns line up under the header.
        let column = lines[0].range(of: "IMAGE")!.lowerBound.utf16Offset(in: lines[0])
        #expect(lines.dropFirst().allSatisfy { String($0.dropFirst(column)).hasPrefix("ghcr.io") })

        var fresh = reconciledCR()
        fresh["status"] = nil
        #expect(HistoryView.render(fresh).contains("No revisions recorded"))
    }

    @Test func tablesAlignAndLeaveNoTrailingSpace() {
        let text = PluginText.table(header: ["A", "LONGER", "C"], rows: [["xx", "y", ""], ["z", "", "w"]], indent: "  ")
        #expect(text == "  A    LONGER   C\n  xx   y\n  z             w")
    }

    @Test func ages() {
        let t = Date(timeIntervalSince1970: 0)
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(45)) == "45s")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(192)) == "3m12s")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(1500)) == "25m")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(5 * 3600 + 180)) == "5h3m")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(20 * 3600)) == "20h")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(3 * 86400 + 4 * 3600)) == "3d4h")
        #expect(PluginText.age(from: t, to: t.addingTimeInterval(-5)) == "0s")
    }
}

/// The built `kubectl-pynomaly` binary against KubeTestServer over HTTPS, directly and through
/// kubectl's plugin mechanism.
@Suite struct PluginEndToEndTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = repositoryRoot.appendingPathComponent(".build/debug/kubectl-pynomaly")

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion on a thread of its own: the test server answers on Swift's
    /// cooperative pool, which a blocking wait there could starve (on a 2-core machine, it does).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result(catching: { try runBlocking(executable, arguments, environment: environment) }))
            }
            thread.start()
        }
    }

    /// Runs a program to completion; stderr goes to a file so neither pipe can fill up and block.
    static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "KUBECONFIG")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errPath) }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errPath)
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errPath, encoding: .utf8)) ?? ""
        return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// A server with the CRDs, the sample PynomalyDeployment in `default` with a status written through
    /// the status subresource, and a kubeconfig for it.
    struct Fixture {
        let server: KubeTestServer
        let client: KubeAPIClient
        let kubeconfig: String

        func plugin(_ arguments: [String]) async throws -> Run {
            try await PluginEndToEndTests.run(PluginEndToEndTests.binary.path, arguments + ["--kubeconfig", kubeconfig])
        }

        func cr() async throws -> JSONValue {
            try await client.get(.pynomalyDeployments, namespace: "default", name: "pynomaly", subresource: nil)
        }

        func annotation(_ key: String) async throws -> String? {
            try await cr()[path: ["metadata", "annotations", key]]?.stringValue
        }
    }

    static func fixture() async throws -> Fixture {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let crds = repositoryRoot.appendingPathComponent("crds")
        for file in try FileManager.default.contentsOfDirectory(atPath: crds.path).sorted() where file.hasSuffix(".yaml") {
            for document in try YAML.parseDocuments(try String(contentsOf: crds.appendingPathComponent(file), encoding: .utf8)) {
                _ = try await client.create(.customResourceDefinitions, namespace: nil, object: document, options: WriteOptions())
            }
        }
        for name in ["pynomalydeployments.pynomaly.ai", "pynomalyrestores.pynomaly.ai"] {
            let established = try await eventually {
                let crd = try await client.get(.customResourceDefinitions, namespace: nil, name: name, subresource: nil)
                return crd[path: ["status", "conditions"]]?.arrayValue?.contains {
                    $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True"
                } ?? false
            }
            #expect(established, "CRD \(name) established")
        }
        let sample = try String(contentsOf: repositoryRoot.appendingPathComponent("manifests/samples/pynomaly.yaml"), encoding: .utf8)
        guard var cr = try YAML.parseDocuments(sample).first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.invalidRequest("no PynomalyDeployment in the sample")
        }
        cr[path: ["metadata", "annotations"]] = ["team": "anomalies"]
        cr[path: ["spec", "backup"]] = ["enabled": true, "schedule": "0 2 * * *", "storage": ["persistentVolumeClaim": ["size": "1Gi"]]]
        var created = try await client.create(.pynomalyDeployments, namespace: "default", object: cr, options: WriteOptions())
        created["status"] = [
            "observedGeneration": 1, "phase": "Healthy", "message": "3/3 ready at revision 2",
            "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
            "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "currentRevision": 2, "stableRevision": 2,
            "selector": "app.kubernetes.io/name=pynomaly,app.kubernetes.io/instance=pynomaly",
            "conditions": [["type": "Ready", "status": "True", "reason": "RolloutComplete", "message": "3/3 ready",
                            "lastTransitionTime": "2026-01-01T12:00:00Z", "observedGeneration": 1]],
            "history": [
                ["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.2", "configHash": "1111aaaa", "createdAt": "2026-01-01T10:00:00Z", "outcome": "Superseded"],
                ["revision": 2, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "configHash": "2222bbbb", "createdAt": "2026-01-01T11:00:00Z", "outcome": "Succeeded"],
            ],
            "backup": ["lastSuccessfulTime": "2026-01-01T02:00:00Z", "lastJob": "pynomaly-backup-29000000"],
        ]
        _ = try await client.update(.pynomalyDeployments, namespace: "default", name: "pynomaly", object: created,
                                    subresource: "status", options: WriteOptions())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let kubeconfig = dir.appendingPathComponent("kubeconfig").path
        try server.writeKubeconfig(to: kubeconfig)
        return Fixture(server: server, client: client, kubeconfig: kubeconfig)
    }

    @Test func helpForEverySubcommand() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build it: swift build --build-tests")
        let top = try await Self.run(Self.binary.path, ["--help"])
        #expect(top.status == 0)
        let subcommands = ["status", "report", "diff", "history", "rollback", "restart", "promote", "abort", "backup", "pause", "resume", "restore"]
        for sub in subcommands {
            #expect(top.stdout.contains(sub))
            let help = try await Self.run(Self.binary.path, [sub, "--help"])
            #expect(help.status == 0, "\(sub) --help: \(help.stderr)")
            #expect(help.stdout.contains("USAGE: kubectl-pynomaly \(sub)"), "\(help.stdout)")
            #expect(help.stdout.contains("--namespace") && help.stdout.contains("--kubeconfig") && help.stdout.contains("--context"))
        }
    }

    @Test func commandsAgainstTheServer() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build it: swift build --build-tests")
        let f = try await Self.fixture()
        defer { Task { try? await f.server.stop() } }

        let status = try await f.plugin(["status", "pynomaly"])
        #expect(status.status == 0, "\(status.stderr)")
        for expected in ["Healthy", "3/3 ready at revision 2", "RollingUpdate", "3/3", "current 2, stable 2", "RolloutComplete",
                         "Last backup:", "pynomaly-backup-29000000"] {
            #expect(status.stdout.contains(expected), "missing \(expected) in\n\(status.stdout)")
        }

        let history = try await f.plugin(["history", "pynomaly", "-n", "default"])
        #expect(history.status == 0, "\(history.stderr)")
        let lines = history.stdout.split(separator: "\n")
        #expect(lines.count == 3, "\(history.stdout)")
        #expect(lines.last?.hasPrefix("2 (current)") == true && lines.last?.contains("2222bbbb") == true, "\(history.stdout)")

        // Rollback: to revision 1 sets REVISION@TOKEN and leaves the spec and other annotations alone.
        let rollback = try await f.plugin(["rollback", "pynomaly", "--to-revision", "1"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        let value = try await f.annotation("pynomaly.ai/rollback-to")
        #expect(value?.hasPrefix("1@") == true, "\(value ?? "nil")")
        #expect(value.map { PluginToken.isToken(String($0.dropFirst(2))) } == true)
        #expect(try await f.annotation("team") == "anomalies")
        #expect(try await f.cr()[path: ["spec", "image"]]?.stringValue == "ghcr.io/elgerytme/pynomaly:v0.1.3")

        let missing = try await f.plugin(["rollback", "pynomaly", "--to-revision", "7"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("revision 7 is not in the revision history (available: 1, 2)"), "\(missing.stderr)")
        #expect(try await f.annotation("pynomaly.ai/rollback-to") == value, "a refused rollback writes nothing")

        // Restart twice: two different tokens.
        #expect(try await f.plugin(["restart", "pynomaly"]).status == 0)
        let first = try await f.annotation("pynomaly.ai/restart")
        #expect(try await f.plugin(["restart", "pynomaly"]).status == 0)
        let second = try await f.annotation("pynomaly.ai/restart")
        #expect(first != nil && second != nil && first != second, "\(first ?? "nil") vs \(second ?? "nil")")

        #expect(try await f.plugin(["backup", "pynomaly"]).status == 0)
        #expect(try await f.annotation("pynomaly.ai/backup").map(PluginToken.isToken) == true)

        // Promote and abort refuse a RollingUpdate deployment.
        let promote = try await f.plugin(["promote", "pynomaly"])
        #expect(promote.status == 1 && promote.stderr.contains("needs strategy BlueGreen"), "\(promote.stderr)")
        #expect(try await f.annotation("pynomaly.ai/promote") == nil)

        #expect(try await f.plugin(["pause", "pynomaly"]).status == 0)
        #expect(try await f.cr()[path: ["spec", "paused"]]?.boolValue == true)
        #expect(try await f.plugin(["status", "pynomaly"]).stdout.contains("Paused:"))
        #expect(try await f.plugin(["resume", "pynomaly"]).status == 0)
        #expect(try await f.cr()[path: ["spec", "paused"]]?.boolValue == false)

        // Restore: --latest creates the object; both or neither source is refused.
        let restore = try await f.plugin(["restore", "pynomaly", "--latest", "--no-emergency-backup", "--name", "restore-1"])
        #expect(restore.status == 0, "\(restore.stderr)")
        let restoreObject = try await f.client.get(.pynomalyRestores, namespace: "default", name: "restore-1", subresource: nil)
        #expect(restoreObject["spec"] == ["deploymentName": "pynomaly", "latest": true, "emergencyBackup": false])
        let generated = try await f.plugin(["restore", "pynomaly", "--from", "pynomaly-20260101.dump"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let restores = try await f.client.list(.pynomalyRestores, namespace: "default", options: ListOptions())
        #expect(restores.items.contains {
            $0[path: ["metadata", "name"]]?.stringValue?.hasPrefix("pynomaly-restore-") == true
                && $0["spec"] == ["deploymentName": "pynomaly", "backupFile": "pynomaly-20260101.dump", "emergencyBackup": true]
        })
        #expect(try await f.plugin(["restore", "pynomaly", "--latest", "--from", "x.dump"]).status == 1)
        #expect(try await f.plugin(["restore", "pynomaly"]).status == 1)

        // Requests the operator would not act on are refused, exit 1, with the reason.
        let negative = try await f.plugin(["rollback", "pynomaly", "--to-revision", "-1"])
        #expect(negative.status == 1 && negative.stderr.contains("must be a positive integer"), "\(negative.stderr)")
        var noBackups = try await f.cr()
        noBackups[path: ["spec", "backup"]] = nil
        _ = try await f.client.update(.pynomalyDeployments, namespace: "default", name: "pynomaly", object: noBackups, subresource: nil,
                                      options: WriteOptions())
        let backupToken = try await f.annotation("pynomaly.ai/backup")
        for command in [["backup", "pynomaly"], ["restore", "pynomaly", "--latest"]] {
            let run = try await f.plugin(command)
            #expect(run.status == 1 && run.stderr.contains("needs backups") && run.stderr.contains("has no spec.backup"), "\(command): \(run.stderr)")
        }
        #expect(try await f.annotation("pynomaly.ai/backup") == backupToken, "a refused backup writes nothing")
        var invalid = try await f.cr()
        invalid["status"] = [
            "observedGeneration": invalid[path: ["metadata", "generation"]] ?? 1, "phase": "Failed",
            "message": "invalid spec: spec.database.port: must be 1-65535",
            "conditions": [["type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "spec.database.port: must be 1-65535",
                            "lastTransitionTime": "2026-01-01T12:00:00Z", "observedGeneration": invalid[path: ["metadata", "generation"]] ?? 1]],
        ]
        _ = try await f.client.update(.pynomalyDeployments, namespace: "default", name: "pynomaly", object: invalid, subresource: "status",
                                      options: WriteOptions())
        for command in [["rollback", "pynomaly"], ["restart", "pynomaly"]] {
            let run = try await f.plugin(command)
            #expect(run.status == 1, "\(command)")
            #expect(run.stderr.contains("invalid spec") && run.stderr.contains("spec.database.port: must be 1-65535")
                    && !run.stderr.contains("not yet reconciled"), "\(command): \(run.stderr)")
        }

        // A missing CR is named, with exit code 1, for reads and writes.
        for command in [["status", "nope"], ["restart", "nope"], ["pause", "nope"], ["restore", "nope", "--latest"]] {
            let run = try await f.plugin(command + ["-n", "other"])
            #expect(run.status == 1, "\(command)")
            #expect(run.stderr.contains("pynomalydeployment nope not found in namespace other"), "\(command): \(run.stderr)")
        }
    }

    /// Nothing listens: the command fails within seconds (a connect timeout and one quick retry, as
    /// kubectl), naming the server, not after the operator's minute of retries.
    @Test func anUnreachableServerFailsFast() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build it: swift build --build-tests")
        let port = try closedPort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let kubeconfig = dir.appendingPathComponent("kubeconfig").path
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:\(port)", insecure-skip-tls-verify: true}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]
            current-context: x
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let started = Date()
        let run = try await Self.run(Self.binary.path, ["status", "pynomaly", "--kubeconfig", kubeconfig])
        let took = Date().timeIntervalSince(started)
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("127.0.0.1"), "\(run.stderr)")
        // The bound tells one quick retry from the operator's minute of retries, with room for a
        // loaded 2-core CI machine starting a debug binary (20 s seen there).
        #expect(took < 45, "took \(took) s")
    }

    /// A loopback port nothing listens on (bound, then released).
    func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw POSIXError(.EINVAL) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func statusThroughKubectlPluginMechanism() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build it: swift build --build-tests")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        let kubectl = path.split(separator: ":").map { "\($0)/kubectl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        let kubectlPath = try #require(kubectl, "kubectl must be on PATH")
        let f = try await Self.fixture()
        defer { Task { try? await f.server.stop() } }
        let pluginDir = Self.binary.deletingLastPathComponent().path
        let env = ["PATH": "\(pluginDir):\(path)", "KUBECONFIG": f.kubeconfig]

        let list = try await Self.run(kubectlPath, ["plugin", "list"], environment: env)
        #expect(list.stdout.contains("kubectl-pynomaly"), "\(list.stdout)\(list.stderr)")
        let status = try await Self.run(kubectlPath, ["pynomaly", "status", "pynomaly"], environment: env)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("Healthy") && status.stdout.contains("current 2, stable 2"), "\(status.stdout)")
    }
}
