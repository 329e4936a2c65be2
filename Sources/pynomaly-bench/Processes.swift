import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds (CLOCK_MONOTONIC): every timestamp the bench compares comes from here.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Writes a line straight to standard output, unbuffered.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Why the bench stopped.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A child process (the API server or the operator) whose output goes to a log file.
final class Child: Sendable {
    let process: Process
    let logPath: String
    /// When `run()` was called (monotonic seconds).
    let spawnedAt: Double

    init(_ binary: String, _ arguments: [String], environment extra: [String: String] = [:], logPath: String) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("\(binary) is not built (scripts/bench.sh builds it)")
        }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw BenchError("cannot write \(logPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !extra.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        self.process = process
        self.logPath = logPath
        spawnedAt = monotonicSeconds()
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `fragment`.
    func waitForOutput(_ fragment: String, timeout: Double) async throws {
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            if output.contains(fragment) { return }
            guard process.isRunning else { throw BenchError("\(process.executableURL?.lastPathComponent ?? "?") exited; see \(logPath)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("no \"\(fragment)\" in \(logPath) within \(timeout) s")
    }

    /// SIGTERM, up to `grace` seconds, then SIGKILL.
    func stop(grace: Double = 40) async {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicSeconds() + grace
        while process.isRunning, monotonicSeconds() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// The variables the image's runtime stage sets (`ENV KEY=VALUE` after the Dockerfile's last `FROM`),
/// so the operator is measured in the environment it ships with. Empty when there is no Dockerfile.
func imageEnvironment(dockerfile: String = "Dockerfile") -> [String: String] {
    guard let text = try? String(contentsOfFile: dockerfile, encoding: .utf8) else { return [:] }
    var environment: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let words = line.split(separator: " ")
        guard let instruction = words.first else { continue }
        if instruction == "FROM" { environment = [:] }
        guard instruction == "ENV" else { continue }
        for pair in words.dropFirst() {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            environment[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
    }
    return environment
}

/// Memory and CPU of a process, read from /proc.
struct ProcessSample: Sendable {
    /// VmRSS and VmHWM in KiB.
    var rssKiB: Int
    var peakRSSKiB: Int
    /// RssAnon: the part of VmRSS that is the process's own memory (heap, stacks, written pages),
    /// not shared code and libraries.
    var anonymousRSSKiB: Int = 0
    /// utime + stime in seconds.
    var cpuSeconds: Double

    static func read(pid: Int32) throws -> ProcessSample {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kib(_ key: String) -> Int {
            for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
                return Int(line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
            }
            return 0
        }
        // /proc/PID/stat: "pid (comm) state ..."; utime and stime are fields 14 and 15, i.e. the
        // 12th and 13th after the closing parenthesis (comm may contain spaces).
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw BenchError("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else {
            throw BenchError("unreadable /proc/\(pid)/stat")
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessSample(rssKiB: kib("VmRSS"), peakRSSKiB: kib("VmHWM"), anonymousRSSKiB: kib("RssAnon"), cpuSeconds: (utime + stime) / ticks)
    }
}

/// A free loopback TCP port (bound to port 0, then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A plain-HTTP GET on loopback (the operator's /metrics and /readyz): status and body, nil when
/// nothing answers.
func httpGet(port: Int, path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
          let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}
