import Foundation
import KubeCore
import OperatorTestSupport
import PynomalyOperator
import Testing

/// The pure parts of `kubectl pynomaly diff` and `report`: the spec change, the plan, the unified
/// diff and the report's checks.
@Suite struct PluginDiffLogicTests {
    static func sample(_ change: (inout JSONValue) -> Void = { _ in }) throws -> JSONValue {
        var cr = try #require(try OperatorRig.sample().first { $0["kind"]?.stringValue == "PynomalyDeployment" })
        cr[path: ["metadata", "namespace"]] = "default"
        cr[path: ["metadata", "uid"]] = "uid-1"
        cr[path: ["metadata", "generation"]] = 1
        change(&cr)
        return cr
    }

    static let referenced = ["Secret/pynomaly-secret": "h1"]

    @Test func unifiedDiffHasHunksWithContext() {
        let old = (1...12).map { "line \($0)" }.joined(separator: "\n")
        let new = old.replacingOccurrences(of: "line 3", with: "line three").replacingOccurrences(of: "line 11\n", with: "")
        let text = UnifiedDiff.render(old: old, new: new, oldLabel: "a", newLabel: "b", context: 1)
        #expect(text == """
            --- a
            +++ b
            @@ -2,3 +2,3 @@
             line 2
            -line 3
            +line three
             line 4
            @@ -10,3 +10,2 @@
             line 10
            -line 11
             line 12
            """)
        #expect(UnifiedDiff.render(old: old, new: old, oldLabel: "a", newLabel: "b") == nil)
        #expect(UnifiedDiff.render(old: "", new: "x: 1\n", oldLabel: "a", newLabel: "b") == "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x: 1")
    }

    @Test func flagsChangeOnlyTheSpec() throws {
        let live = try Self.sample()
        let changed = try DiffInput.applyingFlags(to: live, image: "ghcr.io/elgerytme/pynomaly:v0.1.4", sets: [
            "replicas=5", "spec.config.LOG_LEVEL=DEBUG", #"pod.annotations.example\.com/team=anomalies"#, "env[0].value=mimalloc",
            "env[1]={\"name\":\"EXTRA\",\"value\":\"1\"}", "paused=false",
        ])
        #expect(changed[path: ["spec", "image"]] == "ghcr.io/elgerytme/pynomaly:v0.1.4")
        #expect(changed[path: ["spec", "replicas"]] == 5)
        #expect(changed[path: ["spec", "config", "LOG_LEVEL"]] == "DEBUG")
        #expect(changed[path: ["spec", "pod", "annotations", "example.com/team"]] == "anomalies")
        #expect(changed[path: ["spec", "env"]] == [["name": "PYTHONMALLOC", "value": "mimalloc"], ["name": "EXTRA", "value": "1"]])
        #expect(changed[path: ["spec", "paused"]] == false)
        #expect(changed["metadata"] == live["metadata"])
        let strings = try DiffInput.applyingFlags(to: live, image: nil, sets: ["config.WORKERS=4"], stringSets: ["config.THREADS=8"])
        #expect(strings[path: ["spec", "config", "WORKERS"]] == 4)
        #expect(strings[path: ["spec", "config", "THREADS"]] == "8")

        for (bad, message) in [("replicas", "expected PATH=VALUE"), ("env[5].name=x", "past the end"), ("image.tag=x", "not an object"),
                               ("a..b=1", "empty key"), ("env[x]=1", "[N]"), ("spec=1", "names no field")] {
            do {
                _ = try DiffInput.applyingFlags(to: live, image: nil, sets: [bad])
                Issue.record("--set \(bad) must be refused")
            } catch {
                #expect(error.description.contains(message), "\(bad): \(error)")
            }
        }
    }

    @Test func manifestSpecReplacesTheLiveSpec() throws {
        let live = try Self.sample()
        let other: JSONValue = ["kind": "PynomalyDeployment", "metadata": ["name": "other"], "spec": ["image": "x"]]
        let mine: JSONValue = ["kind": "PynomalyDeployment", "metadata": ["name": "pynomaly"], "spec": ["image": "ghcr.io/elgerytme/pynomaly:v0.2.0"]]
        let changed = try DiffInput.applyingManifest([other, ["kind": "Secret"], mine], to: live, name: "pynomaly")
        #expect(changed["spec"] == ["image": "ghcr.io/elgerytme/pynomaly:v0.2.0"])
        #expect(changed[path: ["metadata", "uid"]] == "uid-1")
        #expect(throws: PluginError.self) { try DiffInput.applyingManifest([other], to: live, name: "pynomaly") }
        var elsewhere = mine
        elsewhere[path: ["metadata", "namespace"]] = "prod"
        #expect(throws: PluginError.self) { try DiffInput.applyingManifest([elsewhere], to: live, name: "pynomaly") }
    }

    /// The status a converged CR carries for revision 1 of `cr`'s spec, and that revision's Deployment.
    static func converged(_ crJSON: JSONValue) throws -> (status: JSONValue, children: [String: JSONValue]) {
        let cr = try crJSON.decode(PynomalyDeployment.self)
        let first = try DiffPlan.plan(cr, live: DiffLiveState(referencedContentHashes: referenced))
        // A rolling pass keeps revision 1's template on the Deployment, not in a ControllerRevision yet.
        #expect(!first.changes.contains { $0.resource == .controllerRevisions })
        let deployment = try #require(first.changes.first { $0.resource == .deployments })
        guard case .apply(let body) = deployment.operation, case .template(let kept) = RevisionTemplateAnnotation.read(body) else {
            Issue.record("the Deployment carries its revision's template"); throw PluginError.diffUnavailable("no template")
        }
        var children: [String: JSONValue] = [:]
        for change in first.changes {
            if case .apply(let body) = change.operation { children[DiffLiveState.key(change.resource, change.name)] = body }
        }
        let status: JSONValue = [
            "currentRevision": 1, "stableRevision": 1, "observedGeneration": 1,
            "history": [["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "templateHash": .string(kept.hash), "outcome": "Succeeded"]],
        ]
        return (status, children)
    }

    @Test func planOfAnImageChangeCreatesARevisionAndRestartsPods() throws {
        var live = try Self.sample()
        let (status, children) = try Self.converged(live)
        live["status"] = status
        let state = DiffLiveState(referencedContentHashes: Self.referenced, children: children)

        let same = try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: state)
        #expect(!same.rollout.newRevision && same.rollout.revision == 1 && !same.rollout.restartsPods)
        // The same spec builds the same Deployment: the compare-then-write finds nothing to write.
        let sameDeployment = try #require(same.changes.first { $0.resource == .deployments })
        #expect(sameDeployment.operation == .apply(try #require(children[DiffLiveState.key(.deployments, "pynomaly")])))
        #expect(same.changes.map(\.resource.resource) == ["configmaps", "serviceaccounts", "deployments", "services", "poddisruptionbudgets"])
        // A named account is not the operator's to write; the one it created under NAME goes.
        var named = live
        named[path: ["spec", "serviceAccountName"]] = "team-reader"
        let withAccount = DiffLiveState(referencedContentHashes: Self.referenced,
                                        children: children.merging([DiffLiveState.key(.serviceAccounts, "pynomaly"): ["kind": "ServiceAccount"]]) { a, _ in a })
        let namedPlan = try DiffPlan.plan(try named.decode(PynomalyDeployment.self), live: withAccount)
        #expect(namedPlan.changes.filter { $0.resource == .serviceAccounts }.map(\.operation) == [.delete])
        #expect(namedPlan.rollout.restartsPods, "the pods run as another account")

        var changed = live
        changed[path: ["spec", "image"]] = "ghcr.io/elgerytme/pynomaly:v0.1.4"
        let plan = try DiffPlan.plan(try changed.decode(PynomalyDeployment.self), live: state)
        #expect(plan.rollout.newRevision && plan.rollout.revision == 2)
        #expect(plan.rollout.restartReasons == ["image ghcr.io/elgerytme/pynomaly:v0.1.3 -> ghcr.io/elgerytme/pynomaly:v0.1.4"])
        let deployment = try #require(plan.changes.first { $0.resource == .deployments })
        guard case .apply(let body) = deployment.operation else { Issue.record("the Deployment is applied"); return }
        #expect(body[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "ghcr.io/elgerytme/pynomaly:v0.1.4")
        // Revision 1 is left behind: its ControllerRevision is created from the Deployment's copy,
        // and the Deployment carries revision 2's.
        let revision1 = try #require(status["history"]?.arrayValue?.first?["templateHash"]?.stringValue)
        let stored = try #require(plan.changes.first { $0.resource == .controllerRevisions })
        #expect(stored.name == "pynomaly-\(revision1)")
        guard case .createIfMissing(let revisionBody) = stored.operation else { Issue.record("revision 1 is created"); return }
        #expect(revisionBody["revision"] == 1)
        let oldTemplate = try #require(try revisionBody[path: ["data", "template"]]?.decode(PodTemplateSpec.self))
        #expect(PodTemplateBuilder.templateHash(oldTemplate) == revision1)
        guard case .template(let revision2) = RevisionTemplateAnnotation.read(body) else { Issue.record("the copy of revision 2"); return }
        #expect(revision2.hash != revision1)

        // A rotated Secret changes the referenced hash: a restart, for that reason.
        let rotated = DiffLiveState(referencedContentHashes: ["Secret/pynomaly-secret": "h2"], children: children)
        let rotation = try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: rotated)
        #expect(rotation.rollout.restartReasons == ["content of a referenced Secret or ConfigMap changed"])
    }

    @Test func aRevisionBeyondTheHistoryLimitLosesItsControllerRevision() throws {
        var live = try Self.sample { $0[path: ["spec", "revisionHistoryLimit"]] = 2 }
        let (status, children) = try Self.converged(live)
        let currentHash = try #require(status["history"]?.arrayValue?.first?["templateHash"]?.stringValue)
        live["status"] = [
            "currentRevision": 2, "stableRevision": 2, "observedGeneration": 1,
            "history": [["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.2", "templateHash": "aaaa", "outcome": "Superseded"],
                        ["revision": 2, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "templateHash": .string(currentHash), "outcome": "Succeeded"]],
        ]
        let template = PodTemplateSpec()
        let state = DiffLiveState(referencedContentHashes: Self.referenced, revisionTemplates: ["aaaa": template, currentHash: template], children: children)
        #expect(try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: state).changes.allSatisfy { $0.operation != .delete })
        live[path: ["spec", "image"]] = "ghcr.io/elgerytme/pynomaly:v0.1.4"
        let plan = try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: state)
        #expect(plan.rollout.revision == 3)
        #expect(plan.changes.filter { $0.operation == .delete } == [ChildChange(.controllerRevisions, "pynomaly-aaaa", .delete)])
    }

    /// A rolling CR switched to BlueGreen with a new image: the revision its Deployment runs, so far
    /// kept only in the Deployment's annotation, gets its ControllerRevision, as the operator's pass
    /// stores it before blue-green takes over; the new image's revision is stored as blue-green does.
    @Test func switchingToBlueGreenStoresTheRevisionTheRollingDeploymentRuns() throws {
        var live = try Self.sample()
        let (status, children) = try Self.converged(live)
        live["status"] = status
        let revision1 = try #require(status["history"]?.arrayValue?.first?["templateHash"]?.stringValue)
        live[path: ["spec", "strategy"]] = ["type": "BlueGreen", "blueGreen": ["previewReplicas": 1]]
        live[path: ["spec", "image"]] = "ghcr.io/elgerytme/pynomaly:v0.1.4"
        let plan = try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: DiffLiveState(referencedContentHashes: Self.referenced, children: children))
        #expect(plan.rollout.revision == 2)
        let stored = plan.changes.filter { $0.resource == .controllerRevisions }
        #expect(stored.count == 2, "\(stored.map(\.name))")
        let kept = try #require(stored.first { $0.name == "pynomaly-\(revision1)" })
        guard case .createIfMissing(let body) = kept.operation else { Issue.record("revision 1 is created"); return }
        #expect(body["revision"] == 1)
        // With its ControllerRevision there already, only the new revision's is written.
        let rolling = try #require(children[DiffLiveState.key(.deployments, "pynomaly")])
        let template = try #require(RevisionTemplateAnnotation.template(in: rolling, hash: revision1))
        let withRevision = DiffLiveState(referencedContentHashes: Self.referenced, revisionTemplates: [revision1: template.template], children: children)
        let again = try DiffPlan.plan(try live.decode(PynomalyDeployment.self), live: withRevision)
        #expect(again.changes.filter { $0.resource == .controllerRevisions }.map(\.name) == stored.map(\.name).filter { $0 != kept.name })
    }

    /// Blue serves revision 1 (Idle): a new image goes to green as the preview; blue is not touched.
    @Test func blueGreenPreviewGoesToTheIdleColour() throws {
        var cr = try Self.sample { cr in
            cr[path: ["spec", "strategy"]] = ["type": "BlueGreen", "blueGreen": ["previewReplicas": 1]]
            cr[path: ["spec", "disruptionBudget"]] = nil
        }
        // Revision 1's template, as the first pass built it.
        let first = try DiffPlan.plan(try cr.decode(PynomalyDeployment.self), live: DiffLiveState(referencedContentHashes: Self.referenced))
        let revision = try #require(first.changes.first { $0.resource == .controllerRevisions })
        let hash = String(revision.name.dropFirst("pynomaly-".count))
        guard case .createIfMissing(let revisionBody) = revision.operation,
              let template = try? revisionBody[path: ["data", "template"]]?.decode(PodTemplateSpec.self) else {
            Issue.record("the first pass creates revision 1's ControllerRevision"); return
        }
        let ctx = BuildContext(cr: try cr.decode(PynomalyDeployment.self))
        var blue = DeploymentBuilder.build(ctx, name: "pynomaly-blue", template: template, replicas: 3, selectorExtra: [PynomalyLabels.colorKey: "blue"])
        blue.metadata.labels?[PynomalyLabels.templateHashKey] = hash
        blue.metadata.generation = 1
        var blueJSON = try JSONValue(encoding: blue)
        blueJSON["status"] = ["observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                              "conditions": [["type": "Available", "status": "True"],
                                             ["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"]]]
        cr["status"] = [
            "currentRevision": 1, "stableRevision": 1, "observedGeneration": 1,
            "history": [["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "templateHash": .string(hash), "outcome": "Succeeded"]],
            "blueGreen": ["activeColor": "blue", "previewColor": "green", "step": "Idle", "activeRevision": 1],
        ]
        let live = DiffLiveState(referencedContentHashes: Self.referenced, revisionTemplates: [hash: template],
                                 children: [DiffLiveState.key(.deployments, "pynomaly-blue"): blueJSON])

        let same = try DiffPlan.plan(try cr.decode(PynomalyDeployment.self), live: live)
        #expect(same.rollout.previewColor == nil && same.rollout.activeColor == "blue")
        #expect(!same.changes.contains { $0.resource == .deployments })

        cr[path: ["spec", "image"]] = "ghcr.io/elgerytme/pynomaly:v0.1.4"
        let plan = try DiffPlan.plan(try cr.decode(PynomalyDeployment.self), live: live)
        #expect(plan.rollout.previewColor == "green" && plan.rollout.activeColor == "blue")
        #expect(plan.rollout.newRevision && plan.rollout.revision == 2 && !plan.rollout.restartsPods)
        let deployments = plan.changes.filter { $0.resource == .deployments }
        #expect(deployments.map(\.name) == ["pynomaly-green"])
        guard case .apply(let green)? = deployments.first?.operation else { Issue.record("green is applied"); return }
        #expect(green[path: ["spec", "replicas"]] == 1, "previewReplicas")
        #expect(green[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "ghcr.io/elgerytme/pynomaly:v0.1.4")
        // The stable Service keeps selecting blue.
        guard case .apply(let stable)? = plan.changes.first(where: { $0.resource == .services && $0.name == "pynomaly" })?.operation else {
            Issue.record("the stable Service is applied"); return
        }
        #expect(stable[path: ["spec", "selector", PynomalyLabels.colorKey]] == "blue")
    }

    @Test func heldAndRejectedSpecs() throws {
        var paused = try Self.sample { $0[path: ["spec", "paused"]] = true }
        paused["status"] = try Self.converged(try Self.sample()).status
        let held = try DiffPlan.plan(try paused.decode(PynomalyDeployment.self), live: DiffLiveState(referencedContentHashes: Self.referenced))
        #expect(held.rollout.heldBecause?.contains("spec.paused") == true)
        #expect(!held.changes.contains { $0.resource == .deployments })

        let missing = try DiffPlan.plan(try Self.sample().decode(PynomalyDeployment.self), live: DiffLiveState())
        #expect(missing.rollout.heldBecause?.contains("Secret pynomaly-secret") == true)

        let invalid = try Self.sample { $0[path: ["spec", "config", "DATABASE_HOST"]] = "elsewhere" }
        let invalidCR = try invalid.decode(PynomalyDeployment.self)
        do {
            _ = try DiffPlan.plan(invalidCR, live: DiffLiveState(referencedContentHashes: Self.referenced))
            Issue.record("a config key the operator owns must be refused")
        } catch {
            guard case .rejectedSpec(_, let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("spec.config"), "\(message)")
        }
    }

    @Test func normalisationDropsServerNoise() {
        let object: JSONValue = ["metadata": ["name": "x", "resourceVersion": "5", "uid": "u", "generation": 2, "creationTimestamp": "t",
                                              "managedFields": [], "labels": ["a": "b"]], "spec": ["x": 1], "status": ["y": 2]]
        #expect(DiffNormalization.comparable(object) == ["metadata": ["name": "x", "labels": ["a": "b"]], "spec": ["x": 1]])
        #expect(DiffNormalization.comparable(nil) == nil)
    }
}

@Suite struct PluginReportLogicTests {
    static let now = Date(timeIntervalSince1970: 1_767_268_800)  // 2026-01-01T12:00:00Z

    static func healthy() -> JSONValue {
        [
            "apiVersion": "pynomaly.ai/v1alpha1", "kind": "PynomalyDeployment",
            "metadata": ["name": "pynomaly", "namespace": "prod", "generation": 2, "uid": "u1"],
            "spec": ["image": "ghcr.io/elgerytme/pynomaly:v0.1.4", "replicas": 3,
                     "database": ["host": "db", "name": "pynomaly", "user": "pynomaly", "passwordSecretRef": ["name": "s", "key": "k"]],
                     "backup": ["enabled": true, "schedule": "0 2 * * *"]],
            "status": [
                "observedGeneration": 2, "phase": "Healthy", "image": "ghcr.io/elgerytme/pynomaly:v0.1.4",
                "replicas": 3, "readyReplicas": 3, "currentRevision": 2, "stableRevision": 2,
                "history": [["revision": 2, "image": "ghcr.io/elgerytme/pynomaly:v0.1.4", "outcome": "Succeeded", "createdAt": "2025-12-30T10:00:00Z"],
                            ["revision": 1, "image": "ghcr.io/elgerytme/pynomaly:v0.1.3", "outcome": "Superseded"]],
                "backup": ["lastSuccessfulTime": "2026-01-01T02:00:30Z"],
                "tls": ["secret": "pynomaly-tls", "notAfter": "2026-03-01T00:00:00Z"],
                "conditions": [["type": "Ready", "status": "True", "reason": "RolloutComplete"],
                               ["type": "Reconciling", "status": "False"], ["type": "Stalled", "status": "False"],
                               ["type": "BackupHealthy", "status": "True", "reason": "BackupSucceeded"]],
            ],
        ]
    }

    static let cronJob: JSONValue = ["metadata": ["name": "pynomaly-backup", "creationTimestamp": "2025-12-01T00:00:00Z"]]

    @Test func aHealthyDeploymentPasses() throws {
        let pods: [JSONValue] = (0..<3).map { ["metadata": ["name": .string("pynomaly-\($0)")], "status": ["containerStatuses": [["restartCount": 0]]]] }
        let report = PluginReport.build(Self.healthy(), reads: .init(pods: pods, backupCronJob: Self.cronJob), now: Self.now)
        #expect(!report.failed, "\(report.text())")
        #expect(report.checks.allSatisfy { $0.level == .ok }, "\(report.text())")
        let text = report.text()
        for expected in ["OK    revision:", "image ghcr.io/elgerytme/pynomaly:v0.1.4, revision 2", "3/3 ready, 3 pods, 0 container restarts",
                         "revision 2 (ghcr.io/elgerytme/pynomaly:v0.1.4): Succeeded", "last success 2026-01-01T02:00:30Z (9h ago)",
                         "within schedule", "Secret pynomaly-tls: 58 days left", "no Warning Events", "all 4 conditions healthy"] {
            #expect(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        let json = report.json()
        #expect(json["result"] == "OK")
        #expect(json["checks"]?.arrayValue?.first { $0["name"] == "certificate" }?[path: ["data", "daysLeft"]] == 58)
    }

    @Test func problemsFailTheirChecks() throws {
        var cr = Self.healthy()
        cr[path: ["status", "readyReplicas"]] = 1
        cr[path: ["status", "history"]] = [["revision": 3, "image": "ghcr.io/elgerytme/pynomaly:v0.2.0", "outcome": "RolledBack"],
                                           ["revision": 2, "image": "ghcr.io/elgerytme/pynomaly:v0.1.4", "outcome": "Succeeded"]]
        cr[path: ["status", "backup", "lastSuccessfulTime"]] = "2025-12-29T02:00:00Z"
        cr[path: ["status", "tls", "notAfter"]] = "2026-01-04T00:00:00Z"
        cr[path: ["status", "conditions"]] = [["type": "Ready", "status": "False", "reason": "RolledBack", "message": "revision 3 failed"],
                                              ["type": "Stalled", "status": "True", "reason": "ProgressDeadlineExceeded"],
                                              ["type": "BackupHealthy", "status": "Unknown", "reason": "NoBackupYet"]]
        cr[path: ["spec", "autoscaling"]] = ["enabled": true, "minReplicas": 2, "maxReplicas": 4]
        let pods: [JSONValue] = [["metadata": ["name": "p1"], "status": ["containerStatuses": [["restartCount": 4]]]],
                                 ["metadata": ["name": "smoke", "labels": ["app.kubernetes.io/component": "smoke-test"]],
                                  "status": ["containerStatuses": [["restartCount": 9]]]]]
        let events: [JSONValue] = (0..<7).map { i in
            ["type": "Warning", "reason": .string("Reason\(i)"), "message": "m", "lastTimestamp": .string("2026-01-01T11:0\(i):00Z"),
             "involvedObject": ["kind": "PynomalyDeployment", "name": "pynomaly", "uid": "u1"]]
        } + [["type": "Warning", "reason": "Other", "involvedObject": ["kind": "PynomalyDeployment", "name": "other"]],
             ["type": "Normal", "reason": "Fine", "involvedObject": ["kind": "PynomalyDeployment", "name": "pynomaly"]]]
        let hpa: JSONValue = ["spec": ["minReplicas": 2, "maxReplicas": 4], "status": ["currentReplicas": 4, "desiredReplicas": 4]]
        let report = PluginReport.build(cr, reads: .init(pods: pods, hpa: hpa, backupCronJob: Self.cronJob, events: events), eventLimit: 3, now: Self.now)
        #expect(report.failed)
        func level(_ name: String) -> PluginReport.Level? { report.checks.first { $0.name == name }?.level }
        #expect(level("pods") == .fail)
        #expect(level("rollout") == .fail)
        #expect(level("backup") == .fail)
        #expect(level("certificate") == .fail)
        #expect(level("autoscaling") == .warn)
        #expect(level("events") == .warn)
        #expect(level("conditions") == .fail)
        let text = report.text()
        for expected in ["1/3 ready, 1 pod, 4 container restarts", "p1: 4 restarts", "RolledBack", "overdue", "2 days left", "fewer than 14 days",
                         "at its maximum", "7 Warning Events, the newest 3:", "Reason6", "Ready=False RolledBack: revision 3 failed",
                         "Stalled=True", "BackupHealthy=Unknown"] {
            #expect(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        #expect(!text.contains("Reason3") && !text.contains("Other") && !text.contains("Fine"), "\(text)")

        var failedBackup = Self.healthy()
        failedBackup[path: ["status", "backup", "lastFailedTime"]] = "2026-01-01T03:00:00Z"
        failedBackup[path: ["status", "backup", "lastFailureReason"]] = "BackoffLimitExceeded"
        let backup = PluginReport.build(failedBackup, reads: .init(pods: [], backupCronJob: Self.cronJob), now: Self.now)
        #expect(backup.checks.first { $0.name == "backup" }?.summary.contains("the last run failed at 2026-01-01T03:00:00Z (BackoffLimitExceeded)") == true)

        var noTLS = Self.healthy()
        noTLS[path: ["status", "tls"]] = nil
        #expect(PluginReport.build(noTLS, reads: .init(), now: Self.now).checks.first { $0.name == "certificate" }?.summary == "no TLS")
    }
}
