import Foundation
import KubeCore
import KubeTestServer
import OperatorTestSupport
import Synchronization
import XCTest

@testable import KubeRuntime

final class LeaderElectorServerTests: XCTestCase {
    private func elector(_ client: KubeAPIClient, _ id: String, release: Bool = true,
                         lost: Counter? = nil) throws -> LeaderElector {
        // Short timings so the test is quick, with room for a loaded machine.
        let config = LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "rt-lock", identity: id,
                                                 leaseDuration: 2, renewDeadline: 1.5, retryPeriod: 0.1, releaseOnCancel: release)
        return try LeaderElector(client: client, configuration: config,
                             callbacks: .init(onStoppedLeading: { lost?.increment() }))
    }

    private func holder(_ client: KubeAPIClient) async throws -> String? {
        let lease = try await client.get(.leases, namespace: "default", name: "rt-lock")
        return lease[path: ["spec", "holderIdentity"]]?.stringValue
    }

    private func renewTime(_ client: KubeAPIClient) async throws -> String? {
        try await client.get(.leases, namespace: "default", name: "rt-lock")[path: ["spec", "renewTime"]]?.stringValue
    }

    func testExactlyOneLeadsAndTheOtherTakesOverWhenTheLeaderReleases() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let a = try elector(client, "a_1")
        let b = try elector(client, "b_2")
        let runA = Task { await a.run() }
        let runB = Task { await b.run() }
        try await waitUntil("someone leads") { a.isLeader || b.isLeader }
        let (leader, follower, leaderTask, followerTask) = a.isLeader ? (a, b, runA, runB) : (b, a, runB, runA)
        // While the leader renews (its renewTime moves twice), the follower stays a follower.
        let first = try await renewTime(client)
        try await waitUntil("the leader renewed") { try await self.renewTime(client) != first }
        let second = try await renewTime(client)
        try await waitUntil("the leader renewed again") { try await self.renewTime(client) != second }
        XCTAssertTrue(leader.isLeader)
        XCTAssertFalse(follower.isLeader, "exactly one leads")
        let heldBy = try await holder(client)
        XCTAssertEqual(heldBy, leader.identity)
        let renewed = try await renewTime(client)
        let renew = try XCTUnwrap(renewed)
        XCTAssertEqual(renew.split(separator: ".").last?.count, 7, "MicroTime: six digits and Z")

        // Graceful stop: the lease is released, so the follower need not wait for it to expire.
        let stoppedAt = Date()
        leaderTask.cancel()
        let outcome = await leaderTask.value
        XCTAssertEqual(outcome, .stopped)
        XCTAssertFalse(leader.isLeader)
        try await waitUntil("the follower took over") { follower.isLeader }
        XCTAssertLessThan(Date().timeIntervalSince(stoppedAt), 2, "within the lease duration")
        let newHolder = try await holder(client)
        XCTAssertEqual(newHolder, follower.identity)
        let transitions = try await client.get(.leases, namespace: "default", name: "rt-lock")[path: ["spec", "leaseTransitions"]]
        XCTAssertEqual(transitions, 1)
        followerTask.cancel()
        _ = await followerTask.value
        try await server.stop()
    }

    func testAFollowerTakesOverAfterTheLeaderStopsRenewing() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let a = try elector(client, "a_1", release: false)
        let runA = Task { await a.run() }
        try await waitUntil("a leads") { a.isLeader }
        let b = try elector(client, "b_2")
        let runB = Task { await b.run() }
        let bSawLeader = try await holder(client)
        XCTAssertEqual(bSawLeader, "a_1")
        // a dies without releasing: b must wait for the lease to expire (2 s after the last renewal).
        let stoppedAt = Date()
        runA.cancel()
        _ = await runA.value
        let stillHeld = try await holder(client)
        XCTAssertEqual(stillHeld, "a_1", "not released")
        try await waitUntil("b took over the expired lease", timeout: 10) { b.isLeader }
        let waited = Date().timeIntervalSince(stoppedAt)
        XCTAssertGreaterThan(waited, 1.8, "not before the lease expired")
        XCTAssertLessThan(waited, 5)
        runB.cancel()
        _ = await runB.value
        try await server.stop()
    }

    func testExpiryFollowsTheInjectedClock() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let clock = ManualClock()
        func make(_ id: String) throws -> LeaderElector {
            // The defaults: 15 s lease, 10 s renew deadline, 2 s retry; no jitter.
            try LeaderElector(client: client, configuration: LeaderElectionConfiguration(
                leaseNamespace: "default", leaseName: "clocked", identity: id, releaseOnCancel: false), clock: clock, random: { 0 })
        }
        let a = try make("a_1")
        let runA = Task { await a.run() }
        try await waitUntil("a leads and sleeps until its renewal") { a.isLeader && clock.sleeperCount == 1 }
        let b = try make("b_2")
        let runB = Task { await b.run() }
        try await waitUntil("b tried and sleeps too") { clock.sleeperCount == 2 }
        XCTAssertFalse(b.isLeader)
        // a stops renewing (no release); its renewTime stays at t = 0.
        runA.cancel()
        _ = await runA.value
        var advanced = 0.0
        while !b.isLeader, advanced < 30 {
            try await waitUntil("b sleeps between attempts") { clock.sleeperCount == 1 }
            clock.advance(by: 2)
            advanced += 2
            try await waitUntil("b's attempt at t = \(advanced) finished") { clock.sleeperCount == 1 }
        }
        XCTAssertTrue(b.isLeader)
        XCTAssertEqual(advanced, 16, "the first attempt after renewTime + 15 s takes over, none before")
        let lease = try await client.get(.leases, namespace: "default", name: "clocked")
        XCTAssertEqual(lease[path: ["spec", "renewTime"]]?.stringValue, KubeTime.format(clock.wallTime, fractionalDigits: 6))
        XCTAssertEqual(lease[path: ["spec", "leaseTransitions"]], 1)
        runB.cancel()
        _ = await runB.value
        try await server.stop()
    }

    func testImpossibleTimingsAreRefusedNamingTheField() throws {
        let config = LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "x", identity: "a",
                                                 leaseDuration: 15, renewDeadline: 20, retryPeriod: 2)
        XCTAssertThrowsError(try LeaderElector(client: KubeAPIClient(transport: NoTransport()), configuration: config)) { error in
            XCTAssertTrue(String(describing: error).contains("renewDeadline (20.0 s)"), String(describing: error))
        }
        XCTAssertEqual(LeaderElectionConfiguration(leaseNamespace: "default", leaseName: "x", identity: "a").problems, [],
                       "the defaults (15 s / 10 s / 2 s) are consistent")
    }

    func testALeaderWhoseLeaseIsTakenStopsAtOnce() async throws {
        let server = try await KubeTestServer.start()
        let client = KubeAPIClient(transport: server.transport)
        let lost = Counter()
        let a = try elector(client, "a_1", lost: lost)
        let changes = a.leadershipChanges()
        let runA = Task { await a.run() }
        try await waitUntil("a leads") { a.isLeader }
        // Someone else writes the lease with a valid renewal of their own.
        try await waitUntil("the lease was taken") {
            var lease = try await client.get(.leases, namespace: "default", name: "rt-lock")
            lease[path: ["spec", "holderIdentity"]] = "thief_9"
            lease[path: ["spec", "leaseDurationSeconds"]] = 30
            lease[path: ["spec", "renewTime"]] = .string(KubeTime.format(Date(), fractionalDigits: 6))
            do {
                _ = try await client.update(.leases, namespace: "default", name: "rt-lock", object: lease)
                return true
            } catch let error as KubeError where error.isConflict {
                return false  // a renewed in between: read again
            }
        }
        let outcome = await runA.value
        XCTAssertEqual(outcome, .lostLeadership)
        XCTAssertFalse(a.isLeader)
        XCTAssertEqual(lost.value, 1)
        var seen: [Bool] = []
        for await change in changes { seen.append(change) }
        XCTAssertEqual(seen, [true, false])
        let holderNow = try await holder(client)
        XCTAssertEqual(holderNow, "thief_9", "a loser does not write the lease back")
        try await server.stop()
    }
}

/// A transport for tests that must not reach a server.
struct NoTransport: KubeTransport {
    func send(_ request: KubeRequest) async throws -> KubeResponse {
        throw KubeError.transport(TransportError(kind: .connect, detail: "no server in this test"))
    }
    func stream(_ request: KubeRequest) async throws -> KubeStreamResponse {
        throw KubeError.transport(TransportError(kind: .connect, detail: "no server in this test"))
    }
}
