import Foundation
import KubeTestServer
import XCTest
import Synchronization

/// Runs the real `kubectl` binary against a KubeTestServer, as a user would.
struct Kubectl {
    let kubeconfigPath: String

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/kubectl"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func make(server: KubeTestServer, token: String? = nil) throws -> Kubectl {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubectl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("kubeconfig").path
        try server.writeKubeconfig(to: path, token: token)
        return Kubectl(kubeconfigPath: path)
    }

    func process(_ args: [String]) throws -> Process {
        guard let binary = Kubectl.binary else {
            // The project's machines and CI have kubectl; its absence is a broken environment, not a pass.
            throw KubectlMissing()
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--kubeconfig", kubeconfigPath] + args
        var env = ProcessInfo.processInfo.environment
        // A clean cache per kubeconfig: kubectl caches discovery under $HOME/.kube/cache.
        env["KUBECACHEDIR"] = (kubeconfigPath as NSString).deletingLastPathComponent + "/cache"
        env.removeValue(forKey: "KUBECONFIG")
        p.environment = env
        return p
    }

    /// A kubectl process started in the background, its output collected as it arrives.
    struct Running {
        let process: Process
        let stdout: OutputBuffer
        let stderr: OutputBuffer
        let stdoutPipe: Pipe
        let stderrPipe: Pipe
        /// Signalled when the process exits.
        let exited: DispatchSemaphore

        func stop() {
            if process.isRunning { process.terminate() }
        }
    }

    /// Starts kubectl; `stdin` (if any) is written and closed at once.
    func start(_ args: [String], stdin: String? = nil) throws -> Running {
        let p = try process(args)
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        let exited = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in exited.signal() }
        let running = Running(process: p, stdout: OutputBuffer(), stderr: OutputBuffer(), stdoutPipe: out, stderrPipe: err, exited: exited)
        running.stdout.attach(out)
        running.stderr.attach(err)
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        return running
    }

    /// Runs kubectl to completion (with a deadline) and returns its exit status and output.
    @discardableResult
    func run(_ args: [String], stdin: String? = nil, timeout: TimeInterval = 60) throws -> Result {
        let running = try start(args, stdin: stdin)
        let p = running.process
        if running.exited.wait(timeout: .now() + timeout) == .timedOut {
            p.terminate()
            XCTFail("kubectl \(args.joined(separator: " ")) did not finish within \(timeout)s; stderr: \(running.stderr.text)")
        }
        p.waitUntilExit()
        running.stdout.finish(running.stdoutPipe)
        running.stderr.finish(running.stderrPipe)
        return Result(status: p.terminationStatus, stdout: running.stdout.text, stderr: running.stderr.text)
    }

    /// Runs kubectl and fails the test unless it exits 0.
    @discardableResult
    func ok(_ args: [String], stdin: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try run(args, stdin: stdin)
        XCTAssertEqual(r.status, 0, "kubectl \(args.joined(separator: " ")) failed: \(r.stderr)", file: file, line: line)
        return r.stdout
    }
}

struct KubectlMissing: Error, CustomStringConvertible {
    var description: String { "kubectl is not on PATH: the end-to-end tests need it (apt-get install kubectl)" }
}

/// Collects a pipe's output as it arrives, so a long-running kubectl (`get -w`) can be read while it runs.
final class OutputBuffer: Sendable {
    private let data = Mutex(Data())

    func attach(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return }
            self?.data.withLock { $0.append(chunk) }
        }
    }

    func finish(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = (try? pipe.fileHandleForReading.readToEnd()) ?? nil
        if let rest { data.withLock { $0.append(rest) } }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Waits until the output satisfies `condition` or the deadline passes.
    func wait(timeout: TimeInterval = 20, until condition: (String) -> Bool) async -> Bool {
        await eventually(timeout: timeout) { condition(text) }
    }
}
