import Synchronization

/// Named checks behind `/healthz` (liveness) and `/readyz` (readiness), answered in
/// controller-runtime's style: 200 `ok` when all pass; otherwise 500 listing every check as
/// `[+]name ok` / `[-]name failed` and a last line `<endpoint> check failed`.
public final class HealthChecks: Sendable {
    /// A check: true when healthy / ready. Called on the probe server's threads, so it must be
    /// quick and must not block (read a flag such as `Informer.hasSynced`).
    public typealias Check = @Sendable () -> Bool

    private let readiness = Mutex<[(name: String, check: Check)]>([])
    private let liveness = Mutex<[(name: String, check: Check)]>([(name: "ping", check: { true })])

    public init() {}

    /// Adds a check `/readyz` requires (e.g. `informers`: every informer synced).
    public func addReadinessCheck(_ name: String, _ check: @escaping Check) {
        readiness.withLock { $0.append((name, check)) }
    }

    /// Adds a check `/healthz` requires (`ping`, always passing while the process serves, is built in).
    public func addLivenessCheck(_ name: String, _ check: @escaping Check) {
        liveness.withLock { $0.append((name, check)) }
    }

    /// Ready when every informer has synced (the usual readiness of a controller manager).
    public func addInformersSyncedCheck(_ informers: [Informer], name: String = "informers") {
        addReadinessCheck(name) { informers.allSatisfy(\.hasSynced) }
    }

    /// The `/readyz` answer: status and body.
    public func readyz() -> (status: Int, body: String) {
        Self.evaluate(readiness.withLock { $0 }, endpoint: "readyz")
    }

    /// The `/healthz` answer: status and body.
    public func healthz() -> (status: Int, body: String) {
        Self.evaluate(liveness.withLock { $0 }, endpoint: "healthz")
    }

    private static func evaluate(_ checks: [(name: String, check: Check)], endpoint: String) -> (status: Int, body: String) {
        let results = checks.map { (name: $0.name, ok: $0.check()) }
        if results.allSatisfy(\.ok) { return (200, "ok") }
        var body = ""
        for r in results { body += r.ok ? "[+]\(r.name) ok\n" : "[-]\(r.name) failed: reason withheld\n" }
        body += "\(endpoint) check failed"
        return (500, body)
    }
}
