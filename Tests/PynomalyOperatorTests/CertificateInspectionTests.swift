import Crypto
import Foundation
import KubeCore
import PynomalyOperator
import Testing
import X509

/// `CertificateInspection` reads certificates made here with swift-certificates, and its fields
/// are checked against what swift-certificates itself parses from the same PEM.
@Suite struct CertificateInspectionTests {
    static let now = Date(timeIntervalSince1970: 1_767_268_800)  // 2026-01-01T12:00:00Z
    static let day: TimeInterval = 86_400

    /// A self-signed leaf certificate, PEM.
    static func certificate(commonName: String = "pynomaly.example", dnsNames: [String] = ["pynomaly.example"],
                            notBefore: Date = now.addingTimeInterval(-30 * day), notAfter: Date = now.addingTimeInterval(60 * day),
                            organization: String? = "Pynomaly") throws -> String {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            CountryName("DE")
            if let organization { OrganizationName(organization) }
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            if !dnsNames.isEmpty { SubjectAlternativeNames(dnsNames.map { .dnsName($0) }) }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
        return try certificate.serializeAsPEM().pemString
    }

    @Test func readsTheFieldsSwiftCertificatesWrote() throws {
        let notBefore = Date(timeIntervalSince1970: 1_700_000_000), notAfter = Date(timeIntervalSince1970: 2_600_000_000)  // 2052: GeneralizedTime
        let pem = try Self.certificate(commonName: "api.pynomaly.example", dnsNames: ["api.pynomaly.example", "*.pynomaly.example"],
                                       notBefore: notBefore, notAfter: notAfter)
        let summary = try CertificateInspection.parse(pem: pem)
        let reference = try Certificate(pemEncoded: pem)
        #expect(summary.notBefore == reference.notValidBefore)
        #expect(summary.notAfter == reference.notValidAfter)
        #expect(summary.notAfter == notAfter)
        #expect(summary.commonName == "api.pynomaly.example")
        #expect(summary.dnsNames == ["api.pynomaly.example", "*.pynomaly.example"])
        // The leaf is the first block of a chain.
        let chain = pem + "\n" + (try Self.certificate(commonName: "ca", dnsNames: []))
        #expect(try CertificateInspection.parse(pem: chain) == summary)
    }

    @Test func valid() throws {
        let verdict = CertificateInspection.evaluate(pem: try Self.certificate(), now: Self.now, hosts: ["pynomaly.example"], warnDays: 14)
        #expect(verdict.status == "True" && verdict.reason == .valid, "\(verdict.message)")
        #expect(verdict.daysLeft == 60)
        #expect(verdict.hostsCovered == ["pynomaly.example"])
        #expect(verdict.message == "the certificate is valid until 2026-03-02T12:00:00Z (60 days)")
    }

    @Test func expiringInThreeDays() throws {
        let pem = try Self.certificate(notAfter: Self.now.addingTimeInterval(3 * Self.day + 3600))
        let verdict = CertificateInspection.evaluate(pem: pem, now: Self.now, hosts: ["pynomaly.example"], warnDays: 14)
        #expect(verdict.status == "True" && verdict.reason == .expiringSoon)
        #expect(verdict.daysLeft == 3)
        #expect(verdict.message.contains("in 3 days (fewer than 14)"), "\(verdict.message)")
        // Outside the window it is plainly valid.
        #expect(CertificateInspection.evaluate(pem: pem, now: Self.now, hosts: ["pynomaly.example"], warnDays: 3).reason == .valid)
    }

    @Test func expiredAndNotYetValid() throws {
        let expired = CertificateInspection.evaluate(pem: try Self.certificate(notAfter: Self.now.addingTimeInterval(-2 * Self.day)),
                                                     now: Self.now, hosts: ["pynomaly.example"], warnDays: 14)
        #expect(expired.status == "False" && expired.reason == .expired)
        #expect(expired.daysLeft == -2)
        #expect(expired.message == "the certificate expired at 2025-12-30T12:00:00Z")
        let early = CertificateInspection.evaluate(pem: try Self.certificate(notBefore: Self.now.addingTimeInterval(Self.day)),
                                                   now: Self.now, hosts: ["pynomaly.example"], warnDays: 14)
        #expect(early.status == "False" && early.reason == .notYetValid)
    }

    @Test func hostsAndWildcards() throws {
        let other = CertificateInspection.evaluate(pem: try Self.certificate(dnsNames: ["other.example"]), now: Self.now,
                                                   hosts: ["pynomaly.example"], warnDays: 14)
        #expect(other.status == "False" && other.reason == .hostNotCovered)
        #expect(other.message == "the certificate does not cover pynomaly.example: it names other.example")
        // The common name is not a host name to clients once it is the only name.
        let cnOnly = CertificateInspection.evaluate(pem: try Self.certificate(commonName: "pynomaly.example", dnsNames: []), now: Self.now,
                                                    hosts: ["pynomaly.example"], warnDays: 14)
        #expect(cnOnly.reason == .hostNotCovered && cnOnly.message.contains("no DNS names"), "\(cnOnly.message)")

        let wildcard = try Self.certificate(dnsNames: ["*.pynomaly.example"])
        let covered = CertificateInspection.evaluate(pem: wildcard, now: Self.now, hosts: ["api.pynomaly.example", "PREVIEW.pynomaly.example."], warnDays: 14)
        #expect(covered.reason == .valid && covered.hostsCovered.count == 2, "\(covered.message)")
        for host in ["pynomaly.example", "a.b.pynomaly.example", "apipynomaly.example"] {
            let verdict = CertificateInspection.evaluate(pem: wildcard, now: Self.now, hosts: [host], warnDays: 14)
            #expect(verdict.reason == .hostNotCovered, "\(host)")
        }
        #expect(CertificateInspection.covers("*.example.com", "*.example.com"))
        #expect(!CertificateInspection.covers("a.example.com", "*.example.com"))
        #expect(!CertificateInspection.covers("*.com", "example.com"))
        #expect(!CertificateInspection.covers("f*.example.com", "foo.example.com"))
    }

    @Test func fromATLSSecret() throws {
        let pem = try Self.certificate()
        let secret: JSONValue = ["kind": "Secret", "type": "kubernetes.io/tls",
                                 "data": ["tls.crt": .string(Data(pem.utf8).base64EncodedString()), "tls.key": "c2VjcmV0"]]
        #expect(CertificateInspection.evaluate(secret: secret, now: Self.now, hosts: ["pynomaly.example"], warnDays: 14).reason == .valid)
        #expect(CertificateInspection.evaluate(secret: nil, now: Self.now, hosts: ["pynomaly.example"], warnDays: 14).reason == .missing)
        let withoutCertificate: JSONValue = ["kind": "Secret", "data": ["tls.key": "c2VjcmV0"]]
        #expect(CertificateInspection.evaluate(secret: withoutCertificate, now: Self.now, hosts: [], warnDays: 14).reason == .missing)
        let notBase64: JSONValue = ["kind": "Secret", "data": ["tls.crt": "%%%"]]
        #expect(CertificateInspection.evaluate(secret: notBase64, now: Self.now, hosts: [], warnDays: 14).reason == .malformed)
    }

    @Test func missingAndMalformed() throws {
        #expect(CertificateInspection.evaluate(pem: nil, now: Self.now, hosts: [], warnDays: 14).reason == .missing)
        #expect(CertificateInspection.evaluate(pem: "  \n", now: Self.now, hosts: [], warnDays: 14).reason == .missing)
        let valid = try Self.certificate()
        let body = valid.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let truncated = "-----BEGIN CERTIFICATE-----\n\(body.prefix(120))\n-----END CERTIFICATE-----\n"
        let cases = [
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\n\(body)\n",
            truncated,
            "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----",  // SEQUENCE { INTEGER 1 }
        ]
        for pem in cases {
            let verdict = CertificateInspection.evaluate(pem: pem, now: Self.now, hosts: ["pynomaly.example"], warnDays: 14)
            #expect(verdict.status == "False" && verdict.reason == .malformed, "\(pem): \(verdict.message)")
            // Never a piece of the certificate in the message.
            #expect(!verdict.message.contains(String(body.prefix(16))) && !verdict.message.contains("MAMC"), "\(verdict.message)")
        }
    }
}
