#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime
import Synchronization

/// What each TLS Secret's certificate said, by the Secret version it was read from: its validity
/// and names (`CertificateRead`), never its bytes or key. The Secrets informer keeps metadata only,
/// so a new version costs one GET whose answer is reduced at once; every other pass reads from here.
/// Also cert-manager's view of the Certificate that issues it, kept `issuerTTL` seconds.
public final class CertificateReads: Sendable {
    struct Entry: Sendable {
        var uid: String
        var resourceVersion: String
        var read: CertificateRead
    }

    struct Issuer: Sendable {
        var readiness: CertificateStatus.IssuerReadiness?
        var at: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let issuers = Mutex<[String: Issuer]>([:])
    /// Per CR, the verdict last announced with an Event (Secret, version, reason). The status says
    /// the same once written, but a pass may not write its status (it waits for the Deployment
    /// controller's answer, or loses a 409): the next pass must not announce again.
    private let announced = Mutex<[ObjectKey: String]>([:])
    /// How long cert-manager's Ready condition is taken as known: it changes without the Secret
    /// changing (an issuance that fails), and has no informer (the kind may not exist).
    public static let issuerTTL: Double = 300

    public init() {}

    static func key(namespace: String, name: String) -> String { "\(namespace)/\(name)" }

    func read(namespace: String, name: String, uid: String, resourceVersion: String) -> CertificateRead? {
        entries.withLock { entries in
            guard let entry = entries[Self.key(namespace: namespace, name: name)], entry.uid == uid,
                  entry.resourceVersion == resourceVersion else { return nil }
            return entry.read
        }
    }

    func store(namespace: String, name: String, uid: String, resourceVersion: String, read: CertificateRead) {
        entries.withLock { $0[Self.key(namespace: namespace, name: name)] = Entry(uid: uid, resourceVersion: resourceVersion, read: read) }
    }

    func forget(namespace: String, name: String) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(namespace: namespace, name: name)) }
    }

    func issuer(namespace: String, name: String, now: Date) -> CertificateStatus.IssuerReadiness?? {
        issuers.withLock { issuers in
            guard let held = issuers[Self.key(namespace: namespace, name: name)], now.timeIntervalSince(held.at) < Self.issuerTTL else { return nil }
            return .some(held.readiness)
        }
    }

    func storeIssuer(namespace: String, name: String, readiness: CertificateStatus.IssuerReadiness?, now: Date) {
        issuers.withLock { $0[Self.key(namespace: namespace, name: name)] = Issuer(readiness: readiness, at: now) }
    }

    /// Notes the verdict a CR's pass judged (`token`; nil when there is nothing to announce) and
    /// answers whether it differs from the one noted before, so is to be announced.
    func noteAnnouncement(_ cr: ObjectKey, token: String?) -> Bool {
        announced.withLock { announced in
            let fresh = token != nil && announced[cr] != token
            announced[cr] = token
            return fresh
        }
    }

    /// Forgets what was announced for a CR that is gone or no longer has TLS.
    func forgetAnnouncements(_ cr: ObjectKey) {
        _ = announced.withLock { $0.removeValue(forKey: cr) }
    }

    /// Certificates held (for tests and the memory figures).
    public var count: Int { entries.withLock { $0.count } }
}

/// `spec.ingress.tls`: reads the TLS Secret's certificate (one GET per Secret version), judges it
/// (`CertificateStatus`, pure) and puts `status.tls` and `CertificateReady` into the pass's status.
/// A missing or unreadable certificate only changes the condition: nothing is deleted or rewritten.
extension PynomalyDeploymentReconciler {
    /// Answers when time alone changes the verdict (the next day boundary, validity start), or nil.
    func reconcileCertificate(_ ctx: BuildContext, status: inout PynomalyDeploymentStatus, now: Date, writer: ChildWriter) async throws -> Date? {
        let crKey = ObjectKey(namespace: ctx.namespace, name: ctx.name)
        guard let ingress = ctx.spec.ingress, ingress.host != nil, let tls = ingress.tls else {
            caches.certificates.forgetAnnouncements(crKey)
            CertificateStatus.clear(&status)
            return nil
        }
        let namespace = ctx.namespace
        let secretName = tls.secretName
        var version: String?
        let read: CertificateRead
        if let meta = caches.secrets.store.get(namespace: namespace, name: secretName) {
            let uid = meta[path: ["metadata", "uid"]]?.stringValue ?? ""
            let cachedVersion = meta[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
            version = cachedVersion
            if let held = caches.certificates.read(namespace: namespace, name: secretName, uid: uid, resourceVersion: cachedVersion) {
                read = held
            } else {
                do {
                    (read, version) = try await readCertificate(namespace: namespace, name: secretName, uid: uid, version: cachedVersion)
                } catch {
                    // The certificate is reported, never acted on: a read that fails (RBAC, the API
                    // server) keeps what the status says and holds up nothing else of the pass.
                    logger.warning("cannot read the TLS Secret; CertificateReady is left as it was",
                                   metadata: ["secret": .string(secretName), "error": "\(error)"])
                    return now.addingTimeInterval(Self.certificateReadRetry)
                }
            }
        } else {
            caches.certificates.forget(namespace: namespace, name: secretName)
            read = .missing
        }
        let issuer = await issuerReadiness(namespace: namespace, secretName: secretName, now: now)
        let outcome = CertificateStatus.outcome(
            read: read, secretName: secretName, secretVersion: version, hosts: CertificateStatus.hosts(ctx.spec),
            warnDays: tls.warnDays ?? CertificateStatus.defaultWarnDays, issuer: issuer, previous: ctx.cr.status,
            generation: ctx.cr.metadata.generation ?? 0, now: now)
        var conditions = status.conditions ?? []
        conditions.set(outcome.condition, now: now)
        status.conditions = conditions
        status.tls = outcome.tls
        // Announced when the status has not recorded this verdict yet and no earlier pass of this
        // operator announced it (its status write may be pending).
        let token = outcome.event.map { _ in "\(secretName)|\(version ?? "")|\(outcome.verdict.reason.rawValue)" }
        if caches.certificates.noteAnnouncement(crKey, token: token), let event = outcome.event { writer.record(event) }
        // cert-manager's view is looked at again when its TTL ends.
        let issuerRecheck = issuer == nil ? nil : now.addingTimeInterval(CertificateReads.issuerTTL)
        return [outcome.recheckAt, issuerRecheck].compactMap { $0 }.min()
    }

    /// How long a pass whose read of the TLS Secret failed waits before reading it again.
    static let certificateReadRetry = 30.0

    /// One GET of the Secret, reduced at once to what the verdict needs; answers the version read.
    private func readCertificate(namespace: String, name: String, uid: String, version: String) async throws -> (CertificateRead, String?) {
        let secret: JSONValue
        do {
            secret = try await client.get(.secrets, namespace: namespace, name: name, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            caches.certificates.forget(namespace: namespace, name: name)
            return (.missing, nil)
        }
        let read = CertificateInspection.read(secret: secret)
        let readVersion = secret[path: ["metadata", "resourceVersion"]]?.stringValue ?? version
        caches.certificates.store(namespace: namespace, name: name, uid: secret[path: ["metadata", "uid"]]?.stringValue ?? uid,
                                  resourceVersion: readVersion, read: read)
        return (read, readVersion)
    }

    /// cert-manager's Ready condition of the Certificate named after the Secret, where cert-manager's
    /// kind is served; nil otherwise. Only shown, never acted on, so a failed read shows nothing.
    private func issuerReadiness(namespace: String, secretName: String, now: Date) async -> CertificateStatus.IssuerReadiness? {
        guard let discovery,
              let served = try? await discovery.servedResources(groupVersion: CertificateStatus.certManagerGroupVersion, now: now),
              served.contains(CertificateStatus.certManagerCertificateType.resource) else { return nil }
        if let held = caches.certificates.issuer(namespace: namespace, name: secretName, now: now) { return held }
        var readiness: CertificateStatus.IssuerReadiness?
        do {
            let certificate = try await client.get(CertificateStatus.certManagerCertificateType, namespace: namespace, name: secretName, subresource: nil)
            readiness = CertificateStatus.IssuerReadiness.of(certificate, secretName: secretName)
        } catch {
            logger.debug("cert-manager Certificate not read", metadata: ["certificate": .string(secretName), "error": "\(error)"])
        }
        caches.certificates.storeIssuer(namespace: namespace, name: secretName, readiness: readiness, now: now)
        return readiness
    }
}
