import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import Synchronization

/// The repository root (CRDs, samples and built binaries are found from it).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A KubeTestServer with the CRDs installed and a kubeconfig on disk, as a real cluster would be
/// for the operator binary.
public struct TestCluster: Sendable {
    public let server: KubeTestServer
    /// The test's own in-memory client (set-up writes and the server-side truth).
    public let admin: KubeAPIClient
    public let kubeconfig: String

    /// `withoutCRDs`: names of CRDs (`pynomalyrestores.pynomaly.ai`) left out, as in a cluster whose
    /// operator was upgraded without its new CRDs.
    public static func start(_ options: KubeTestServerOptions = KubeTestServerOptions(), withoutCRDs: Set<String> = []) async throws -> TestCluster {
        let server = try await KubeTestServer.start(options)
        let admin = KubeAPIClient(transport: server.transport)
        try await installCRDs(admin, except: withoutCRDs)
        let kubeconfig = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)").path
        try server.writeKubeconfig(to: kubeconfig)
        return TestCluster(server: server, admin: admin, kubeconfig: kubeconfig)
    }

    public static func installCRDs(_ client: KubeAPIClient, except skipped: Set<String> = []) async throws {
        for document in try crdDocuments() where !skipped.contains(document[path: ["metadata", "name"]]?.stringValue ?? "") {
            _ = try await client.create(.customResourceDefinitions, namespace: nil, object: document, options: WriteOptions())
        }
    }

    /// Creates the CRD `name` from `crds/` (what `kubectl apply -f crds/` adds to a cluster missing it).
    public static func installCRD(named name: String, _ client: KubeAPIClient) async throws {
        guard let document = try crdDocuments().first(where: { $0[path: ["metadata", "name"]]?.stringValue == name }) else {
            throw KubeError.configuration("crds/ has no CRD \(name)")
        }
        _ = try await client.create(.customResourceDefinitions, namespace: nil, object: document, options: WriteOptions())
    }

    /// Every CRD of `crds/`.
    public static func crdDocuments() throws -> [JSONValue] {
        let folder = repositoryRoot.appendingPathComponent("crds")
        var documents: [JSONValue] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path).filter({ $0.hasSuffix(".yaml") }).sorted() {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            documents += try YAML.parseDocuments(text)
        }
        return documents
    }

    public func stop() async throws {
        try await server.stop()
        try? FileManager.default.removeItem(atPath: kubeconfig)
    }
}

/// Output collected from a child process's pipe.
public final class OutputBuffer: Sendable {
    public init() {}
    private let state = Mutex((text: "", closed: false))
    public func append(_ text: String) { state.withLock { $0.text += text } }
    public func close() { state.withLock { $0.closed = true } }
    public var text: String { state.withLock { $0.text } }
    public var isClosed: Bool { state.withLock { $0.closed } }
}
