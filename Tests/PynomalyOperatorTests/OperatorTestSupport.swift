import Foundation
import KubeClient
import KubeCore
import KubeTestServer
import KubeYAML
import OperatorTestSupport
import XCTest

/// The sandbox binary as the cluster: a KubeTestServer in a process of its own (as a real API
/// server is), with the CRDs installed and a kubeconfig written; the test talks to it over HTTPS.
final class ExternalCluster: Sendable {
    let process: ChildProcess
    let kubeconfig: String
    let admin: KubeAPIClient
    private let directory: String

    /// `simulatedJobSeconds`: how long a simulated Job runs (a test that must catch a step while a
    /// smoke test runs makes that step last).
    init(simulatedJobSeconds: Double? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)").path
        var arguments = ["--state-directory", directory, "--server-only"]
        if let simulatedJobSeconds { arguments += ["--simulated-job-seconds", String(simulatedJobSeconds)] }
        process = try ChildProcess("pynomaly-sandbox", arguments)
        try await process.waitForOutput("The sandbox is running")
        kubeconfig = (directory as NSString).appendingPathComponent("kubeconfig")
        admin = try makeKubeClient(configuration: try ConfigurationResolver.resolve(kubeconfigPath: kubeconfig, context: nil))
    }

    func stop() async throws {
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct MissingBinary: Error, CustomStringConvertible {
    var path: String
    var description: String { "\(path) is not built: `make test` builds it with --build-tests" }
}

/// A built executable of this package, run as a child process with its output collected.
final class ChildProcess: Sendable {
    let process: Process
    private let output = OutputBuffer()

    convenience init(_ name: String, _ arguments: [String]) throws {
        try self.init(executable: repositoryRoot.appendingPathComponent(".build/debug/\(name)"), arguments)
    }

    init(executable binary: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw MissingBinary(path: binary.path)
        }
        process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.currentDirectoryURL = repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // A thread of its own drains the pipe (a full pipe would block the child's logging and
        // with it the child); the test's async threads never block on it.
        let output = output
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                output.append(String(decoding: data, as: UTF8.self))
            }
            output.close()
        }
    }

    var text: String { output.text }
    var isRunning: Bool { process.isRunning }

    /// Waits until the output contains `fragment`; fails naming it and showing the output.
    func waitForOutput(_ fragment: String, timeout: Double = 20, file: StaticString = #filePath, line: UInt = #line) async throws {
        if try await eventually(timeout: timeout, interval: 0.02, { self.text.contains(fragment) }) { return }
        XCTFail("no \"\(fragment)\" in the output within \(timeout) s:\n\(text)", file: file, line: line)
        throw CancellationError()
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to end and answers its exit status; kills it after `timeout` seconds.
    func waitForExit(timeout: Double = 40) async throws -> Int32 {
        if try await !eventually(timeout: timeout, interval: 0.02, { !self.process.isRunning }) {
            process.terminate()
            signal(SIGKILL)
            XCTFail("the process did not exit within \(timeout) s:\n\(text)")
        }
        process.waitUntilExit()
        // Every byte the process wrote has been read once the pipe reports its end.
        _ = try await eventually(timeout: 5) { self.output.isClosed }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// The port a log line of the operator reports, e.g. `serving health probes port=41235`.
func reportedPort(in text: String, after message: String) -> UInt16? {
    for line in text.split(separator: "\n") where line.contains(message) {
        if let range = line.range(of: "port=") {
            let digits = line[range.upperBound...].prefix { $0.isNumber }
            return UInt16(digits)
        }
    }
    return nil
}

/// A minimal HTTP GET on loopback (the probe and metrics servers speak plain HTTP/1.1).
func httpGet(port: UInt16, path: String) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        response.append(contentsOf: buffer[0..<n])
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}

/// Runs the real `kubectl` (on PATH on the project's machines and CI) with a kubeconfig; answers
/// its exit status and combined output.
func kubectl(_ kubeconfig: String, _ arguments: [String], timeout: Double = 60) async throws -> (status: Int32, output: String) {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        .map { "\($0)/kubectl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let path else { throw MissingBinary(path: "kubectl on PATH") }
    var environment = ProcessInfo.processInfo.environment
    environment["KUBECACHEDIR"] = (kubeconfig as NSString).deletingLastPathComponent + "/kubectl-cache-\(UUID().uuidString)"
    environment.removeValue(forKey: "KUBECONFIG")
    let process = try ChildProcess(executable: URL(fileURLWithPath: path), ["--kubeconfig", kubeconfig] + arguments, environment: environment)
    let status = try await process.waitForExit(timeout: timeout)
    return (status, process.text)
}
