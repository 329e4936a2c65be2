import Synchronization

/// Named checks behind `/healthz` (liveness) and `/readyz` (readiness), answered as kube-apiserver
/// and controller-runtime answer: 200 `ok` when all pass; with `?verbose`, every check as
/// `[+]name ok` and a last line `<endpoint> check passed`; when any fails, 500 listing every check
/// (`[-]name failed: reason withheld` for the failing ones) and `<endpoint> check failed`.
public final class HealthChecks: Sendable {
    /// A check: true when healthy / ready. Called on the probe server's threads, so it must be
    /// quick and must not block (read a flag such as `Informer.hasSynced`).
    public typealias Check = @Sendable () -> Bool

    private let readiness = Mutex<[(name: String, check: Check)]>([])
    private let liveness = Mutex<[(name: String, check: Check)]>([(name: "ping", check: { true })])

    public init() {}

    /// Adds a check `/readyz` requires (e.g. `informer-deployments.apps`: that informer synced).
    public func addReadinessCheck(_ name: String, _ check: @escaping Check) {
        readiness.withLock { $0.append((name, check)) }
    }

    /// Adds a check `/healthz` requires (`ping`, always passing while the process serves, is built in).
    public func addLivenessCheck(_ name: String, _ check: @escaping Check) {
        liveness.withLock { $0.append((name, check)) }
    }

    /// One readiness check per informer, `informer-RESOURCE.GROUP` (a second informer of the same
    /// resource gets `-2`, …), passing once it synced — or, for a kind the process can do without
    /// (`InformerOptions.kindMayBeAbsent`), while the API server answers that it does not serve it.
    /// One check each, so `/readyz?verbose` names the informer that holds readiness back.
    public func addInformersSyncedCheck(_ informers: [Informer]) {
        readiness.withLock { checks in
            var taken = Set(checks.map { $0.name })
            for informer in informers {
                let base = "informer-\(informer.resource.groupResource)"
                var name = base
                var n = 1
                while taken.contains(name) {
                    n += 1
                    name = "\(base)-\(n)"
                }
                taken.insert(name)
                checks.append((name, { informer.countsAsReady }))
            }
        }
    }

    /// The names of the readiness checks, in order.
    public var readinessCheckNames: [String] { readiness.withLock { $0.map { $0.name } } }

    /// The `/readyz` answer: status and body (`verbose`: list every check even when all pass).
    public func readyz(verbose: Bool = false) -> (status: Int, body: String) {
        Self.evaluate(readiness.withLock { $0 }, endpoint: "readyz", verbose: verbose)
    }

    /// The `/healthz` answer: status and body.
    public func healthz(verbose: Bool = false) -> (status: Int, body: String) {
        Self.evaluate(liveness.withLock { $0 }, endpoint: "healthz", verbose: verbose)
    }

    private static func evaluate(_ checks: [(name: String, check: Check)], endpoint: String, verbose: Bool) -> (status: Int, body: String) {
        let results = checks.map { (name: $0.name, ok: $0.check()) }
        let failed = !results.allSatisfy(\.ok)
        if !failed && !verbose { return (200, "ok") }
        var body = ""
        for r in results { body += r.ok ? "[+]\(r.name) ok\n" : "[-]\(r.name) failed: reason withheld\n" }
        if failed { return (500, body + "\(endpoint) check failed\n") }
        return (200, body + "\(endpoint) check passed\n")
    }
}
