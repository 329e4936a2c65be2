import ArgumentParser
import Foundation
import KubeCore

/// The operator as the sandbox's child process: found next to the sandbox, started against the
/// embedded server with its output prefixed "operator |", and stopped with SIGTERM.
extension Sandbox {
    /// The pynomaly-operator binary that was built next to this one.
    func operatorBinary() throws -> URL {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let binary = here.appendingPathComponent("pynomaly-operator")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw ValidationError("pynomaly-operator is not built next to pynomaly-sandbox (\(binary.path)); run `swift build` first")
        }
        return binary
    }

    /// Runs the operator binary with our own standard output (preflight) and answers its exit status.
    func runOperatorToCompletion(_ args: [String]) async throws -> Int32 {
        let process = Process()
        process.executableURL = try operatorBinary()
        process.arguments = args
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }

    /// Starts `pynomaly-operator run`; its output is printed line by line with an "operator | " prefix,
    /// and its exit becomes an event.
    func startOperator(kubeconfigPath: String, eventSink: AsyncStream<SandboxEvent>.Continuation) throws -> Process {
        let process = Process()
        process.executableURL = try operatorBinary()
        process.arguments = ["run", "--kubeconfig", kubeconfigPath,
                             "--metrics-bind-address", metricsBindAddress,
                             "--health-probe-bind-address", healthProbeBindAddress,
                             "--log-format", "text"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { finished in
            // Let the reader print the operator's last lines before its exit is reported.
            _ = exited.wait(timeout: .now() + 2)
            eventSink.yield(.operatorExited(finished.terminationStatus, finished.terminationReason))
        }
        try process.run()
        // A thread of its own drains the pipe: a full pipe would block the operator's logging.
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread {
            var splitter = LineSplitter()
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                for line in (try? splitter.feed(data)) ?? [] {
                    say("operator | " + String(decoding: line, as: UTF8.self))
                }
            }
            if let last = splitter.finish() { say("operator | " + String(decoding: last, as: UTF8.self)) }
            exited.signal()
        }
        return process
    }

    /// SIGTERM, then up to 35 s for the operator's graceful shutdown (its default grace is 30 s),
    /// then SIGKILL.
    func stopOperator(_ process: Process) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(35)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            say("pynomaly-sandbox: the operator did not stop within 35 s; killing it")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        say("pynomaly-sandbox: the operator stopped (\(describe(status: process.terminationStatus, reason: process.terminationReason)))")
    }

    func describe(status: Int32, reason: Process.TerminationReason) -> String {
        reason == .uncaughtSignal ? "killed by signal \(status)" : "exit status \(status)"
    }
}
