import Foundation
import KubeCore
import Testing

@testable import PynomalyOperator

/// `CertificateStatus` without a cluster: the status, the condition, when a Warning is given, and
/// when time alone changes the answer.
@Suite struct CertificateStatusLogicTests {
    static let now = CertificateInspectionTests.now
    static let day = CertificateInspectionTests.day

    static func summary(notAfter: TimeInterval, notBefore: TimeInterval = -30 * day, dnsNames: [String] = ["pynomaly.example"]) -> CertificateRead {
        .certificate(CertificateSummary(notBefore: now.addingTimeInterval(notBefore), notAfter: now.addingTimeInterval(notAfter),
                                        commonName: nil, dnsNames: dnsNames))
    }

    static func outcome(_ read: CertificateRead, version: String? = "7", warnDays: Int32 = 14, issuer: CertificateStatus.IssuerReadiness? = nil,
                        previous: PynomalyDeploymentStatus? = nil, at now: Date = now) -> CertificateStatus.Outcome {
        CertificateStatus.outcome(read: read, secretName: "pynomaly-tls", secretVersion: version, hosts: ["pynomaly.example"], warnDays: warnDays,
                                  issuer: issuer, previous: previous, generation: 3, now: now)
    }

    /// The status a pass wrote from `outcome`.
    static func written(_ outcome: CertificateStatus.Outcome) -> PynomalyDeploymentStatus {
        var status = PynomalyDeploymentStatus()
        status.tls = outcome.tls
        status.conditions = [outcome.condition]
        return status
    }

    @Test func aValidCertificateFillsTheStatusAndAnnouncesNothing() {
        let outcome = Self.outcome(Self.summary(notAfter: 60 * Self.day))
        #expect(outcome.tls == PynomalyDeploymentStatus.TLS(secretName: "pynomaly-tls", notBefore: "2025-12-02T12:00:00Z", notAfter: "2026-03-02T12:00:00Z",
                                                             daysLeft: 60, hostsCovered: ["pynomaly.example"], secretResourceVersion: "7"))
        #expect(outcome.condition.type == ConditionType.certificateReady && outcome.condition.status == "True" && outcome.condition.reason == "Valid")
        #expect(outcome.condition.observedGeneration == 3)
        #expect(outcome.condition.message == "Secret pynomaly-tls: the certificate is valid until 2026-03-02T12:00:00Z (60 days)")
        #expect(outcome.event == nil)
    }

    @Test func aWarningIsGivenOncePerSecretVersionAndVerdict() throws {
        let soon = Self.summary(notAfter: 3 * Self.day + 3600)
        let first = Self.outcome(soon)
        let event = try #require(first.event)
        #expect(event.type == .warning && event.reason == "CertificateExpiringSoon")
        #expect(event.message.contains("in 3 days (fewer than 14)"), "\(event.message)")
        #expect(first.condition.status == "True" && first.condition.reason == "ExpiringSoon")
        // The next pass, and the next day, see the same version and verdict: no Event.
        #expect(Self.outcome(soon, previous: Self.written(first)).event == nil)
        #expect(Self.outcome(soon, previous: Self.written(first), at: Self.now.addingTimeInterval(Self.day)).event == nil)
        // A new version of the Secret that is still expiring is announced again.
        #expect(Self.outcome(soon, version: "8", previous: Self.written(first)).event?.reason == "CertificateExpiringSoon")
        // Expiry is a new verdict for the same version.
        let expired = Self.outcome(soon, previous: Self.written(first), at: Self.now.addingTimeInterval(4 * Self.day))
        #expect(expired.condition.status == "False" && expired.event?.reason == "CertificateExpired")
    }

    @Test func eachProblemIsAFalseConditionNamedAfterTheVerdict() {
        let cases: [(CertificateRead, String)] = [
            (.missing, "Missing"),
            (.malformed("tls.crt in the Secret is not valid base64"), "Malformed"),
            (Self.summary(notAfter: -2 * Self.day), "Expired"),
            (Self.summary(notAfter: 60 * Self.day, notBefore: Self.day), "NotYetValid"),
            (Self.summary(notAfter: 60 * Self.day, dnsNames: ["other.example"]), "HostNotCovered"),
        ]
        for (read, reason) in cases {
            let outcome = Self.outcome(read, version: read == .missing ? nil : "7")
            #expect(outcome.condition.status == "False" && outcome.condition.reason == reason, "\(reason)")
            #expect(outcome.event?.reason == "Certificate\(reason)", "\(reason)")
            #expect(outcome.condition.message?.hasPrefix("Secret pynomaly-tls: ") == true)
        }
        let missing = Self.outcome(.missing, version: nil)
        #expect(missing.tls == PynomalyDeploymentStatus.TLS(secretName: "pynomaly-tls"))
        // Still missing on the next pass: told once.
        #expect(Self.outcome(.missing, version: nil, previous: Self.written(missing)).event == nil)
    }

    @Test func timeAloneChangesTheAnswerAtTheNextDayBoundary() throws {
        // 60 days and 1 hour left: in 1 hour (and a second) 59 days are left.
        let read = Self.summary(notAfter: 60 * Self.day + 3600)
        let next = try #require(CertificateStatus.nextChange(read, now: Self.now))
        #expect(next == Self.now.addingTimeInterval(3601))
        #expect(CertificateInspection.evaluate(read, now: next, hosts: [], warnDays: 14).daysLeft == 59)
        #expect(CertificateInspection.evaluate(read, now: next.addingTimeInterval(-2), hosts: [], warnDays: 14).daysLeft == 60)
        // The warning window begins on such a boundary: 14 days and a bit left is not yet ExpiringSoon.
        let late = Self.summary(notAfter: 14 * Self.day + 600)
        let crossing = try #require(CertificateStatus.nextChange(late, now: Self.now))
        #expect(CertificateInspection.evaluate(late, now: Self.now, hosts: [], warnDays: 14).reason == .valid)
        #expect(CertificateInspection.evaluate(late, now: crossing, hosts: [], warnDays: 14).reason == .expiringSoon)
        // Expiry itself.
        let lastDay = Self.summary(notAfter: 600)
        let expiry = try #require(CertificateStatus.nextChange(lastDay, now: Self.now))
        #expect(expiry == Self.now.addingTimeInterval(601))
        #expect(CertificateInspection.evaluate(lastDay, now: expiry, hosts: [], warnDays: 14).reason == .expired)
        // Not yet valid: at the start of validity.
        #expect(CertificateStatus.nextChange(Self.summary(notAfter: 60 * Self.day, notBefore: 3600), now: Self.now) == Self.now.addingTimeInterval(3600))
        // Only a change of the Secret changes a missing or unreadable certificate.
        #expect(CertificateStatus.nextChange(.missing, now: Self.now) == nil)
        #expect(CertificateStatus.nextChange(.malformed("x"), now: Self.now) == nil)
    }

    @Test func certManagersReadyConditionIsShownInTheMessage() {
        let certificate: JSONValue = [
            "metadata": ["name": "pynomaly-tls"], "spec": ["secretName": "pynomaly-tls"],
            "status": ["conditions": [["type": "Ready", "status": "False", "reason": "Failed", "message": "rate limited\u{1}"]]],
        ]
        let issuer = CertificateStatus.IssuerReadiness.of(certificate, secretName: "pynomaly-tls")
        #expect(issuer == CertificateStatus.IssuerReadiness(name: "pynomaly-tls", status: "False", reason: "Failed", message: "rate limited\u{1}"))
        // A Certificate for another Secret is not this one's issuer.
        #expect(CertificateStatus.IssuerReadiness.of(certificate, secretName: "other") == nil)
        let outcome = Self.outcome(Self.summary(notAfter: 60 * Self.day), issuer: issuer)
        #expect(outcome.condition.status == "True")
        #expect(outcome.condition.message?.hasSuffix("; cert-manager Certificate pynomaly-tls Ready=False (Failed): rate limited?") == true,
                "\(outcome.condition.message ?? "")")
        let fresh = CertificateStatus.IssuerReadiness.of(["metadata": ["name": "c"], "spec": ["secretName": "s"]], secretName: "s")
        #expect(fresh?.summary == "cert-manager Certificate c no Ready condition yet")
    }

    @Test func theHostsAreTheIngressHostAndTheBlueGreenPreviewHost() throws {
        let rolling = try BuilderTests.context { $0.spec.ingress = PynomalyDeploymentSpec.Ingress(host: "a.example", tls: .init(secretName: "t")) }
        #expect(CertificateStatus.hosts(rolling.spec) == ["a.example"])
        let blueGreen = try BuilderTests.context { cr in
            cr.spec.ingress = PynomalyDeploymentSpec.Ingress(host: "a.example", tls: .init(secretName: "t"))
            cr.spec.strategy = PynomalyDeploymentSpec.Strategy(type: .blueGreen, blueGreen: PynomalyDeploymentSpec.BlueGreen(previewHost: "p.example"))
        }
        #expect(CertificateStatus.hosts(blueGreen.spec) == ["a.example", "p.example"])
    }

    @Test func withoutTLSTheStatusAndConditionGo() {
        var status = Self.written(Self.outcome(Self.summary(notAfter: 60 * Self.day)))
        status.conditions?.append(Condition(type: ConditionType.ready, status: "True"))
        CertificateStatus.clear(&status)
        #expect(status.tls == nil)
        #expect(status.conditions?.map(\.type) == [ConditionType.ready])
    }

    @Test func warnDaysIsValidated() throws {
        for (days, valid) in [(0, false), (1, true), (14, true), (365, true), (366, false)] {
            var cr = try APIFixtures.sampleDeployment("pynomaly.yaml")
            cr.spec.ingress = PynomalyDeploymentSpec.Ingress(host: "a.example", tls: .init(secretName: "t", warnDays: Int32(days)))
            let problems = validate(cr).filter { $0.field == "spec.ingress.tls.warnDays" }
            #expect(problems.isEmpty == valid, "\(days): \(problems)")
        }
    }
}
