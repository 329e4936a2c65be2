#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// `spec.ingress.tls` in the status: from what the TLS Secret held (`CertificateRead`), the time
/// and the Ingress hosts, `status.tls`, the `CertificateReady` condition, the Warning Event to give
/// (once per Secret version and verdict) and when time alone changes the answer. Pure: the pass
/// (Controllers/CertificatePass.swift) reads the Secret and writes what this says.
public enum CertificateStatus {
    /// Three weeks' warning is what a renewal that failed once needs to be noticed and fixed;
    /// cert-manager renews at a third of the lifetime left (30 days of a 90-day certificate), so a
    /// working renewal never reaches 14.
    public static let defaultWarnDays: Int32 = 14
    /// At most a year: a certificate's lifetime is 398 days at most (CA/Browser Forum).
    public static let warnDaysRange: ClosedRange<Int32> = 1...365
    /// Where cert-manager's Certificate kind lives.
    public static let certManagerGroupVersion = "cert-manager.io/v1"
    public static let certManagerCertificateType = ResourceType(group: "cert-manager.io", version: "v1", resource: "certificates",
                                                                kind: "Certificate", namespaced: true)

    /// The Ready condition of the cert-manager Certificate that issues the Secret.
    public struct IssuerReadiness: Sendable, Hashable {
        public var name: String
        /// "True", "False", "Unknown", or nil when the Certificate reports no Ready condition yet.
        public var status: String?
        public var reason: String?
        public var message: String?

        public init(name: String, status: String?, reason: String?, message: String?) {
            self.name = name
            self.status = status
            self.reason = reason
            self.message = message
        }

        /// cert-manager's Ready condition of a Certificate object, when the Certificate issues
        /// `secretName` (cert-manager's ingress-shim names it after the Secret; one made by hand may
        /// be named otherwise and is then not found).
        public static func of(_ certificate: JSONValue, secretName: String) -> IssuerReadiness? {
            guard certificate[path: ["spec", "secretName"]]?.stringValue == secretName,
                  let name = certificate[path: ["metadata", "name"]]?.stringValue else { return nil }
            let ready = certificate[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
            return IssuerReadiness(name: name, status: ready?["status"]?.stringValue, reason: ready?["reason"]?.stringValue,
                                   message: ready?["message"]?.stringValue)
        }

        var summary: String {
            let state = status.map { "Ready=\($0)" + (reason.map { " (\($0))" } ?? "") } ?? "no Ready condition yet"
            let detail = message.map { ": " + CertificateInspection.printable($0) } ?? ""
            return "cert-manager Certificate \(CertificateInspection.printable(name)) \(state)\(detail)"
        }
    }

    /// What the pass writes and announces.
    public struct Outcome: Sendable, Hashable {
        public var verdict: CertificateVerdict
        public var tls: PynomalyDeploymentStatus.TLS
        public var condition: Condition
        /// A Warning Event to record; nil when this Secret version's verdict was announced already.
        public var event: PlannedEvent?
        /// When time alone next changes the verdict or `daysLeft`; nil when only a change of the
        /// Secret can (no certificate, or one that cannot be read).
        public var recheckAt: Date?
    }

    /// The hosts the certificate must cover: the Ingress host and, for blue-green with a preview
    /// host, that one too (the Ingress serves both under the same Secret).
    public static func hosts(_ spec: ResolvedSpec) -> [String] {
        guard let host = spec.ingress?.host else { return [] }
        var hosts = [host]
        if spec.strategy.type == .blueGreen, let preview = spec.strategy.blueGreen?.previewHost { hosts.append(preview) }
        return hosts
    }

    /// Judges `read` (from Secret `secretName` at `secretVersion`; nil: no such Secret) and compares
    /// with the `previous` status to decide whether to announce it. A verdict other than `Valid` is
    /// announced when its reason or the Secret version differs from what the status already says,
    /// so a verdict is told once per Secret version, and a restarted operator does not tell it again.
    public static func outcome(read: CertificateRead, secretName: String, secretVersion: String?, hosts: [String], warnDays: Int32,
                               issuer: IssuerReadiness?, previous: PynomalyDeploymentStatus?, generation: Int64, now: Date) -> Outcome {
        let verdict = CertificateInspection.evaluate(read, now: now, hosts: hosts, warnDays: Int64(warnDays))
        var message = "Secret \(secretName): \(verdict.message)"
        if let issuer { message += "; \(issuer.summary)" }
        let condition = Condition(type: ConditionType.certificateReady, status: verdict.status, observedGeneration: generation,
                                  reason: verdict.reason.rawValue, message: message)
        let tls = PynomalyDeploymentStatus.TLS(
            secretName: secretName, notBefore: verdict.certificate.map { KubeTime.format($0.notBefore) },
            notAfter: verdict.certificate.map { KubeTime.format($0.notAfter) }, daysLeft: verdict.daysLeft,
            hostsCovered: verdict.certificate == nil ? nil : verdict.hostsCovered, secretResourceVersion: secretVersion)
        var event: PlannedEvent?
        if verdict.reason != .valid {
            let before = previous?.conditions?.first(type: ConditionType.certificateReady)
            let sameSecret = previous?.tls?.secretName == secretName && previous?.tls?.secretResourceVersion == secretVersion
            if before?.reason != verdict.reason.rawValue || !sameSecret {
                event = PlannedEvent(.warning, "Certificate\(verdict.reason.rawValue)", message)
            }
        }
        return Outcome(verdict: verdict, tls: tls, condition: condition, event: event, recheckAt: nextChange(read, now: now))
    }

    /// The first moment after `now` when the verdict on `read` or its whole days left change: the
    /// start of validity, else the next day boundary counted back from `notAfter` (which is also
    /// where the warning window begins and where the certificate expires).
    public static func nextChange(_ read: CertificateRead, now: Date) -> Date? {
        guard case .certificate(let summary) = read else { return nil }
        if now < summary.notBefore { return summary.notBefore }
        let daysLeft = (summary.notAfter.timeIntervalSince(now) / 86_400).rounded(.down)
        // daysLeft decreases once now passes notAfter − daysLeft days; one second later it has.
        return summary.notAfter.addingTimeInterval(-daysLeft * 86_400 + 1)
    }

    /// The status without `spec.ingress.tls`: no `status.tls`, no `CertificateReady`.
    public static func clear(_ status: inout PynomalyDeploymentStatus) {
        status.tls = nil
        var conditions = status.conditions ?? []
        if conditions.remove(type: ConditionType.certificateReady) { status.conditions = conditions.isEmpty ? nil : conditions }
    }
}
