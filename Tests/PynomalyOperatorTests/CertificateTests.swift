import Foundation
import KubeClient
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// `spec.ingress.tls` end to end: certificates made here with swift-certificates in TLS Secrets,
/// each judged into `status.tls`, `CertificateReady` and its Warning Event; a rotated Secret costs
/// one GET; no certificate bytes reach the status, the Events or the operator's log.
final class CertificateTests: XCTestCase {
    static let host = "pynomaly.example"
    static let day: TimeInterval = 86_400

    /// A PynomalyDeployment `name` serving `host` with TLS from Secret `name`-tls.
    static func deployment(_ name: String, warnDays: Int? = nil) throws -> JSONValue {
        try OperatorRig.sampleDeployment(name: name) {
            var tls: JSONValue = ["secretName": .string("\(name)-tls")]
            if let warnDays { tls["warnDays"] = .int(Int64(warnDays)) }
            $0[path: ["spec", "ingress"]] = ["host": .string(host), "tls": tls]
        }
    }

    /// A `kubernetes.io/tls` Secret whose `tls.crt` is `pem` (the key is a placeholder: the
    /// operator never reads it).
    static func secret(_ name: String, pem: String) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": ["name": .string(name)],
            "data": [
                "tls.crt": .string(Data(pem.utf8).base64EncodedString()),
                "tls.key": .string(Data("placeholder key".utf8).base64EncodedString()),
            ],
        ]
    }

    static func pem(dnsNames: [String] = [host], notBefore: Date = Date().addingTimeInterval(-30 * day),
                    notAfter: Date = Date().addingTimeInterval(60 * day)) throws -> String {
        try CertificateInspectionTests.certificate(commonName: dnsNames.first ?? "none", dnsNames: dnsNames, notBefore: notBefore, notAfter: notAfter)
    }

    /// What a certificate's bytes look like wherever they might leak: the PEM armour, and the
    /// base64 of the DER (the PEM body) and of the PEM (the Secret's data), in pieces long enough
    /// to be unmistakable.
    static func fingerprints(of pem: String) -> [String] {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let encodedPEM = Data(pem.utf8).base64EncodedString()
        return ["BEGIN CERTIFICATE", String(body.prefix(40)), String(body.dropFirst(60).prefix(40)), String(encodedPEM.prefix(40)),
                String(encodedPEM.dropFirst(80).prefix(40))].filter { $0.count >= 16 }
    }

    func certificateEvents(_ rig: OperatorRig, _ name: String) async throws -> [JSONValue] {
        try await rig.events(for: name).filter { $0["reason"]?.stringValue?.hasPrefix("Certificate") == true }
    }

    func testEachCertificateGetsItsConditionEventAndStatusWithoutItsBytes() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        let now = Date()
        let pems: [String: String] = [
            "valid": try Self.pem(),
            "soon": try Self.pem(notAfter: now.addingTimeInterval(3 * Self.day + 3600)),
            "expired": try Self.pem(notBefore: now.addingTimeInterval(-90 * Self.day), notAfter: now.addingTimeInterval(-2 * Self.day + 3600)),
            "other": try Self.pem(dnsNames: ["other.example"]),
            "malformed": "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n",
        ]
        for (name, pem) in pems {
            _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: Self.secret("\(name)-tls", pem: pem))
        }
        for name in ["valid", "soon", "expired", "other", "malformed", "missing"] {
            try await rig.create(try Self.deployment(name))
        }
        let expected: [(name: String, status: String, reason: String)] = [
            ("valid", "True", "Valid"), ("soon", "True", "ExpiringSoon"), ("expired", "False", "Expired"),
            ("other", "False", "HostNotCovered"), ("malformed", "False", "Malformed"), ("missing", "False", "Missing"),
        ]
        for (name, status, reason) in expected {
            try await rig.waitForCondition(ConditionType.certificateReady, status, name: name, reason: reason)
        }
        // Bad certificates change a condition, nothing else: every app still rolls out.
        for (name, _, _) in expected where name != "missing" {
            try await rig.waitForCondition(ConditionType.ready, name: name)
        }

        let valid = try await rig.cr("valid")
        XCTAssertEqual(valid[path: ["status", "tls", "secretName"]]?.stringValue, "valid-tls")
        XCTAssertEqual(valid[path: ["status", "tls", "hostsCovered"]], [.string(Self.host)])
        let validDays = valid[path: ["status", "tls", "daysLeft"]]?.intValue ?? -1
        XCTAssertTrue((59...60).contains(validDays), "daysLeft \(validDays)")
        XCTAssertNotNil(valid[path: ["status", "tls", "notAfter"]]?.stringValue)
        let soon = try await rig.cr("soon")
        XCTAssertEqual(soon[path: ["status", "tls", "daysLeft"]]?.intValue, 3)
        XCTAssertTrue(rig.condition(soon, ConditionType.certificateReady)?["message"]?.stringValue?.contains("fewer than 14") == true)
        let expired = try await rig.cr("expired")
        XCTAssertEqual(expired[path: ["status", "tls", "daysLeft"]]?.intValue, -2)
        let other = try await rig.cr("other")
        XCTAssertEqual(other[path: ["status", "tls", "hostsCovered"]], [])
        XCTAssertTrue(rig.condition(other, ConditionType.certificateReady)?["message"]?.stringValue?.contains("other.example") == true)
        let malformed = try await rig.cr("malformed")
        XCTAssertNil(malformed[path: ["status", "tls", "notAfter"]])
        XCTAssertEqual(malformed[path: ["status", "tls", "secretName"]]?.stringValue, "malformed-tls")

        // One Warning per verdict: none for the valid certificate.
        let expectedEvents = ["soon": "CertificateExpiringSoon", "expired": "CertificateExpired", "other": "CertificateHostNotCovered",
                              "malformed": "CertificateMalformed", "missing": "CertificateMissing"]
        for (name, reason) in expectedEvents {
            try await waitUntil("\(name): the \(reason) Event is recorded") {
                try await self.certificateEvents(rig, name).contains { $0["reason"]?.stringValue == reason }
            }
        }
        let validEvents = try await certificateEvents(rig, "valid")
        XCTAssertEqual(validEvents.count, 0, "\(validEvents)")

        // Further passes (a poke each) announce nothing again.
        try await rig.waitForIdle()
        for name in expectedEvents.keys { try await rig.annotate("example.com/poke", "1", name: name) }
        try await rig.waitForIdle()
        for (name, reason) in expectedEvents {
            let events = try await certificateEvents(rig, name)
            XCTAssertEqual(events.count, 1, "\(name): \(events)")
            XCTAssertEqual(events.first?["reason"]?.stringValue, reason)
            XCTAssertEqual(events.first?["type"]?.stringValue, "Warning")
            XCTAssertEqual(events.first?["count"]?.intValue ?? 1, 1, "\(name): the Event was given once")
        }

        // No certificate bytes anywhere the operator writes or logs.
        var written = rig.log.text
        for name in ["valid", "soon", "expired", "other", "malformed", "missing"] {
            written += try await rig.cr(name)["status"]?.serializedString() ?? ""
        }
        written += try await rig.admin.list(.events, namespace: OperatorRig.namespace, options: ListOptions()).items
            .map { $0.serializedString() }.joined()
        for (name, pem) in pems {
            for fingerprint in Self.fingerprints(of: pem) {
                XCTAssertFalse(written.contains(fingerprint), "\(name): \(fingerprint) appears in the status, an Event or the log")
            }
        }

        // The missing Secret appears: its creation alone brings the next pass.
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: Self.secret("missing-tls", pem: try Self.pem()))
        try await rig.waitForCondition(ConditionType.certificateReady, "True", name: "missing", reason: "Valid")
        try await rig.waitForCondition(ConditionType.ready, name: "missing")
        try await rig.stop()
    }

    func testARotatedSecretIsReadOnceAndUpdatesTheStatus() async throws {
        let rig = try await OperatorRig()
        rig.server.faults.recordRequests = true
        rig.start()
        try await rig.createSampleSecret()
        let old = try Self.pem(notAfter: Date().addingTimeInterval(3 * Self.day + 3600))
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: Self.secret("pynomaly-tls", pem: old))
        try await rig.create(try Self.deployment("pynomaly", warnDays: 7))
        try await rig.waitForCondition(ConditionType.certificateReady, "True", reason: "ExpiringSoon")
        try await rig.waitForCondition(ConditionType.ready)
        try await rig.waitForIdle()
        func secretGets() -> Int {
            rig.server.faults.recordedRequests.filter { $0.method == "GET" && $0.target.hasPrefix("/api/v1/namespaces/default/secrets/pynomaly-tls") }.count
        }
        let getsBefore = secretGets()
        XCTAssertEqual(getsBefore, 1, "the first version is read once")

        // cert-manager renews: the same Secret with a new certificate.
        let renewedNotAfter = Date().addingTimeInterval(90 * Self.day)
        var renewed = Self.secret("pynomaly-tls", pem: try Self.pem(notAfter: renewedNotAfter))
        renewed[path: ["metadata", "resourceVersion"]] = nil
        _ = try await rig.admin.update(.secrets, namespace: OperatorRig.namespace, name: "pynomaly-tls", object: renewed, subresource: nil,
                                       options: WriteOptions())
        try await rig.waitForCondition(ConditionType.certificateReady, "True", reason: "Valid")
        try await rig.waitForIdle()
        let cr = try await rig.cr()
        let notAfter = cr[path: ["status", "tls", "notAfter"]]?.stringValue.flatMap(KubeTime.parse)
        XCTAssertEqual(notAfter?.timeIntervalSince1970 ?? 0, renewedNotAfter.timeIntervalSince1970, accuracy: 1)
        let days = cr[path: ["status", "tls", "daysLeft"]]?.intValue ?? 0
        XCTAssertTrue((89...90).contains(days), "daysLeft \(days)")
        XCTAssertEqual(secretGets(), getsBefore + 1, "the new version is read with one GET")
        // Passes without a new version read nothing.
        try await rig.annotate("example.com/poke", "1")
        try await rig.waitForIdle()
        XCTAssertEqual(secretGets(), getsBefore + 1)
        // Only the expiring certificate was announced.
        let reasons = try await rig.eventReasons().filter { $0.hasPrefix("Certificate") }
        XCTAssertEqual(reasons, ["CertificateExpiringSoon"])

        // Without TLS the status and the condition go.
        try await rig.patchSpec(["ingress": ["tls": .null]])
        try await waitUntil("status.tls and CertificateReady are gone") {
            let cr = try await rig.cr()
            return cr[path: ["status", "tls"]] == nil && rig.condition(cr, ConditionType.certificateReady) == nil
        }
        try await rig.stop()
    }

    /// A TLS Secret the operator cannot read (403) holds up nothing: the Ingress is applied, the CR
    /// stays Ready, and CertificateReady comes once the read works.
    func testAnUnreadableSecretHoldsUpNothing() async throws {
        let rig = try await OperatorRig()
        rig.start()
        try await rig.createSampleSecret()
        try await rig.create(try OperatorRig.sampleDeployment())
        try await rig.waitForCondition(ConditionType.ready)
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: Self.secret("pynomaly-tls", pem: try Self.pem()))
        rig.server.faults.failRequests(share: 1, with: .forbidden, scope: FaultScope(verbs: ["get"], resources: ["secrets"]))
        try await rig.patchSpec(["ingress": ["host": .string(Self.host), "tls": ["secretName": "pynomaly-tls"]]])
        try await waitUntil("the Ingress is applied") { try await rig.get(.ingresses, "pynomaly") != nil }
        try await rig.waitForCondition(ConditionType.ready)
        XCTAssertGreaterThan(rig.server.faults.injectedCount(status: 403), 0, "the operator tried to read the Secret")
        let held = try await rig.cr()
        XCTAssertNil(rig.condition(held, ConditionType.certificateReady), "nothing is known about the certificate yet")
        XCTAssertTrue(rig.log.text.contains("cannot read the TLS Secret"))

        rig.server.faults.stopFailingRequests()
        try await rig.annotate("example.com/poke", "1")
        try await rig.waitForCondition(ConditionType.certificateReady, "True", reason: "Valid")
        try await rig.stop()
    }

    /// cert-manager's Certificate (served through its CRD, as in a cluster with cert-manager): its
    /// Ready condition is shown in CertificateReady's message.
    func testCertManagersReadyConditionIsShown() async throws {
        let rig = try await OperatorRig()
        try await Self.installCertManagerCRD(rig.admin)
        rig.start()
        try await rig.createSampleSecret()
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: Self.secret("pynomaly-tls", pem: try Self.pem()))
        let certificate: JSONValue = [
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": ["name": "pynomaly-tls"],
            "spec": ["secretName": "pynomaly-tls", "dnsNames": [.string(Self.host)], "issuerRef": ["name": "letsencrypt", "kind": "ClusterIssuer"]],
            "status": ["conditions": [["type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"]]],
        ]
        _ = try await rig.admin.create(CertificateStatus.certManagerCertificateType, namespace: OperatorRig.namespace, object: certificate)
        try await rig.create(try Self.deployment("pynomaly"))
        try await rig.waitForCondition(ConditionType.certificateReady, "True", reason: "Valid")
        let message = rig.condition(try await rig.cr(), ConditionType.certificateReady)?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("cert-manager Certificate pynomaly-tls Ready=True (Ready): Certificate is up to date"), message)
        try await rig.stop()
    }

    static func installCertManagerCRD(_ admin: KubeAPIClient) async throws {
        let crd: JSONValue = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "certificates.cert-manager.io"],
            "spec": [
                "group": "cert-manager.io", "scope": "Namespaced",
                "names": ["plural": "certificates", "singular": "certificate", "kind": "Certificate", "listKind": "CertificateList"],
                "versions": [[
                    "name": "v1", "served": true, "storage": true,
                    "schema": ["openAPIV3Schema": ["type": "object", "properties": [
                        "spec": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                        "status": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                    ]]],
                ]],
            ],
        ]
        _ = try await admin.create(.customResourceDefinitions, namespace: nil, object: crd, options: WriteOptions())
        try await waitUntil("cert-manager.io/v1 is served") {
            (try? await admin.servedResources(groupVersion: "cert-manager.io/v1"))?.contains("certificates") == true
        }
    }
}
