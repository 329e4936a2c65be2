import Foundation
import KubeCore
import XCTest

@testable import KubeRuntime

final class LeaderElectionStateMachineTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_900_000_000.25)

    private func config(_ identity: String) -> LeaderElectionConfiguration {
        LeaderElectionConfiguration(leaseNamespace: "ops", leaseName: "lock", identity: identity,
                                    leaseDuration: 15, renewDeadline: 10, retryPeriod: 2)
    }

    private func lease(holder: String?, renew: Date?, duration: Int = 15, transitions: Int = 0, rv: String = "7") -> JSONValue {
        var spec: JSONValue = ["leaseDurationSeconds": .int(Int64(duration)), "leaseTransitions": .int(Int64(transitions)),
                               "acquireTime": "2030-01-02T03:04:05.000001Z"]
        if let holder { spec["holderIdentity"] = .string(holder) }
        if let renew { spec["renewTime"] = .string(KubeTime.format(renew, fractionalDigits: 6)) }
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": "lock", "namespace": "ops", "resourceVersion": .string(rv)], "spec": spec]
    }

    func testCreatesAMissingLeaseWithMicroTimesAndLeadsOnceWritten() throws {
        var m = LeaderElectionStateMachine(configuration: config("a_1"))
        let (decision, transitions) = m.decide(lease: nil, wallNow: t0)
        XCTAssertEqual(transitions, [])
        guard case .create(let object) = decision else { return XCTFail("expected a create, got \(decision)") }
        XCTAssertEqual(object[path: ["metadata", "name"]], "lock")
        XCTAssertEqual(object[path: ["metadata", "namespace"]], "ops")
        XCTAssertEqual(object[path: ["spec", "holderIdentity"]], "a_1")
        XCTAssertEqual(object[path: ["spec", "leaseDurationSeconds"]], 15)
        XCTAssertEqual(object[path: ["spec", "leaseTransitions"]], 0)
        // MicroTime: exactly six fractional digits, UTC.
        let renew = try XCTUnwrap(object[path: ["spec", "renewTime"]]?.stringValue)
        XCTAssertEqual(renew, "2030-03-17T17:46:40.250000Z")
        XCTAssertEqual(object[path: ["spec", "acquireTime"]]?.stringValue, renew)
        XCTAssertFalse(m.isLeader, "not before the write succeeded")
        XCTAssertEqual(m.writeSucceeded(object, now: 0), [.startedLeading])
        XCTAssertTrue(m.isLeader)
    }

    func testWaitsWhileAnotherHolderIsValid() {
        var m = LeaderElectionStateMachine(configuration: config("b_2"))
        let (decision, transitions) = m.decide(lease: lease(holder: "a_1", renew: t0), wallNow: t0.addingTimeInterval(14))
        XCTAssertEqual(decision, .wait(holder: "a_1"))
        XCTAssertEqual(transitions, [.newLeader("a_1")])
        XCTAssertFalse(m.isLeader)
        // The same holder again is not news.
        XCTAssertEqual(m.decide(lease: lease(holder: "a_1", renew: t0), wallNow: t0.addingTimeInterval(1)).transitions, [])
    }

    func testTakesOverAnExpiredLeaseCountingTheTransition() {
        var m = LeaderElectionStateMachine(configuration: config("b_2"))
        let now = t0.addingTimeInterval(15.5)
        let (decision, _) = m.decide(lease: lease(holder: "a_1", renew: t0, transitions: 3, rv: "41"), wallNow: now)
        guard case .update(let object) = decision else { return XCTFail("expected an update, got \(decision)") }
        XCTAssertEqual(object[path: ["spec", "holderIdentity"]], "b_2")
        XCTAssertEqual(object[path: ["spec", "leaseTransitions"]], 4)
        XCTAssertEqual(object[path: ["spec", "acquireTime"]]?.stringValue, KubeTime.format(now, fractionalDigits: 6))
        XCTAssertEqual(object[path: ["spec", "renewTime"]]?.stringValue, KubeTime.format(now, fractionalDigits: 6))
        XCTAssertEqual(object[path: ["metadata", "resourceVersion"]], "41", "the write is conditional on what was read")
    }

    func testTakesOverAReleasedLease() {
        var m = LeaderElectionStateMachine(configuration: config("b_2"))
        let (decision, _) = m.decide(lease: lease(holder: "", renew: t0, duration: 1), wallNow: t0)
        guard case .update(let object) = decision else { return XCTFail("expected an update, got \(decision)") }
        XCTAssertEqual(object[path: ["spec", "holderIdentity"]], "b_2")
        XCTAssertEqual(object[path: ["spec", "leaseDurationSeconds"]], 15)
    }

    func testRenewKeepsAcquireTimeAndTransitions() {
        var m = LeaderElectionStateMachine(configuration: config("a_1"))
        let mine = lease(holder: "a_1", renew: t0, transitions: 2)
        _ = m.writeSucceeded(mine, now: 0)
        let (decision, transitions) = m.decide(lease: mine, wallNow: t0.addingTimeInterval(2))
        XCTAssertEqual(transitions, [])
        guard case .update(let object) = decision else { return XCTFail("expected an update, got \(decision)") }
        XCTAssertEqual(object[path: ["spec", "acquireTime"]], "2030-01-02T03:04:05.000001Z")
        XCTAssertEqual(object[path: ["spec", "leaseTransitions"]], 2)
        XCTAssertEqual(object[path: ["spec", "renewTime"]]?.stringValue, KubeTime.format(t0.addingTimeInterval(2), fractionalDigits: 6))
        XCTAssertEqual(m.writeSucceeded(object, now: 2), [], "renewing is not news")
    }

    func testALeaderThatSeesAnotherValidHolderStopsAtOnce() {
        var m = LeaderElectionStateMachine(configuration: config("a_1"))
        _ = m.writeSucceeded(lease(holder: "a_1", renew: t0), now: 0)
        let (decision, transitions) = m.decide(lease: lease(holder: "thief_9", renew: t0.addingTimeInterval(1)), wallNow: t0.addingTimeInterval(1))
        XCTAssertEqual(decision, .wait(holder: "thief_9"))
        XCTAssertEqual(transitions, [.newLeader("thief_9"), .stoppedLeading])
        XCTAssertFalse(m.isLeader)
    }

    func testFailedRenewalsStopLeadershipAtTheRenewDeadline() {
        var m = LeaderElectionStateMachine(configuration: config("a_1"))
        _ = m.writeSucceeded(lease(holder: "a_1", renew: t0), now: 100)
        XCTAssertEqual(m.attemptFailed(now: 102), [], "a 409 or a 500 is retried")
        XCTAssertEqual(m.attemptFailed(now: 109.9), [])
        XCTAssertTrue(m.isLeader)
        XCTAssertEqual(m.attemptFailed(now: 110), [.stoppedLeading])
        XCTAssertFalse(m.isLeader)
        XCTAssertEqual(m.attemptFailed(now: 120), [], "reported once")
    }

    func testReleaseClearsTheHolderAsClientGoDoes() {
        var m = LeaderElectionStateMachine(configuration: config("a_1"))
        _ = m.writeSucceeded(lease(holder: "a_1", renew: t0, transitions: 5, rv: "90"), now: 0)
        let (released, transitions) = m.release(wallNow: t0.addingTimeInterval(3))
        XCTAssertEqual(transitions, [.stoppedLeading])
        XCTAssertEqual(released?[path: ["spec", "holderIdentity"]], "")
        XCTAssertEqual(released?[path: ["spec", "leaseDurationSeconds"]], 1)
        XCTAssertEqual(released?[path: ["spec", "leaseTransitions"]], 5)
        XCTAssertEqual(released?[path: ["metadata", "resourceVersion"]], "90")
        XCTAssertEqual(m.role, .stopped)
        var follower = LeaderElectionStateMachine(configuration: config("b_2"))
        XCTAssertNil(follower.release(wallNow: t0).lease, "a follower has nothing to release")
    }

    func testDefaultIdentityUsesThePodNameAndARandomSuffix() {
        let a = LeaderElectionConfiguration.defaultIdentity(environment: ["POD_NAME": "op-7f9c"])
        let b = LeaderElectionConfiguration.defaultIdentity(environment: ["POD_NAME": "op-7f9c"])
        XCTAssertTrue(a.hasPrefix("op-7f9c_"))
        XCTAssertEqual(a.count, "op-7f9c_".count + 8)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(LeaderElectionConfiguration.defaultIdentity(environment: [:]).hasPrefix(ProcessInfo.processInfo.hostName + "_"))
    }
}
