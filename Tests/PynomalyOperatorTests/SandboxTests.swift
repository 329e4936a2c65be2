import Foundation
import OperatorTestSupport
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
    /// Pods that take 0.5 s to start roll out without ProgressDeadlineExceeded: the simulated
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

/// The Dockerfile builds from a clean clone: every file it copies from the build context is
/// committed (not generated, not ignored) and admitted by `.dockerignore`. Docker does not run on the
/// project's machines, so this is a static check of the two files.
@Suite struct DockerfileTests {
    /// The context paths of every `COPY`/`ADD` without `--from` (flags dropped; the last word is the destination).
    static func contextSources(ofDockerfile text: String) -> [String] {
        var sources: [String] = []
        // Continuation lines belong to their instruction.
        let joined = text.replacingOccurrences(of: "\\\n", with: " ")
        for line in joined.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let instruction = words.first?.uppercased(), instruction == "COPY" || instruction == "ADD" else { continue }
            let arguments = words.dropFirst()
            if arguments.contains(where: { $0.hasPrefix("--from") }) { continue }
            let paths = arguments.filter { !$0.hasPrefix("--") }
            sources += paths.dropLast().map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : $0 }
        }
        return sources
    }

    /// Whether `.dockerignore` (an exclude-all list with `!` exceptions, as this project's is) admits `path`.
    static func admitted(_ path: String, byDockerignore text: String) -> Bool {
        var included = true
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let negated = line.hasPrefix("!")
            var pattern = negated ? String(line.dropFirst()) : line
            if pattern.hasSuffix("/") { pattern.removeLast() }
            if pattern == "*" || pattern == trimmed || trimmed.hasPrefix(pattern + "/") { included = negated }
        }
        return included
    }

    static func git(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", repositoryRoot.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func parsesCopySources() {
        let text = """
            COPY Package.swift Package.resolved ./
            COPY --chown=1:1 Sources ./Sources
            ADD ./crds \\
                /crds
            COPY --from=build /out/x /usr/local/bin/x
            RUN echo COPY nothing
            """
        #expect(Self.contextSources(ofDockerfile: text) == ["Package.swift", "Package.resolved", "Sources", "crds"])
        let ignore = "*\n!Package.swift\n!Sources/\n"
        #expect(Self.admitted("Package.swift", byDockerignore: ignore))
        #expect(Self.admitted("Sources", byDockerignore: ignore))
        #expect(!Self.admitted("Package.resolved", byDockerignore: ignore))
    }

    @Test func everyCopySourceIsInACleanCloneAndInTheContext() throws {
        let dockerfile = try String(contentsOf: repositoryRoot.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let dockerignore = try String(contentsOf: repositoryRoot.appendingPathComponent(".dockerignore"), encoding: .utf8)
        let sources = Self.contextSources(ofDockerfile: dockerfile)
        #expect(sources.contains("Package.swift") && sources.contains("Sources"), "\(sources)")
        try #require(try Self.git(["rev-parse", "--is-inside-work-tree"]).status == 0, "needs the git checkout")
        for source in sources {
            // Tracked files only: a generated or ignored file is missing from a clean clone.
            let tracked = try Self.git(["ls-files", "--", source]).output
            #expect(!tracked.isEmpty, "COPY \(source): not committed, so `docker build` fails on a clean clone")
            #expect(Self.admitted(source, byDockerignore: dockerignore), "COPY \(source): excluded by .dockerignore")
        }
    }
}
