import Foundation
import XCTest

/// `make run`'s program end to end: the sandbox binary starts the test API server, installs the CRDs
/// over HTTPS, runs the operator binary's preflight against it, and (with --exit-after-setup) stops.
final class SandboxTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testSandboxSetsUpAndPassesPreflight() throws {
        let binary = Self.repositoryRoot.appendingPathComponent(".build/debug/pynomaly-sandbox")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            return XCTFail("\(binary.path) is not built: `make test` builds it with --build-tests")
        }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = binary
        process.currentDirectoryURL = Self.repositoryRoot
        process.arguments = ["--exit-after-setup", "--state-directory", state.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("installed CRD pynomalydeployments.pynomaly.ai"), text)
        XCTAssertTrue(text.contains("installed CRD pynomalyrestores.pynomaly.ai"), text)
        XCTAssertTrue(text.contains("preflight passed"), text)
        let kubeconfig = try String(contentsOf: state.appendingPathComponent("kubeconfig"), encoding: .utf8)
        XCTAssertTrue(kubeconfig.contains("certificate-authority-data"), kubeconfig)
    }
}
