import KubeCore

/// The blue-green sample (`manifests/samples/pynomaly-bluegreen.yaml`), where the blue-green,
/// analysis and strategy-migration suites start.
extension OperatorRig {
    /// The sample's PynomalyDeployment.
    public static let blueGreenName = "pynomaly-bg"

    /// Creates the sample's Secret and PynomalyDeployment (with `change` applied).
    public func createBlueGreenSample(_ change: (inout JSONValue) -> Void = { _ in }) async throws {
        let documents = try Self.sample("pynomaly-bluegreen.yaml")
        guard let secret = documents.first(where: { $0["kind"]?.stringValue == "Secret" }),
              var cr = documents.first(where: { $0["kind"]?.stringValue == "PynomalyDeployment" }) else {
            throw KubeError.configuration("the blue-green sample lacks a Secret or a PynomalyDeployment")
        }
        change(&cr)
        _ = try await admin.create(.secrets, namespace: Self.namespace, object: secret)
        try await create(cr)
    }

    /// Sets `fields` in the CR's `spec.strategy.blueGreen`.
    public static func setBlueGreen(_ cr: inout JSONValue, _ fields: [String: JSONValue]) {
        for (key, value) in fields { cr[path: ["spec", "strategy", "blueGreen", key]] = value }
    }

    /// Waits until blue serves revision 1 with no step in progress (and, with `healthy`, phase Healthy).
    public func waitForBlueIdle(name: String = blueGreenName, healthy: Bool = true, timeout: Double = 15,
                                file: StaticString = #filePath, line: UInt = #line) async throws {
        try await waitUntil("blue serves revision 1", timeout: timeout, file: file, line: line) {
            let cr = try await self.cr(name)
            return cr[path: ["status", "blueGreen", "step"]]?.stringValue == "Idle"
                && cr[path: ["status", "blueGreen", "activeColor"]]?.stringValue == "blue"
                && (!healthy || cr[path: ["status", "phase"]]?.stringValue == "Healthy")
        }
    }
}
