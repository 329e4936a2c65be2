import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

/// The controller's pure decisions: revision planning, rollout observation, pod problem
/// summaries, status and conditions, the "compare, then write" test and referenced content.
/// No I/O: every input is a value built here.
enum LogicFixture {
    typealias Status = PynomalyDeploymentStatus
    typealias Entry = Status.HistoryEntry

    static let now = "2030-01-01T00:00:00Z"
    static let later = "2030-01-01T00:05:00Z"

    /// A spec candidate for `RevisionPlan.plan` (revision number ignored there).
    static func spec(_ templateHash: String, image: String? = nil) -> Entry {
        Entry(revision: 0, image: image ?? "registry/app:\(templateHash)", configHash: "config", templateHash: templateHash)
    }

    /// A history entry as an earlier pass left it.
    static func entry(_ revision: Int64, _ templateHash: String, _ outcome: Status.Outcome, generation: Int64 = 1) -> Entry {
        Entry(revision: revision, image: "registry/app:\(templateHash)", configHash: "config", templateHash: templateHash,
              generation: generation, createdAt: now, outcome: outcome)
    }

    static func status(_ history: [Entry], current: Int64? = nil, stable: Int64? = nil) -> Status {
        Status(currentRevision: current, stableRevision: stable, history: history)
    }

    static func failed(_ message: String = "ReplicaSet \"app-1\" has timed out progressing.") -> RolloutObservation {
        .failed(reason: "ProgressDeadlineExceeded", message: message)
    }

    /// A Deployment as the API server answers it, decoded from JSON the way the reconciler reads it.
    static func deployment(generation: Int64 = 2, replicas: Int32? = 3, observedGeneration: Int64? = 2, statusReplicas: Int64? = 3,
                           updated: Int64? = 3, ready: Int64? = 3, available: Int64? = 3,
                           conditions: [JSONValue] = [], hasStatus: Bool = true) throws -> Deployment {
        var spec: JSONValue = ["selector": ["matchLabels": ["app": "a"]], "template": ["metadata": ["labels": ["app": "a"]]]]
        if let replicas { spec["replicas"] = .int(Int64(replicas)) }
        var object: JSONValue = ["apiVersion": "apps/v1", "kind": "Deployment",
                                 "metadata": ["name": "app", "namespace": "default", "generation": .int(generation)], "spec": spec]
        if hasStatus {
            var status: JSONValue = ["conditions": .array(conditions)]
            for (key, value) in [("observedGeneration", observedGeneration), ("replicas", statusReplicas), ("updatedReplicas", updated),
                                 ("readyReplicas", ready), ("availableReplicas", available)] {
                if let value { status[key] = .int(value) }
            }
            object["status"] = status
        }
        return try object.decode(Deployment.self)
    }

    static func condition(_ type: String, _ status: String, reason: String, message: String = "") -> JSONValue {
        ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message)]
    }

    /// A pod whose containers wait with `waiting` reasons (nil: running and ready).
    static func pod(_ name: String, waiting: [String?] = [nil], initWaiting: String? = nil, phase: String = "Pending",
                    conditions: [JSONValue] = []) throws -> Pod {
        func containerStatus(_ index: Int, _ reason: String?) -> JSONValue {
            let state: JSONValue = reason.map { ["waiting": ["reason": .string($0), "message": "back-off"]] }
                ?? ["running": ["startedAt": .string(now)]]
            return ["name": .string("c\(index)"), "ready": .bool(reason == nil), "restartCount": 0, "state": state]
        }
        var status: JSONValue = ["phase": .string(phase), "conditions": .array(conditions),
                                 "containerStatuses": .array(waiting.enumerated().map { containerStatus($0.offset, $0.element) })]
        if let initWaiting { status["initContainerStatuses"] = [containerStatus(9, initWaiting)] }
        let object: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
                                 "status": status]
        return try object.decode(Pod.self)
    }

    static func runningPod(_ name: String) throws -> Pod { try pod(name, phase: "Running") }
}

// MARK: - RevisionPlan

@Suite("ControllerLogic: RevisionPlan")
struct RevisionPlanLogicTests {
    typealias Status = PynomalyDeploymentStatus

    @Test func theFirstPassCreatesRevisionOne() {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(plan.target.revision == 1)
        #expect(plan.createdRevision)
        #expect(!plan.pinned)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.history == [Status.HistoryEntry(revision: 1, image: "app:v1", configHash: "config", templateHash: "aaa",
                                                            generation: 1, createdAt: LogicFixture.now, outcome: .progressing)])
        #expect(plan.events == [PlannedEvent(.normal, "RevisionCreated", "revision 1: image app:v1")])
        #expect(plan.status.handledRequests == nil)
        #expect(plan.status.lastRollback == nil)
    }

    /// A pass that wrote a new revision's Deployment leaves the status to the pass the Deployment's
    /// answer triggers, which plans the same revision again from the same status; anything else the
    /// status would record is written at once.
    @Test func onlyARevisionJustWrittenAndRollingLeavesItsStatusToTheNextPass() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        let rolling = RolloutObservation.progressing("waiting for the Deployment controller to observe generation 2")
        #expect(plan.defersStatusToNextPass(deploymentWritten: true, rollout: rolling, old: old))
        #expect(!plan.defersStatusToNextPass(deploymentWritten: false, rollout: rolling, old: old), "nothing queues the next pass")
        #expect(!plan.defersStatusToNextPass(deploymentWritten: true, rollout: .complete, old: old))
        #expect(!plan.defersStatusToNextPass(deploymentWritten: true, rollout: .failed(reason: "ProgressDeadlineExceeded", message: "m"), old: old))

        let next = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(next == plan, "the next pass plans the same revision from the same status")

        let same = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        #expect(!same.defersStatusToNextPass(deploymentWritten: true, rollout: rolling, old: old), "no new revision: a scale, say")

        let requested = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb", image: "app:v2"), rollbackRequest: "1@token",
                                          now: LogicFixture.now)
        #expect(!requested.defersStatusToNextPass(deploymentWritten: true, rollout: rolling, old: old), "a handled request is recorded at once")
    }

    @Test func theSameTemplateReusesItsRevisionNumber() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        // A new generation (e.g. a replica change) with the same template is not a revision.
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 1)
        #expect(!plan.createdRevision)
        #expect(!plan.pinned)
        #expect(plan.events.isEmpty)
        #expect(plan.status.history == old.history, "a succeeded revision stays as it was")
    }

    @Test func aTemplateSeenEarlierInHistoryReusesItsOldNumber() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded)], current: 2, stable: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 1)
        #expect(!plan.createdRevision)
        #expect(plan.status.history?.count == 2)
    }

    @Test func aNewTemplateIsMaxPlusOneAndSupersedesOlderProgressingEntries() {
        let old = LogicFixture.status([LogicFixture.entry(2, "aaa", .succeeded), LogicFixture.entry(5, "bbb", .progressing, generation: 2)],
                                 current: 5, stable: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.revision == 6, "max + 1, not count + 1")
        #expect(plan.createdRevision)
        #expect(plan.target.generation == 3)
        #expect(plan.target.createdAt == LogicFixture.later)
        #expect(plan.target.outcome == .progressing)
        let outcomes = plan.status.history?.map { "\($0.revision):\($0.outcome?.rawValue ?? "-")" }
        #expect(outcomes == ["2:Succeeded", "5:Superseded", "6:Progressing"])
        #expect(plan.events.map(\.reason) == ["RevisionCreated"])
    }

    @Test func aFailedRolloutWithAStableRevisionRollsBackAndPinsForThatGeneration() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        #expect(plan.target.revision == 2)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.later)

        #expect(plan.rolledBackNow)
        #expect(plan.status.history?.last?.outcome == .rolledBack)
        #expect(plan.status.history?.first?.outcome == .succeeded)
        #expect(plan.status.lastRollback == Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded",
                                                               message: "deadline", at: LogicFixture.later, generation: 2, specTemplateHash: "bbb"))
        #expect(plan.status.stableRevision == 1)
        let warning = try #require(plan.events.first { $0.reason == "RolledBack" })
        #expect(warning.type == .warning)
        #expect(warning.message.contains("revision 2 failed"))
        #expect(warning.message.contains("rolling back to revision 1"))
        #expect(!plan.events.contains { $0.reason == "RolloutFailed" })

        // The next pass at the same generation deploys the stable revision, not the spec's.
        var next = RevisionPlan.plan(status: plan.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(next.pinned)
        #expect(next.target.revision == 1)
        #expect(next.target.templateHash == "aaa")
        #expect(!next.createdRevision)
        #expect(next.rollbackIsAutomatic)
        #expect(next.events.isEmpty)
        next.observe(.complete, rollbackOnFailure: true, generation: 2, now: LogicFixture.later)
        #expect(next.status.currentRevision == 1)
        #expect(next.status.stableRevision == 1)
        #expect(next.status.image == "registry/app:aaa")
        #expect(!next.rolledBackNow)
        #expect(next.status.history?.map(\.outcome) == [.succeeded, .rolledBack], "the failed revision is not retried")

        // Passes at rest stay pinned: no loop.
        let again = RevisionPlan.plan(status: next.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(again.pinned)
        #expect(again.target.revision == 1)
    }

    @Test func aNewGenerationUnpinsAndRetriesTheFailedTemplate() {
        var old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .rolledBack, generation: 2)],
                                 current: 1, stable: 1)
        old.lastRollback = Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded", message: "m",
                                               at: LogicFixture.now, generation: 2)
        let plan = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2, "the same template keeps its number")
        #expect(plan.target.outcome == .progressing)
        #expect(plan.target.generation == 3)
        #expect(!plan.createdRevision)
        #expect(!plan.rollbackIsAutomatic)

        // A different new template at the new generation is a new revision instead.
        let other = RevisionPlan.plan(status: old, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!other.pinned)
        #expect(other.target.revision == 3)
        #expect(other.status.history?.map(\.outcome) == [.succeeded, .rolledBack, .progressing])
    }

    /// A change of the strategy, the replicas or anything else outside the pod template bumps the
    /// generation; it must not retry the template that was rolled back (or abandoned) from. Only a
    /// different template unpins.
    @Test func onlyADifferentTemplateUnpinsARollback() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.later)
        for generation in Int64(3)...7 {
            let next = RevisionPlan.plan(status: plan.status, generation: generation, spec: LogicFixture.spec("bbb"), rollbackRequest: nil,
                                         now: LogicFixture.later)
            #expect(next.pinned, "generation \(generation): same template, still pinned")
            #expect(next.target.revision == 1)
            #expect(next.status.history?.last?.outcome == .rolledBack, "never retried behind the user's back")
        }
        let changed = RevisionPlan.plan(status: plan.status, generation: 8, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!changed.pinned)
        #expect(changed.target.revision == 3)
    }

    /// A restart token changes the spec's template hash but not what the spec asks to run: with the
    /// template identity given without the token, a restart keeps the rollback pinned.
    @Test func aRestartDoesNotUnpinARollback() {
        var old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .rolledBack, generation: 2)],
                                      current: 1, stable: 1)
        old.lastRollback = Status.LastRollback(fromRevision: 2, toRevision: 1, reason: "ProgressDeadlineExceeded", message: "m",
                                               at: LogicFixture.now, generation: 2, specTemplateHash: "bbb")
        let restarted = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb-restarted"), rollbackRequest: nil,
                                          now: LogicFixture.later, specTemplateKey: "bbb")
        #expect(restarted.pinned)
        #expect(restarted.target.revision == 1)
        #expect(!restarted.createdRevision)
    }

    /// History can name a revision whose ControllerRevision never existed (planned while a Secret was
    /// missing) or was deleted: a rollback to it is rejected, never pinned to something undeployable.
    @Test func aRollbackToARevisionWithoutItsControllerRevisionIsRejected() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                     now: LogicFixture.later, knownRevisions: ["bbb"])
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.contains("revision 1 has no ControllerRevision"), "\(event.message)")
        #expect(plan.status.handledRequests?["rollback-to"] == "1@t", "handled once, not retried on every pass")
        let accepted = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                         now: LogicFixture.later, knownRevisions: ["aaa", "bbb"])
        #expect(accepted.pinned)
    }

    @Test func aFailedRevisionIsNotRetriedAtTheGenerationItFailedIn() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .failed, generation: 4)], current: 1)
        let plan = RevisionPlan.plan(status: old, generation: 4, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(plan.target.outcome == .failed)
        #expect(plan.target.generation == 4)
    }

    @Test func aFailureWithoutAStableRevisionFailsWithoutRollback() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.later)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history?.map(\.outcome) == [.failed])
        #expect(plan.status.currentRevision == 1)
        let event = try #require(plan.events.first { $0.reason == "RolloutFailed" })
        #expect(event.type == .warning)
        #expect(event.message == "revision 1 failed (ProgressDeadlineExceeded: deadline)")

        // The same failure observed again is not reported twice.
        let eventCount = plan.events.count
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.later)
        #expect(plan.events.count == eventCount)
    }

    @Test func aFailureWithRollbackDisabledFailsEvenWithAStableRevision() {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed(), rollbackOnFailure: false, generation: 2, now: LogicFixture.later)
        #expect(!plan.rolledBackNow)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history?.map(\.outcome) == [.succeeded, .failed])
        #expect(plan.events.contains { $0.reason == "RolloutFailed" && $0.type == .warning })
        // Not pinned at the next pass: the failing template stays deployed.
        let next = RevisionPlan.plan(status: plan.status, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(!next.pinned)
        #expect(next.target.revision == 2)
    }

    @Test func successMakesTheTargetStable() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa", image: "app:v1"), rollbackRequest: nil,
                                     now: LogicFixture.now)
        plan.observe(.progressing("0 of 3 replicas updated"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(plan.status.stableRevision == nil)
        #expect(plan.status.history?.first?.outcome == .progressing)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        #expect(plan.status.stableRevision == 1)
        #expect(plan.status.currentRevision == 1)
        #expect(plan.status.image == "app:v1")
        #expect(plan.status.history?.first?.outcome == .succeeded)
        let complete = try #require(plan.events.first { $0.reason == "RolloutComplete" })
        #expect(complete.type == .normal)
    }

    // MARK: Rollback requests

    static let twoGood = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded, generation: 2)],
                                        current: 2, stable: 2)

    @Test func aRollbackRequestWithATokenPinsThatRevision() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@abc",
                                     now: LogicFixture.later)
        #expect(plan.pinned)
        #expect(plan.target.revision == 1)
        #expect(!plan.rollbackIsAutomatic)
        #expect(plan.status.handledRequests == ["rollback-to": "1@abc"])
        let rollback = try #require(plan.status.lastRollback)
        #expect(rollback.fromRevision == 2)
        #expect(rollback.toRevision == 1)
        #expect(rollback.reason == "RollbackRequested")
        #expect(rollback.generation == 3)
        #expect(rollback.at == LogicFixture.later)
        #expect(plan.events == [PlannedEvent(.normal, "RollbackRequested", "rolling back from revision 2 to revision 1")])
    }

    @Test func aRollbackRequestWithoutATokenIsAccepted() {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1", now: LogicFixture.later)
        #expect(plan.pinned)
        #expect(plan.target.revision == 1)
        #expect(plan.status.handledRequests?["rollback-to"] == "1")
    }

    @Test func rollbackToZeroPicksTheLatestSuccessfulRevisionOtherThanTheCurrent() {
        let history = [LogicFixture.entry(1, "aaa", .succeeded), LogicFixture.entry(2, "bbb", .succeeded), LogicFixture.entry(3, "ccc", .failed),
                       LogicFixture.entry(4, "ddd", .succeeded)]
        // Current is 4: the previous successful is 2 (3 failed).
        let fromFour = RevisionPlan.plan(status: LogicFixture.status(history, current: 4, stable: 4), generation: 5, spec: LogicFixture.spec("ddd"),
                                         rollbackRequest: "0@x", now: LogicFixture.later)
        #expect(fromFour.pinned)
        #expect(fromFour.target.revision == 2)
        // Current is 2 (an earlier rollback): the latest successful other than 2 is 4.
        let fromTwo = RevisionPlan.plan(status: LogicFixture.status(history, current: 2, stable: 2), generation: 5, spec: LogicFixture.spec("ddd"),
                                        rollbackRequest: "0@y", now: LogicFixture.later)
        #expect(fromTwo.target.revision == 4)
    }

    @Test func rollbackToZeroWithoutAnEarlierSuccessIsRejected() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        let plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("aaa"), rollbackRequest: "0", now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.type == .warning)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.contains("no earlier successful revision"))
        #expect(plan.status.handledRequests?["rollback-to"] == "0", "handled: not retried on every pass")
    }

    @Test func aRollbackToAnUnknownRevisionIsRejectedAndChangesNothing() throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "9@t",
                                     now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        #expect(plan.status.history == Self.twoGood.history)
        #expect(plan.events == [PlannedEvent(.warning, "RollbackRejected", "revision 9 is not in history (revisions: 1, 2)")])
        #expect(plan.status.handledRequests?["rollback-to"] == "9@t")
    }

    @Test(arguments: ["abc", "-1", "1@", "1.5", "", "  ", "@tok", "٣"])
    func aMalformedRollbackRequestIsRejected(_ value: String) throws {
        let plan = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: value,
                                     now: LogicFixture.later)
        #expect(!plan.pinned)
        #expect(plan.target.revision == 2)
        #expect(plan.status.lastRollback == nil)
        let event = try #require(plan.events.first)
        #expect(event.type == .warning)
        #expect(event.reason == "RollbackRejected")
        #expect(event.message.hasPrefix("pynomaly.ai/rollback-to"))
        #expect(!event.message.hasPrefix("pynomaly.ai/rollback-to: pynomaly.ai/rollback-to"), "the annotation is named once")
        #expect(plan.events.count == 1)
    }

    @Test func theSameRollbackValueIsHandledOnce() {
        let first = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                      now: LogicFixture.now)
        #expect(first.events.map(\.reason) == ["RollbackRequested"])

        // The annotation is still there at the next pass: no second request, the pin holds.
        let second = RevisionPlan.plan(status: first.status, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "1@t",
                                       now: LogicFixture.later)
        #expect(second.events.isEmpty)
        #expect(second.pinned)
        #expect(second.status.lastRollback == first.status.lastRollback, "the first request's record is kept")

        // A spec change releases the pin; the old value does not pin again.
        let changed = RevisionPlan.plan(status: second.status, generation: 4, spec: LogicFixture.spec("ccc"), rollbackRequest: "1@t",
                                        now: LogicFixture.later)
        #expect(!changed.pinned)
        #expect(changed.target.revision == 3)
        #expect(changed.events.map(\.reason) == ["RevisionCreated"])

        // A new token is a new request.
        let renewed = RevisionPlan.plan(status: changed.status, generation: 4, spec: LogicFixture.spec("ccc"), rollbackRequest: "1@u",
                                        now: LogicFixture.later)
        #expect(renewed.pinned)
        #expect(renewed.target.revision == 1)
        #expect(renewed.status.handledRequests?["rollback-to"] == "1@u")
    }

    @Test func aRejectedValueIsNotReportedAgain() {
        let first = RevisionPlan.plan(status: Self.twoGood, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "garbage",
                                      now: LogicFixture.now)
        #expect(first.events.count == 1)
        let second = RevisionPlan.plan(status: first.status, generation: 3, spec: LogicFixture.spec("bbb"), rollbackRequest: "garbage",
                                       now: LogicFixture.later)
        #expect(second.events.isEmpty)
    }

    // MARK: Pruning

    static func fiveRevisions(current: Int64, stable: Int64) -> Status {
        LogicFixture.status((1...5).map { LogicFixture.entry($0, "t\($0)", .succeeded) }, current: current, stable: stable)
    }

    @Test func pruneDropsTheOldestBeyondTheLimitButKeepsTargetAndStable() {
        let old = Self.fiveRevisions(current: 5, stable: 3)
        var plan = RevisionPlan.plan(status: old, generation: 9, spec: LogicFixture.spec("t5"), rollbackRequest: nil, now: LogicFixture.later)
        plan.status.stableRevision = 3
        plan.prune(limit: 2)
        #expect(plan.status.history?.map(\.revision) == [3, 5])
        #expect(plan.pruned.map(\.revision) == [1, 2, 4])
    }

    @Test func pruneKeepsAnOldStableRevision() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 1), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 3)
        #expect(plan.status.history?.map(\.revision) == [1, 4, 5])
        #expect(plan.pruned.map(\.revision) == [2, 3])
    }

    @Test func pruneWithinTheLimitDropsNothingAndSortsByRevision() {
        let shuffled = LogicFixture.status([LogicFixture.entry(3, "c", .succeeded), LogicFixture.entry(1, "a", .succeeded), LogicFixture.entry(2, "b", .succeeded)],
                                      current: 3, stable: 3)
        var plan = RevisionPlan.plan(status: shuffled, generation: 9, spec: LogicFixture.spec("c"), rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 3)
        #expect(plan.pruned.isEmpty)
        #expect(plan.status.history?.map(\.revision) == [1, 2, 3])
    }

    @Test func aZeroLimitStillKeepsTargetAndStable() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 2), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 0)
        #expect(plan.status.history?.map(\.revision) == [2, 5])
        #expect(plan.pruned.map(\.revision) == [1, 3, 4])
    }

    @Test func revisionNumbersKeepIncreasingAfterPruning() {
        var plan = RevisionPlan.plan(status: Self.fiveRevisions(current: 5, stable: 5), generation: 9, spec: LogicFixture.spec("t5"),
                                     rollbackRequest: nil, now: LogicFixture.later)
        plan.prune(limit: 1)
        #expect(plan.status.history?.map(\.revision) == [5])
        let next = RevisionPlan.plan(status: plan.status, generation: 10, spec: LogicFixture.spec("new"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(next.target.revision == 6)
        // A template whose entry was pruned comes back as a new revision.
        let back = RevisionPlan.plan(status: plan.status, generation: 10, spec: LogicFixture.spec("t1"), rollbackRequest: nil, now: LogicFixture.later)
        #expect(back.target.revision == 6)
        #expect(back.createdRevision)
    }
}

// MARK: - RolloutObservation

@Suite("ControllerLogic: RolloutObservation")
struct RolloutObservationLogicTests {
    @Test func anUnobservedGenerationIsProgressing() throws {
        let stale = try LogicFixture.deployment(generation: 3, observedGeneration: 2)
        #expect(RolloutObservation(deployment: stale) == .progressing("waiting for the Deployment controller to observe generation 3"))
        let noStatus = try LogicFixture.deployment(generation: 1, hasStatus: false)
        #expect(RolloutObservation(deployment: noStatus) == .progressing("waiting for the Deployment controller to observe generation 1"))
        // A deadline from the previous generation does not count.
        let staleFailure = try LogicFixture.deployment(generation: 3, observedGeneration: 2, conditions: [
            LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded")])
        #expect(!RolloutObservation(deployment: staleFailure).isComplete)
        if case .failed = RolloutObservation(deployment: staleFailure) { Issue.record("a stale deadline is not this generation's failure") }
    }

    @Test func fewerUpdatedReplicasThanDesiredIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3)
        #expect(RolloutObservation(deployment: d) == .progressing("1 of 3 replicas updated"))
    }

    @Test func oldReplicasLeftIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 3, ready: 4, available: 4)
        #expect(RolloutObservation(deployment: d) == .progressing("1 old replicas pending termination"))
    }

    @Test func updatedButNotAvailableIsProgressing() throws {
        let d = try LogicFixture.deployment(statusReplicas: 3, updated: 3, ready: 2, available: 2)
        #expect(RolloutObservation(deployment: d) == .progressing("2 of 3 updated replicas available"))
    }

    @Test func everythingUpdatedAndAvailableIsComplete() throws {
        let d = try LogicFixture.deployment(conditions: [LogicFixture.condition("Progressing", "True", reason: "NewReplicaSetAvailable")])
        #expect(RolloutObservation(deployment: d) == .complete)
        #expect(RolloutObservation(deployment: d).isComplete)
    }

    @Test func unsetReplicasMeanOne() throws {
        let d = try LogicFixture.deployment(replicas: nil, statusReplicas: 1, updated: 1, ready: 1, available: 1)
        #expect(RolloutObservation(deployment: d) == .complete)
        let zero = try LogicFixture.deployment(replicas: nil, statusReplicas: 0, updated: 0, ready: 0, available: 0)
        #expect(RolloutObservation(deployment: zero) == .progressing("0 of 1 replicas updated"))
    }

    @Test func progressDeadlineExceededIsAFailureEvenMidRollout() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            LogicFixture.condition("Available", "True", reason: "MinimumReplicasAvailable"),
            LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet \"app-2\" has timed out progressing."),
        ])
        #expect(RolloutObservation(deployment: d) == .failed(reason: "ProgressDeadlineExceeded",
                                                            message: "ReplicaSet \"app-2\" has timed out progressing."))
        #expect(!RolloutObservation(deployment: d).isComplete)
    }

    @Test func progressingFalseForAnotherReasonIsNotAFailure() throws {
        let d = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            LogicFixture.condition("Progressing", "False", reason: "DeploymentPaused")])
        #expect(RolloutObservation(deployment: d) == .progressing("1 of 3 replicas updated"))
    }
}

// MARK: - PodProblems

@Suite("ControllerLogic: PodProblems")
struct PodProblemsLogicTests {
    @Test func imagePullBackOffOnTwoOfThreePods() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff"]), try LogicFixture.pod("b", waiting: ["ImagePullBackOff"]),
                    try LogicFixture.runningPod("c")]
        #expect(PodProblems.summary(of: pods) == "2/3 pods ImagePullBackOff")
    }

    @Test func mixedReasonsPickTheMostCommon() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ErrImagePull"]), try LogicFixture.pod("b", waiting: ["CrashLoopBackOff"]),
                    try LogicFixture.pod("c", waiting: ["CrashLoopBackOff"]), try LogicFixture.pod("d", waiting: ["ImagePullBackOff"]),
                    try LogicFixture.runningPod("e")]
        #expect(PodProblems.summary(of: pods) == "2/5 pods CrashLoopBackOff")
    }

    @Test func aTieIsBrokenTheSameWayEveryTime() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff"]), try LogicFixture.pod("b", waiting: ["CrashLoopBackOff"])]
        let first = PodProblems.summary(of: pods)
        #expect(first == "1/2 pods CrashLoopBackOff")
        #expect(PodProblems.summary(of: pods.reversed()) == first)
    }

    @Test func aPodCountsOncePerReasonAcrossItsContainers() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff", "ImagePullBackOff"]), try LogicFixture.runningPod("b")]
        #expect(PodProblems.summary(of: pods) == "1/2 pods ImagePullBackOff")
    }

    @Test func initContainersCount() throws {
        let pods = [try LogicFixture.pod("a", waiting: [nil], initWaiting: "CreateContainerConfigError")]
        #expect(PodProblems.summary(of: pods) == "1/1 pods CreateContainerConfigError")
    }

    @Test func anUnschedulablePendingPod() throws {
        let pending = try LogicFixture.pod("a", waiting: [], conditions: [
            LogicFixture.condition("PodScheduled", "False", reason: "Unschedulable", message: "0/3 nodes are available")])
        #expect(PodProblems.summary(of: [pending, try LogicFixture.runningPod("b")]) == "1/2 pods Unschedulable")
    }

    @Test func aPendingScheduledPodIsNoProblem() throws {
        let scheduled = try LogicFixture.pod("a", waiting: ["ContainerCreating"], conditions: [
            LogicFixture.condition("PodScheduled", "True", reason: "Scheduled")])
        #expect(PodProblems.summary(of: [scheduled]) == nil)
    }

    @Test func healthyPodsAndNoPodsGiveNil() throws {
        #expect(PodProblems.summary(of: [try LogicFixture.runningPod("a"), try LogicFixture.runningPod("b")]) == nil)
        #expect(PodProblems.summary(of: []) == nil)
    }
}

// MARK: - StatusCalculator

@Suite("ControllerLogic: StatusCalculator")
struct StatusCalculatorLogicTests {
    typealias Status = PynomalyDeploymentStatus
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)
    static let t1 = t0.addingTimeInterval(60)
    static let t2 = t0.addingTimeInterval(120)
    static let selector = "app.kubernetes.io/instance=app,app.kubernetes.io/name=pynomaly"

    func available(_ value: Bool) -> JSONValue {
        LogicFixture.condition("Available", value ? "True" : "False", reason: value ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable")
    }

    func observation(_ plan: RevisionPlan, _ rollout: RolloutObservation, deployment: Deployment?, paused: Bool = false,
                     podProblems: String? = nil, waiting: (reason: String, message: String)? = nil) -> StatusCalculator.Observation {
        StatusCalculator.Observation(plan: plan, rollout: rollout, deployment: deployment, selector: Self.selector, paused: paused,
                                     podProblems: podProblems, waiting: waiting)
    }

    func condition(_ status: Status, _ type: String) throws -> Condition {
        try #require(status.conditions?.first(type: type), "no \(type) condition")
    }

    func expectCondition(_ status: Status, _ type: String, _ value: String, _ reason: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let c = try condition(status, type)
        #expect(c.status == value, "\(type)", sourceLocation: sourceLocation)
        if let reason { #expect(c.reason == reason, "\(type) reason", sourceLocation: sourceLocation) }
    }

    func expectObservedGeneration(_ status: Status, _ generation: Int64, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status.observedGeneration == generation, sourceLocation: sourceLocation)
        for c in status.conditions ?? [] {
            #expect(c.observedGeneration == generation, "\(c.type)", sourceLocation: sourceLocation)
        }
    }

    @Test func progressing() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 1, updated: 1, ready: 0, available: 0,
                                       conditions: [available(false)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .progressing("1 of 3 replicas updated"), deployment: d))
        #expect(status.phase == .progressing)
        #expect(status.message == "revision 1 rolling out: 1 of 3 replicas updated")
        try expectCondition(status, ConditionType.ready, "False", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.reconciling, "True", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.stalled, "False")
        try expectCondition(status, ConditionType.progressing, "True", ConditionReason.rolloutInProgress)
        try expectCondition(status, ConditionType.available, "False", ConditionReason.minimumReplicasUnavailable)
        #expect(status.conditions?.first(type: ConditionType.rolledBack) == nil)
        #expect(status.selector == Self.selector)
        #expect(status.replicas == 1)
        #expect(status.updatedReplicas == 1)
        #expect(status.readyReplicas == 0)
        expectObservedGeneration(status, 1)

        // A pod problem replaces the Deployment's reason in the message.
        let withProblem = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("1 of 3 replicas updated"), deployment: d, podProblems: "1/1 pods ImagePullBackOff"))
        #expect(withProblem.message == "revision 1 rolling out: 1/1 pods ImagePullBackOff")
        #expect(try condition(withProblem, ConditionType.ready).message == "revision 1 rolling out: 1/1 pods ImagePullBackOff")
    }

    @Test func theDeploymentMissingYetCountsZero() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("the Deployment does not exist yet"), deployment: nil))
        #expect(status.replicas == 0)
        #expect(status.readyReplicas == 0)
        #expect(status.availableReplicas == 0)
        try expectCondition(status, ConditionType.available, "False")
        #expect(status.phase == .progressing)
    }

    @Test func complete() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d))
        #expect(status.phase == .healthy)
        #expect(status.message == "3/3 ready at revision 1")
        try expectCondition(status, ConditionType.ready, "True", ConditionReason.rolloutComplete)
        try expectCondition(status, ConditionType.reconciling, "False")
        try expectCondition(status, ConditionType.stalled, "False")
        try expectCondition(status, ConditionType.progressing, "True", ConditionReason.rolloutComplete)
        try expectCondition(status, ConditionType.available, "True", ConditionReason.minimumReplicasAvailable)
        #expect(status.readyReplicas == 3)
        #expect(status.availableReplicas == 3)
        #expect(status.currentRevision == 1)
        #expect(status.stableRevision == 1)
        expectObservedGeneration(status, 1)
    }

    @Test func failedWithRollbackRollsBackThenIsDegraded() throws {
        let old = LogicFixture.status([LogicFixture.entry(1, "aaa", .succeeded)], current: 1, stable: 1)
        var plan = RevisionPlan.plan(status: old, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 2, now: LogicFixture.now)
        let failing = try LogicFixture.deployment(statusReplicas: 4, updated: 1, ready: 3, available: 3, conditions: [
            available(true), LogicFixture.condition("Progressing", "False", reason: "ProgressDeadlineExceeded", message: "deadline")])
        let calculator = StatusCalculator(generation: 2, now: Self.t0)
        let rollingBack = calculator.status(observation(plan, LogicFixture.failed("deadline"), deployment: failing,
                                                        podProblems: "1/4 pods ImagePullBackOff"))
        #expect(rollingBack.phase == .rollingBack)
        #expect(rollingBack.message == "revision 2 failed: 1/4 pods ImagePullBackOff")
        try expectCondition(rollingBack, ConditionType.ready, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(rollingBack, ConditionType.reconciling, "True", ConditionReason.rolledBack)
        try expectCondition(rollingBack, ConditionType.stalled, "False")
        try expectCondition(rollingBack, ConditionType.progressing, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(rollingBack, ConditionType.rolledBack, "True", ConditionReason.progressDeadlineExceeded)
        #expect(try condition(rollingBack, ConditionType.rolledBack).message == "rolled back from revision 2 to 1")
        expectObservedGeneration(rollingBack, 2)

        // The next pass deploys revision 1 (pinned); while it rolls, the phase says RollingBack.
        let next = RevisionPlan.plan(status: rollingBack, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        #expect(next.pinned)
        let rolling = calculator.status(observation(next, .progressing("1 old replicas pending termination"), deployment: failing))
        #expect(rolling.phase == .rollingBack)
        try expectCondition(rolling, ConditionType.rolledBack, "True")

        // Revision 1 runs again: Degraded, Ready=False (RolledBack), Stalled=True, Progressing=True.
        var done = RevisionPlan.plan(status: rolling, generation: 2, spec: LogicFixture.spec("bbb"), rollbackRequest: nil, now: LogicFixture.now)
        done.observe(.complete, rollbackOnFailure: true, generation: 2, now: LogicFixture.now)
        let healthy = try LogicFixture.deployment(conditions: [available(true)])
        let degraded = calculator.status(observation(done, .complete, deployment: healthy))
        #expect(degraded.phase == .degraded)
        #expect(degraded.message == "revision 2 failed (ProgressDeadlineExceeded); running revision 1, 3/3 ready")
        try expectCondition(degraded, ConditionType.ready, "False", ConditionReason.rolledBack)
        try expectCondition(degraded, ConditionType.reconciling, "False")
        try expectCondition(degraded, ConditionType.stalled, "True", ConditionReason.progressDeadlineExceeded)
        try expectCondition(degraded, ConditionType.progressing, "True", ConditionReason.rolloutComplete)
        try expectCondition(degraded, ConditionType.rolledBack, "True")
        try expectCondition(degraded, ConditionType.available, "True")
        #expect(degraded.currentRevision == 1)
        expectObservedGeneration(degraded, 2)

        // A spec change: RolledBack=False (SpecChanged), a normal rollout again.
        let changed = RevisionPlan.plan(status: degraded, generation: 3, spec: LogicFixture.spec("ccc"), rollbackRequest: nil, now: LogicFixture.now)
        let fresh = StatusCalculator(generation: 3, now: Self.t1).status(observation(changed, .progressing("0 of 3 replicas updated"),
                                                                                     deployment: healthy))
        #expect(fresh.phase == .progressing)
        try expectCondition(fresh, ConditionType.rolledBack, "False", "SpecChanged")
        try expectCondition(fresh, ConditionType.stalled, "False")
        expectObservedGeneration(fresh, 3)
    }

    @Test func failedWithoutRollback() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(LogicFixture.failed("deadline"), rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 3, updated: 3, ready: 0, available: 0,
                                       conditions: [available(false)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, LogicFixture.failed("deadline"), deployment: d, podProblems: "3/3 pods ImagePullBackOff"))
        #expect(status.phase == .failed)
        #expect(status.message == "revision 1 failed: 3/3 pods ImagePullBackOff")
        try expectCondition(status, ConditionType.ready, "False", ConditionReason.progressDeadlineExceeded)
        try expectCondition(status, ConditionType.reconciling, "False")
        try expectCondition(status, ConditionType.stalled, "True", ConditionReason.progressDeadlineExceeded)
        #expect(try condition(status, ConditionType.stalled).message == "revision 1 failed: 3/3 pods ImagePullBackOff")
        try expectCondition(status, ConditionType.progressing, "False", ConditionReason.progressDeadlineExceeded)
        #expect(status.conditions?.first(type: ConditionType.rolledBack) == nil)
        expectObservedGeneration(status, 1)

        // Without a pod problem the Deployment's own message is used.
        let plain = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, LogicFixture.failed("deadline"), deployment: d))
        #expect(plain.message == "revision 1 failed: deadline")
    }

    @Test func paused() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let status = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d, paused: true))
        #expect(status.phase == .paused)
        #expect(status.message == "paused: no workload changes; 3/3 ready at revision 1")
        expectObservedGeneration(status, 1)
    }

    @Test func waitingForAReference() throws {
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let waiting = (reason: "ReferenceMissing", message: "waiting for Secret db referenced by the spec")
        let status = StatusCalculator(generation: 1, now: Self.t0).status(
            observation(plan, .progressing("the Deployment does not exist yet"), deployment: nil, waiting: waiting))
        #expect(status.message == waiting.message)
        try expectCondition(status, ConditionType.ready, "False", "ReferenceMissing")
        #expect(try condition(status, ConditionType.ready).message == waiting.message)
        try expectCondition(status, ConditionType.reconciling, "True", "ReferenceMissing")
        try expectCondition(status, ConditionType.stalled, "False")
        #expect(status.phase == .progressing)
        expectObservedGeneration(status, 1)
    }

    @Test func lastTransitionTimeChangesOnlyWithTheStatus() throws {
        let calculatorAt = { (date: Date) in StatusCalculator(generation: 1, now: date) }
        let plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, statusReplicas: 1, updated: 1, ready: 0, available: 0,
                                       conditions: [available(false)])
        let first = calculatorAt(Self.t0).status(observation(plan, .progressing("1 of 3 replicas updated"), deployment: d))
        let t0 = KubeTime.format(Self.t0)
        for c in first.conditions ?? [] { #expect(c.lastTransitionTime == t0, "\(c.type)") }

        // Same statuses a minute later, with a different message: no transition.
        let plan2 = RevisionPlan.plan(status: first, generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        let second = calculatorAt(Self.t1).status(observation(plan2, .progressing("2 of 3 replicas updated"), deployment: d))
        #expect(try condition(second, ConditionType.ready).message == "revision 1 rolling out: 2 of 3 replicas updated")
        for c in second.conditions ?? [] { #expect(c.lastTransitionTime == t0, "\(c.type)") }

        // Complete: Ready, Reconciling and Available flip; Progressing and Stalled keep their time.
        var plan3 = RevisionPlan.plan(status: second, generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan3.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let complete = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let third = calculatorAt(Self.t2).status(observation(plan3, .complete, deployment: complete))
        let t2 = KubeTime.format(Self.t2)
        for type in [ConditionType.ready, ConditionType.reconciling, ConditionType.available] {
            #expect(try condition(third, type).lastTransitionTime == t2, "\(type)")
        }
        for type in [ConditionType.progressing, ConditionType.stalled] {
            #expect(try condition(third, type).lastTransitionTime == t0, "\(type)")
        }
    }

    @Test func invalidSpecKeepsHistoryAndCounts() throws {
        var plan = RevisionPlan.plan(status: Status(), generation: 1, spec: LogicFixture.spec("aaa"), rollbackRequest: nil, now: LogicFixture.now)
        plan.observe(.complete, rollbackOnFailure: true, generation: 1, now: LogicFixture.now)
        let d = try LogicFixture.deployment(generation: 1, observedGeneration: 1, conditions: [available(true)])
        let healthy = StatusCalculator(generation: 1, now: Self.t0).status(observation(plan, .complete, deployment: d))

        let problems = [SpecProblem(field: "spec.resources.limits.memory", message: "below the request"),
                        SpecProblem(field: "spec.image", message: "not an image reference")]
        let invalid = StatusCalculator(generation: 2, now: Self.t1).invalidSpec(healthy, problems: problems)
        let message = "spec.resources.limits.memory: below the request; spec.image: not an image reference"
        #expect(invalid.phase == .failed)
        #expect(invalid.message == "invalid spec: " + message)
        #expect(invalid.observedGeneration == 2)
        try expectCondition(invalid, ConditionType.stalled, "True", ConditionReason.invalidSpec)
        #expect(try condition(invalid, ConditionType.stalled).message == message)
        try expectCondition(invalid, ConditionType.ready, "False", ConditionReason.invalidSpec)
        #expect(try condition(invalid, ConditionType.ready).message == message)
        try expectCondition(invalid, ConditionType.reconciling, "False", ConditionReason.invalidSpec)
        for type in [ConditionType.stalled, ConditionType.ready, ConditionType.reconciling] {
            #expect(try condition(invalid, type).observedGeneration == 2, "\(type)")
        }
        // Untouched: history, revisions, counts, Progressing and Available.
        #expect(invalid.history == healthy.history)
        #expect(invalid.currentRevision == healthy.currentRevision)
        #expect(invalid.stableRevision == healthy.stableRevision)
        #expect(invalid.replicas == 3)
        #expect(invalid.readyReplicas == 3)
        #expect(invalid.availableReplicas == 3)
        #expect(invalid.selector == healthy.selector)
        #expect(invalid.conditions?.first(type: ConditionType.progressing) == healthy.conditions?.first(type: ConditionType.progressing))
        #expect(invalid.conditions?.first(type: ConditionType.available) == healthy.conditions?.first(type: ConditionType.available))
        #expect(try condition(invalid, ConditionType.reconciling).lastTransitionTime == KubeTime.format(Self.t0),
                "Reconciling stayed False")
        #expect(try condition(invalid, ConditionType.stalled).lastTransitionTime == KubeTime.format(Self.t1))
    }
}

// MARK: - JSONValue.contains

@Suite("ControllerLogic: JSONValue.contains")
struct JSONContainsLogicTests {
    static let live: JSONValue = [
        "metadata": ["name": "app", "uid": "u-1", "resourceVersion": "42", "labels": ["a": "1", "b": "2"]],
        "spec": ["replicas": 3, "paused": false, "ratio": 0.5,
                 "ports": [["name": "http", "port": 80, "protocol": "TCP"], ["name": "metrics", "port": 9090, "protocol": "TCP"]]],
    ]

    @Test func extraLiveFieldsAreFine() {
        #expect(Self.live.contains(["metadata": ["name": "app", "labels": ["a": "1"]], "spec": ["replicas": 3]]))
        #expect(Self.live.contains([:]))
        #expect(Self.live.contains(Self.live))
    }

    @Test func aMissingOrDifferentFieldIsNotContained() {
        #expect(!Self.live.contains(["spec": ["minReadySeconds": 5]]))
        #expect(!Self.live.contains(["spec": ["replicas": 4]]))
        #expect(!Self.live.contains(["metadata": ["labels": ["c": "3"]]]))
        #expect(!Self.live.contains(["spec": ["paused": true]]))
        #expect(!Self.live.contains(["spec": ["replicas": "3"]]), "a string is not a number")
        #expect(!Self.live.contains(["spec": ["replicas": ["n": 3]]]), "an object is not a number")
    }

    @Test func arraysMustHaveTheSameLength() {
        // Elements may carry server-set fields, but an applied list is the whole list.
        #expect(Self.live.contains(["spec": ["ports": [["name": "http", "port": 80], ["name": "metrics", "port": 9090]]]]))
        #expect(!Self.live.contains(["spec": ["ports": [["name": "http", "port": 80]]]]), "shorter")
        #expect(!Self.live.contains(["spec": ["ports": [["name": "http"], ["name": "metrics"], ["name": "extra"]]]]), "longer")
        #expect(!Self.live.contains(["spec": ["ports": [["name": "metrics", "port": 9090], ["name": "http", "port": 80]]]]), "order")
        #expect(!Self.live.contains(["spec": ["ports": []]]))
        #expect(JSONValue.array([]).contains([]))
    }

    @Test func integersAndDoublesOfTheSameValueAreEqual() {
        #expect(JSONValue.int(3).contains(.double(3.0)))
        #expect(JSONValue.double(3.0).contains(.int(3)))
        #expect(!JSONValue.int(3).contains(.double(3.5)))
        #expect(!JSONValue.double(0.5).contains(.int(0)))
        #expect(Self.live.contains(["spec": ["replicas": 3.0, "ratio": 0.5]]))
    }

    /// A ConfigMap applied with `data: {}` comes back without `data`: re-applying it on every pass
    /// would be a write per pass for nothing.
    @Test func anEmptyMapOrListMatchesAnAbsentField() {
        let configMap: JSONValue = ["metadata": ["name": "app-config"]]
        #expect(configMap.contains(["metadata": ["name": "app-config"], "data": [:]]))
        #expect(configMap.contains(["spec": ["tolerations": []]]) == false, "the parent object must still be there")
        let emptySpec: JSONValue = ["spec": [:]]
        #expect(emptySpec.contains(["spec": ["tolerations": []]]))
        let withData: JSONValue = ["data": ["a": "1"]]
        #expect(withData.contains(["data": [:]]), "an empty desired map is contained in any map")
        #expect(!Self.live.contains(["spec": ["ports": []]]), "a non-empty live list is not an empty one")
    }

    @Test func anExplicitNullMeansAbsent() {
        #expect(Self.live.contains(["spec": ["minReadySeconds": nil]]), "absent")
        let withNull: JSONValue = ["a": nil, "b": 1]
        #expect(withNull.contains(["a": nil]), "present as null")
        #expect(!Self.live.contains(["spec": ["replicas": nil]]), "present with a value")
        #expect(!JSONValue.null.contains(["a": 1]))
        #expect(JSONValue.null.contains(.null))
    }
}

// MARK: - ReferencedObjects

@Suite("ControllerLogic: ReferencedObjects")
struct ReferencedObjectsLogicTests {
    static let own = "app-config"

    func template(_ containers: [Container]) -> PodTemplateSpec {
        PodTemplateSpec(spec: PodSpec(containers: containers))
    }

    func secretEnv(_ name: String, _ secret: String) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(secretKeyRef: SecretKeySelector(name: secret, key: "k")))
    }

    func configMapEnv(_ name: String, _ configMap: String) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(configMapKeyRef: ConfigMapKeySelector(name: configMap, key: "k")))
    }

    var full: PodTemplateSpec {
        var app = Container(name: "app", image: "app:v1")
        app.env = [EnvVar(name: "PLAIN", value: "x"), secretEnv("DB_PASSWORD", "db"), configMapEnv("FLAG", "flags"),
                   EnvVar(name: "POD", valueFrom: EnvVarSource(fieldRef: ObjectFieldSelector(fieldPath: "metadata.name")))]
        app.envFrom = [EnvFromSource(configMapRef: EnvSourceReference(name: Self.own)), EnvFromSource(secretRef: EnvSourceReference(name: "bulk")),
                       EnvFromSource(prefix: "X_", configMapRef: EnvSourceReference(name: "extra"))]
        var sidecar = Container(name: "sidecar", image: "side:v1")
        sidecar.env = [secretEnv("REDIS_PASSWORD", "redis"), secretEnv("DB_AGAIN", "db")]
        return template([app, sidecar])
    }

    @Test func envEnvFromAndEveryContainerAreRead() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        #expect(refs.secrets == ["db", "bulk", "redis"])
        #expect(refs.configMaps == ["flags", "extra"])
        #expect(!refs.isEmpty)
        #expect(refs.contains(kind: "Secret", name: "db"))
        #expect(refs.contains(kind: "ConfigMap", name: "flags"))
        #expect(!refs.contains(kind: "ConfigMap", name: "db"), "kinds are separate")
        #expect(!refs.contains(kind: "Secret", name: "flags"))
    }

    @Test func theOwnConfigMapIsExcluded() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        #expect(!refs.contains(kind: "ConfigMap", name: Self.own))
        // Only the own ConfigMap: nothing referenced.
        var only = Container(name: "app")
        only.envFrom = [EnvFromSource(configMapRef: EnvSourceReference(name: Self.own))]
        #expect(ReferencedObjects(template: template([only]), ownConfigMap: Self.own).isEmpty)
        // A Secret that happens to have the own ConfigMap's name is still a Secret to watch.
        var sameName = Container(name: "app")
        sameName.envFrom = [EnvFromSource(secretRef: EnvSourceReference(name: Self.own))]
        #expect(ReferencedObjects(template: template([sameName]), ownConfigMap: Self.own).secrets == [Self.own])
    }

    @Test func theOwnConfigMapReadThroughConfigMapKeyRefIsExcludedToo() {
        // The own ConfigMap's content is hashed separately, and it is created by the same pass that
        // would wait for it: a single key of it read through env must not be a reference either.
        var app = Container(name: "app")
        app.env = [configMapEnv("LOG_LEVEL_COPY", Self.own)]
        let refs = ReferencedObjects(template: template([app]), ownConfigMap: Self.own)
        #expect(refs.configMaps.isEmpty, "\(refs.configMaps)")
    }

    /// The kubelet starts a pod without an optional Secret or ConfigMap: its absence must not hold a
    /// rollout, yet its creation changes the hash (the pods roll to read it). A reference that is
    /// optional in one place and required in another is required.
    @Test func anOptionalReferenceThatIsMissingDoesNotBlock() {
        var app = Container(name: "app")
        app.env = [EnvVar(name: "TOKEN", valueFrom: EnvVarSource(secretKeyRef: SecretKeySelector(name: "maybe", key: "k", optional: true))),
                   EnvVar(name: "FLAG", valueFrom: EnvVarSource(configMapKeyRef: ConfigMapKeySelector(name: "both", key: "k", optional: true))),
                   configMapEnv("FLAG2", "both")]
        app.envFrom = [EnvFromSource(secretRef: EnvSourceReference(name: "bulk", optional: true))]
        let refs = ReferencedObjects(template: template([app]), ownConfigMap: Self.own)
        #expect(refs.optional == ["Secret/maybe", "Secret/bulk"])
        let absent = refs.contentHash { _, _ in nil }
        #expect(absent.missing == ["ConfigMap both"], "only the required one blocks: \(absent.missing)")
        let present = refs.contentHash { kind, name in kind == "Secret" && name == "maybe" ? "h1" : nil }
        #expect(present.hash != absent.hash, "creating the optional Secret rolls the pods")
    }

    @Test func anEmptyTemplateReferencesNothing() {
        let refs = ReferencedObjects(template: PodTemplateSpec(), ownConfigMap: Self.own)
        #expect(refs.isEmpty)
        let hashed = refs.contentHash { _, _ in Issue.record("nothing to look up"); return nil }
        #expect(hashed.hash == "")
        #expect(hashed.missing.isEmpty)
    }

    @Test func missingObjectsAreListed() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        let present: [String: String] = ["Secret/db": "h1", "Secret/redis": "h2", "ConfigMap/extra": "h3"]
        let result = refs.contentHash { kind, name in present["\(kind)/\(name)"] }
        #expect(result.missing == ["Secret bulk", "ConfigMap flags"])
        #expect(result.hash.count == 16)
        #expect(!result.hash.isEmpty, "what exists is still hashed")
        // Nothing exists: no hash, all missing.
        let none = refs.contentHash { _, _ in nil }
        #expect(none.hash == "")
        #expect(none.missing == ["Secret bulk", "Secret db", "Secret redis", "ConfigMap extra", "ConfigMap flags"])
    }

    @Test func theHashFollowsContentHashesOnly() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        let base: [String: String] = ["Secret/db": "h1", "Secret/bulk": "h2", "Secret/redis": "h3", "ConfigMap/flags": "h4",
                                      "ConfigMap/extra": "h5"]
        func hash(_ contents: [String: String]) -> String { refs.contentHash { kind, name in contents["\(kind)/\(name)"] }.hash }

        let first = hash(base)
        #expect(first.count == 16)
        #expect(first.allSatisfy { $0.isHexDigit })
        #expect(hash(base) == first, "stable")
        #expect(ReferencedObjects(template: full, ownConfigMap: Self.own).contentHash { kind, name in base["\(kind)/\(name)"] }.hash == first)
        #expect(refs.contentHash { kind, name in base["\(kind)/\(name)"] }.missing.isEmpty)

        for key in base.keys.sorted() {
            var rotated = base
            rotated[key] = "rotated"
            #expect(hash(rotated) != first, "\(key) changed")
        }
        // Same content hashes under swapped names is a different state.
        var swapped = base
        swapped["Secret/db"] = "h2"
        swapped["Secret/bulk"] = "h1"
        #expect(hash(swapped) != first)
        // An unrelated object's content is not asked for at all.
        let asked = refs.contentHash { kind, name in
            #expect(refs.contains(kind: kind, name: name), "\(kind) \(name) is referenced")
            return base["\(kind)/\(name)"]
        }
        #expect(asked.hash == first)
    }

    @Test func theSameNameAsSecretAndConfigMapHashesDifferently() {
        var a = Container(name: "app")
        a.env = [secretEnv("X", "shared")]
        var b = Container(name: "app")
        b.env = [configMapEnv("X", "shared")]
        let secretHash = ReferencedObjects(template: template([a]), ownConfigMap: Self.own).contentHash { _, _ in "h" }.hash
        let configMapHash = ReferencedObjects(template: template([b]), ownConfigMap: Self.own).contentHash { _, _ in "h" }.hash
        #expect(secretHash != configMapHash)
    }
}

// MARK: - ChildDrift

/// Hand edits that change what runs or where traffic goes are found and reverted whole; what other
/// managers add elsewhere is left alone.
@Suite("ControllerLogic: ChildDrift")
struct ChildDriftLogicTests {
    static let desiredDeployment: JSONValue = ["spec": ["template": ["spec": [
        "containers": [["name": "pynomaly", "image": "app:v1", "env": [["name": "A", "value": "1"]],
                        "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]]]],
        "volumes": [["name": "tmp", "emptyDir": [:]]],
    ]]]]

    func live(_ change: (inout JSONValue) -> Void) -> JSONValue {
        var live = Self.desiredDeployment
        live[path: ["spec", "template", "spec", "containers"]] = [["name": "pynomaly", "image": "app:v1", "imagePullPolicy": "IfNotPresent",
                                                                  "env": [["name": "A", "value": "1"]],
                                                                  "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]]]]
        live[path: ["metadata", "annotations"]] = ["someone.else/note": "kept"]
        change(&live)
        return live
    }

    @Test func aConvergedDeploymentHasNoDrift() {
        #expect(ChildDrift.find(.deployments, live: live { _ in }, desired: Self.desiredDeployment) == nil,
                "server defaults and other managers' annotations are not drift")
    }

    @Test func aPausedDeploymentIsResumed() throws {
        let finding = try #require(ChildDrift.find(.deployments, live: live { $0[path: ["spec", "paused"]] = true }, desired: Self.desiredDeployment))
        #expect(finding.fields == ["spec.paused"])
        #expect(finding.patch == ["spec": ["paused": false]])
    }

    @Test func anInjectedSidecarAnExtraEnvAndAnExtraVolumeAreRemoved() throws {
        let edited = live {
            var containers = $0[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
            containers[0]["env"] = [["name": "A", "value": "1"], ["name": "DEBUG", "value": "true"]]
            containers.append(["name": "sidecar", "image": "proxy:1"])
            $0[path: ["spec", "template", "spec", "containers"]] = .array(containers)
            $0[path: ["spec", "template", "spec", "volumes"]] = [["name": "tmp", "emptyDir": [:]], ["name": "extra", "emptyDir": [:]]]
        }
        let finding = try #require(ChildDrift.find(.deployments, live: edited, desired: Self.desiredDeployment))
        #expect(finding.fields == ["spec.template.spec.containers[pynomaly].env[DEBUG]", "spec.template.spec.containers[sidecar]",
                                   "spec.template.spec.volumes[extra]"])
        #expect(finding.patch[path: ["spec", "template", "spec", "containers"]] == Self.desiredDeployment[path: ["spec", "template", "spec", "containers"]],
                "the list is replaced whole by what the operator builds")
        #expect(finding.patch[path: ["spec", "template", "spec", "volumes"]] == Self.desiredDeployment[path: ["spec", "template", "spec", "volumes"]])
    }

    @Test func anExtraServiceSelectorKeyIsDeleted() throws {
        let live: JSONValue = ["spec": ["selector": ["app": "a", "extra": "x"], "ports": [["port": 80]]]]
        let finding = try #require(ChildDrift.find(.services, live: live, desired: ["spec": ["selector": ["app": "a"]]]))
        #expect(finding.fields == ["spec.selector[extra]"])
        #expect(finding.patch == ["spec": ["selector": ["extra": nil]]])
        #expect(ChildDrift.find(.services, live: ["spec": ["selector": ["app": "a"]]], desired: ["spec": ["selector": ["app": "a"]]]) == nil)
    }

    @Test func otherKindsAreLeftToTheirManagers() {
        #expect(ChildDrift.find(.ingresses, live: ["spec": ["rules": []]], desired: [:]) == nil)
    }
}
