import Crypto
import Foundation
import SwiftASN1
import X509

/// The per-run CA: signs the serving certificate and client certificates (mTLS: CN = user, O = groups).
struct CertificateAuthority: Sendable {
    let key: P256.Signing.PrivateKey
    let certificate: Certificate
    let name: DistinguishedName

    init() throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName {
            CommonName("kube-test-server-ca-\(UUID().uuidString.prefix(8).lowercased())")
        }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400 * 365),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    var pem: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

    /// A leaf certificate: server (SANs) or client (CN/O).
    func issue(commonName: String, organizations: [String] = [], dnsNames: [String] = [], ipAddresses: [[UInt8]] = [],
               server: Bool, notValidAfter: Date? = nil) throws -> (certificatePEM: String, privateKeyPEM: String) {
        let leafKey = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            for o in organizations { OrganizationName(o) }
            CommonName(commonName)
        }
        let now = Date()
        let notAfter = notValidAfter ?? now.addingTimeInterval(86_400 * 30)
        let notBefore = min(now.addingTimeInterval(-3600), notAfter.addingTimeInterval(-7200))
        var sans: [GeneralName] = dnsNames.map { .dnsName($0) }
        sans += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([server ? .serverAuth : .clientAuth])
            if !sans.isEmpty { SubjectAlternativeNames(sans) }
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: name, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
        return (try cert.serializeAsPEM().pemString, leafKey.pemRepresentation)
    }

    /// IPv4/IPv6 text → address bytes, nil for host names.
    static func ipBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// The user a verified client certificate names: CN is the user, each O a group.
    static func user(fromDER der: [UInt8]) -> UserInfo? {
        guard let cert = try? Certificate(derEncoded: der) else { return nil }
        var name: String?
        var groups: [String] = []
        for rdn in cert.subject {
            for attr in rdn {
                if attr.type == .RDNAttributeType.commonName { name = String(attr.value) }
                if attr.type == .RDNAttributeType.organizationName, let o = String(attr.value) { groups.append(o) }
            }
        }
        guard let name else { return nil }
        if !groups.contains("system:authenticated") { groups.append("system:authenticated") }
        return UserInfo(name: name, groups: groups)
    }
}
