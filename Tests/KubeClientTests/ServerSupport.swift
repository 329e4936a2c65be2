import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import XCTest

/// One KubeTestServer for a whole test class, started on first use and stopped in `tearDown()`.
actor SharedServer {
    private let options: KubeTestServerOptions
    private var task: Task<KubeTestServer, any Error>?

    init(_ options: KubeTestServerOptions = KubeTestServerOptions()) { self.options = options }

    func get() async throws -> KubeTestServer {
        if let task { return try await task.value }
        let options = self.options
        let t = Task { try await KubeTestServer.start(options) }
        task = t
        return try await t.value
    }

    func stop() async {
        if let task, let server = try? await task.value { try? await server.stop() }
        task = nil
    }

    /// Stops from a synchronous class tearDown.
    nonisolated func stopBlocking() {
        let done = DispatchSemaphore(value: 0)
        Task {
            await self.stop()
            done.signal()
        }
        done.wait()
    }
}

func configuration(for server: KubeTestServer, authentication: Authentication? = nil, caPEM: String? = nil,
                   namespace: String = "default") -> ClientConfiguration {
    ClientConfiguration(server: server.url,
                        tls: TLSConfiguration(certificateAuthorityPEM: Data((caPEM ?? server.caCertificatePEM).utf8)),
                        authentication: authentication ?? .bearerToken(server.adminToken), namespace: namespace, qps: 0)
}

/// The error a call threw, or a failure when it succeeded.
func thrownError<T>(_ body: () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async -> (any Error)? {
    do {
        _ = try await body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

func transportKind(_ error: (any Error)?) -> TransportError.Kind? {
    if case KubeError.transport(let t)? = error as? KubeError { return t.kind }
    return nil
}

func configMap(_ name: String, namespace: String = "default", data: [String: String] = [:]) -> JSONValue {
    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(namespace)],
     "data": .object(data.mapValues { .string($0) })]
}
