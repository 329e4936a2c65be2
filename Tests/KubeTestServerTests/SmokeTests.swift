import Foundation
import KubeCore
import KubeTestServer
import XCTest

final class SmokeTests: XCTestCase {
    func testConfigMapCRUD() async throws {
        let server = try await KubeTestServer.start()
        defer { Task { try? await server.stop() } }
        let c = TestClient(server)
        let created = await c.post("/api/v1/namespaces/default/configmaps", configMap("a"))
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        let got = await c.get("/api/v1/namespaces/default/configmaps/a")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(got.json[path: ["data", "k"]], "v")
        XCTAssertEqual(got.rv, created.rv)
    }
}
