import Foundation
import Synchronization
import KubeTestServer
import Testing

/// `make run`'s program end to end: the sandbox binary starts the test API server (simulated
/// controllers on), installs the CRDs over HTTPS, runs preflight, starts the operator binary, applies
/// the sample, and (with --exit-after-setup) stops once the sample's PynomalyDeployment is Ready.
@Suite struct SandboxTests {
    @Test func sandboxRunsTheOperatorUntilTheSampleIsReady() async throws {
        let binary = repositoryRoot.appendingPathComponent(".build/debug/pynomaly-sandbox")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path),
                     "\(binary.path) is not built: `make test` builds it with --build-tests")
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }

        let run = try await SandboxRun.run(binary, ["--exit-after-setup", "--state-directory", state.path,
                                                    "--metrics-bind-address", "127.0.0.1:0",
                                                    "--health-probe-bind-address", "127.0.0.1:0"])
        let text = run.output
        #expect(run.status == 0, "\(text)")
        #expect(text.contains("simulated controllers on"), "\(text)")
        #expect(text.contains("installed CRD pynomalydeployments.pynomaly.ai"), "\(text)")
        #expect(text.contains("installed CRD pynomalyrestores.pynomaly.ai"), "\(text)")
        #expect(text.contains("preflight passed"), "\(text)")
        #expect(text.contains("operator started"), "\(text)")
        #expect(text.contains("applied PynomalyDeployment default/pynomaly"), "\(text)")
        // The operator's own log, prefixed, and the rollout as the sandbox saw it.
        #expect(text.contains("operator | ") && text.contains("manager starting"), "\(text)")
        #expect(text.contains("rollout | pynomaly Deployment replicas=3/3 ready=3"), "\(text)")
        #expect(text.contains("Ready: pynomaly PynomalyDeployment phase=Healthy ready=3/3"), "\(text)")
        #expect(text.contains("the operator stopped (exit status 0)"), "\(text)")
        let kubeconfig = try String(contentsOf: state.appendingPathComponent("kubeconfig"), encoding: .utf8)
        #expect(kubeconfig.contains("certificate-authority-data"), "\(kubeconfig)")
    }
}

extension SandboxTests {
    /// Pods that take longer to start than the old fixed simulated deadline (0.3 s) roll out: the
    /// deadline follows the Deployment's progressDeadlineSeconds and the simulated start time.
    @Test func slowSimulatedPodStartsStillRollOut() async throws {
        let binary = repositoryRoot.appendingPathComponent(".build/debug/pynomaly-sandbox")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path),
                     "\(binary.path) is not built: `make test` builds it with --build-tests")
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: state) }
        let run = try await SandboxRun.run(binary, ["--exit-after-setup", "--state-directory", state.path,
                                                    "--simulated-pod-start-seconds", "0.5",
                                                    "--metrics-bind-address", "127.0.0.1:0",
                                                    "--health-probe-bind-address", "127.0.0.1:0"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("Ready: pynomaly PynomalyDeployment phase=Healthy ready=3/3"), "\(run.output)")
        #expect(!run.output.contains("ProgressDeadlineExceeded"), "\(run.output)")
    }
}

/// One run of a binary to its end, with its merged output; killed after `timeout` seconds.
struct SandboxRun {
    var status: Int32
    var output: String

    static func run(_ binary: URL, _ arguments: [String], timeout: Double = 120) async throws -> SandboxRun {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        // A thread of its own drains the pipe while the sandbox runs (a full pipe would block it).
        let output = SandboxOutput()
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                output.append(data)
            }
            output.finish()
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            // A hung sandbox must fail the test, not hang it.
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { kill(pid, SIGKILL) }
        }
        // The rest of the output is in the pipe; a leftover child holding its write end must not hang us.
        _ = try await eventually(timeout: 10, interval: 0.02) { output.isFinished }
        return SandboxRun(status: status, output: output.text)
    }
}

/// The output a reader thread collects.
final class SandboxOutput: Sendable {
    private let state = Mutex((data: Data(), finished: false))

    func append(_ data: Data) { state.withLock { $0.data.append(data) } }
    func finish() { state.withLock { $0.finished = true } }
    var isFinished: Bool { state.withLock { $0.finished } }
    var text: String { String(decoding: state.withLock { $0.data }, as: UTF8.self) }
}
