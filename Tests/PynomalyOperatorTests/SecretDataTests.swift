import Foundation
import KubeCore
import KubeRuntime
import KubeTestServer
import OperatorTestSupport
import XCTest

@testable import PynomalyOperator

/// No Secret data in the operator's memory: Secrets are listed and watched as metadata only, and
/// other people's ConfigMaps are kept as stubs, after the first list and after a 410 re-list alike,
/// while a rotated Secret still rolls the pods.
final class SecretDataTests: XCTestCase {
    static let secretValue = "s3cr3t-value-that-must-not-be-cached"

    func testNoSecretDataIsCachedAfterAListOrA410RelistAndRotationStillRolls() async throws {
        let rig = try await OperatorRig()
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "unrelated", "namespace": .string(OperatorRig.namespace)],
            "stringData": ["token": .string(Self.secretValue)],
        ])
        _ = try await rig.admin.create(.configMaps, namespace: OperatorRig.namespace, object: [
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "unrelated-config", "namespace": .string(OperatorRig.namespace)],
            "data": ["token": .string(Self.secretValue)],
        ])
        try await rig.startWithReadySample(idle: false)
        assertNoSecretData(rig, "after the first list")

        // A 410 re-list: history compacted, every watch broken; the informers list again.
        rig.server.compactWatchHistory()
        rig.server.resetWatchStreams()
        _ = try await rig.admin.create(.secrets, namespace: OperatorRig.namespace, object: [
            "apiVersion": "v1", "kind": "Secret", "metadata": ["name": "after-relist", "namespace": .string(OperatorRig.namespace)],
            "stringData": ["token": .string(Self.secretValue)],
        ])
        try await waitUntil("the Secrets cache caught up", timeout: 30) {
            rig.caches.secrets.store.get(namespace: OperatorRig.namespace, name: "after-relist") != nil
        }
        assertNoSecretData(rig, "after the re-list")

        // Rotation still rolls: one GET of the changed Secret, hashed and dropped.
        let before = try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", PynomalyAnnotations.referencedHash]]
        let rotation: JSONValue = ["stringData": ["database-password": "rotated"]]
        _ = try await rig.admin.patch(.secrets, namespace: OperatorRig.namespace, name: "pynomaly-secret", type: .merge,
                                      body: rotation.serialized(), subresource: nil,
                                      options: WriteOptions())
        try await waitUntil("the rotated Secret rolls the pods", timeout: 30) {
            let after = try await rig.get(.deployments, "pynomaly")?[path: ["spec", "template", "metadata", "annotations", PynomalyAnnotations.referencedHash]]
            return after != nil && after != before
        }
        assertNoSecretData(rig, "after the rotation")
        XCTAssertEqual(rig.caches.contentHashes.count, 1, "one hash per referenced object, not per Secret of the namespace")
        try await rig.stop()
    }

    func assertNoSecretData(_ rig: OperatorRig, _ when: String, file: StaticString = #filePath, line: UInt = #line) {
        let objects = rig.caches.secrets.store.list(namespace: OperatorRig.namespace)
        XCTAssertGreaterThanOrEqual(objects.count, 2, when, file: file, line: line)
        // ConfigMaps share one informer with the operator's own ConfigMap, which it keeps in full to
        // compare with what it would write; anyone else's (a referenced one included) is a stub.
        let foreignConfigMaps = rig.caches.configMaps.store.list(namespace: OperatorRig.namespace).filter {
            $0[path: ["metadata", "labels", PynomalyLabels.managedByKey]]?.stringValue != PynomalyLabels.managerName
        }
        XCTAssertFalse(foreignConfigMaps.isEmpty, "\(when): the test's own ConfigMap is seen", file: file, line: line)
        for object in objects + foreignConfigMaps {
            let text = object.serializedString()
            for key in ["\"data\"", "\"stringData\"", "\"binaryData\""] {
                XCTAssertFalse(text.contains(key), "\(when): \(key) held in \(text)", file: file, line: line)
            }
            XCTAssertFalse(text.contains(Self.secretValue), when, file: file, line: line)
        }
    }
}
