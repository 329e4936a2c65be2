import Foundation
import KubeCore
import Synchronization

/// What the exporter reports for one scrape target: requests per second, the share of them that
/// answer 5xx, and how long each takes (all land in one histogram bucket).
struct TrafficProfile: Sendable, Hashable {
    var requestsPerSecond: Double
    var errorRatio: Double
    var latencySeconds: Double

    static let healthy = TrafficProfile(requestsPerSecond: 100, errorRatio: 0.002, latencySeconds: 0.2)
}

/// A Prometheus exporter on 127.0.0.1 whose series the test controls: `http_requests_total{status}`
/// and `http_request_duration_seconds` (a histogram), one set per target path `/metrics/TARGET`.
/// Counters advance with the time between scrapes at the target's current profile, so rates in
/// Prometheus are exactly the profile's once the rate window holds only the new profile.
final class MetricsExporter: Sendable {
    static let buckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private struct Counters {
        var profile: TrafficProfile
        var updated: Date
        var ok: Double = 0
        var errors: Double = 0
        var bucketCounts: [Double] = Array(repeating: 0, count: MetricsExporter.buckets.count)
        var count: Double = 0
        var sum: Double = 0

        mutating func advance(to now: Date) {
            let n = max(0, now.timeIntervalSince(updated)) * profile.requestsPerSecond
            updated = now
            errors += n * profile.errorRatio
            ok += n * (1 - profile.errorRatio)
            for (i, le) in MetricsExporter.buckets.enumerated() where profile.latencySeconds <= le { bucketCounts[i] += n }
            count += n
            sum += n * profile.latencySeconds
        }
    }

    private let targets = Mutex<[String: Counters]>([:])
    private let listener: Int32
    let port: UInt16
    private let stopped = Mutex(false)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: actual.sin_port)
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    /// Sets (or starts) a target's profile; what was counted so far stays.
    func set(_ target: String, _ profile: TrafficProfile) {
        let now = Date()
        targets.withLock { all in
            if var counters = all[target] {
                counters.advance(to: now)
                counters.profile = profile
                all[target] = counters
            } else {
                all[target] = Counters(profile: profile, updated: now)
            }
        }
    }

    func stop() {
        stopped.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// The exposition text of one target.
    func exposition(_ target: String) -> String {
        let now = Date()
        guard let c = targets.withLock({ all -> Counters? in
            guard var counters = all[target] else { return nil }
            counters.advance(to: now)
            all[target] = counters
            return counters
        }) else { return "" }
        var lines = [
            "# TYPE http_requests_total counter",
            "http_requests_total{method=\"GET\",status=\"200\"} \(c.ok)",
            "http_requests_total{method=\"GET\",status=\"500\"} \(c.errors)",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for (i, le) in Self.buckets.enumerated() { lines.append("http_request_duration_seconds_bucket{le=\"\(le)\"} \(c.bucketCounts[i])") }
        lines.append("http_request_duration_seconds_bucket{le=\"+Inf\"} \(c.count)")
        lines.append("http_request_duration_seconds_sum \(c.sum)")
        lines.append("http_request_duration_seconds_count \(c.count)")
        return lines.joined(separator: "\n") + "\n"
    }

    private func serve() {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            if client < 0 { if stopped.withLock({ $0 }) { return } else { continue } }
            var buffer = [UInt8](repeating: 0, count: 8192)
            let n = recv(client, &buffer, buffer.count, 0)
            let request = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
            let path = request.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let target = path.hasPrefix("/metrics/") ? String(path.dropFirst("/metrics/".count)) : ""
            let body = exposition(target)
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            let bytes = Array((head + body).utf8)
            var sent = 0
            while sent < bytes.count {
                let w = bytes[sent...].withUnsafeBufferPointer { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { break }
                sent += w
            }
            close(client)
        }
    }
}

/// A throwaway Prometheus (Debian package `prometheus`) on 127.0.0.1 scraping the exporter every
/// second: one job per target, named after it and labelled `namespace`, as a ServiceMonitor would
/// label a Service's pods. Its TSDB lives in a temporary directory removed by `stop()`.
final class TestPrometheus: Sendable {
    struct Missing: Error, CustomStringConvertible { var description: String }

    let port: Int
    let directory: URL
    private let pid = Mutex<pid_t>(0)
    private let configPath: String

    var address: String { "http://127.0.0.1:\(port)" }

    static func binary(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw Missing(description: "\(name) not found; `make test` installs it (apt-get install --no-install-recommends prometheus)")
    }

    /// Runs `promtool test rules` on `tests` (promtool's test groups) against the rule file at
    /// `ruleFile`, writing the test file into `directory`.
    static func testRules(_ ruleFile: String, tests: JSONValue, in directory: URL) throws -> ProcessResult {
        let testFile = directory.appendingPathComponent("tests.json").path
        try JSONValue.object(["rule_files": [.string(ruleFile)], "evaluation_interval": "1m", "tests": tests])
            .serializedString().write(toFile: testFile, atomically: true, encoding: .utf8)
        return try ProcessRunner.run([try binary("promtool"), "test", "rules", testFile], environment: ["PATH": "/usr/bin:/bin"])
    }

    init(exporter: MetricsExporter, targets: [String], namespace: String = "default") throws {
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pynomaly-prom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        port = try TestPostgres.freePort()
        var config = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        for target in targets {
            config += """
              - job_name: "\(target)"
                metrics_path: /metrics/\(target)
                static_configs:
                  - targets: ["127.0.0.1:\(exporter.port)"]
                    labels:
                      namespace: "\(namespace)"

            """
        }
        configPath = directory.appendingPathComponent("prometheus.yml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    /// Starts the server (again, after `terminate`) on the same port and data, and waits until it is ready.
    func start() throws {
        let binary = try Self.binary("prometheus")
        let arguments = [binary, "--config.file=\(configPath)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
                         "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let log = directory.appendingPathComponent("prometheus.log").path
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child = pid_t()
        let spawned = posix_spawn(&child, binary, &actions, nil, argv, envp)
        guard spawned == 0 else { throw Missing(description: "cannot run prometheus: \(String(cString: strerror(spawned)))") }
        pid.withLock { $0 = child }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let (status, _) = try? httpGet(port: UInt16(port), path: "/-/ready"), status == 200 { return }
            usleep(100_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        terminate()
        throw Missing(description: "prometheus did not become ready in 30 s:\n\(text)")
    }

    /// Stops the server (SIGTERM, then waits), keeping its data for a later `start()`.
    func terminate() {
        let child = pid.withLock { value -> pid_t in defer { value = 0 }; return value }
        guard child > 0 else { return }
        kill(child, SIGTERM)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(15)
        while waitpid(child, &status, WNOHANG) == 0 {
            if Date() > deadline { kill(child, SIGKILL) }
            usleep(20_000)
        }
    }

    func stop() {
        terminate()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits until Prometheus has scraped every target at least `samples` times.
    func waitForSamples(_ targets: [String], samples: Int = 3, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let ready = targets.allSatisfy { target in
                let query = "count_over_time(up{job=\"\(target)\"}[1m])"
                let path = "/api/v1/query?query=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
                guard let (status, body) = try? httpGet(port: UInt16(port), path: path), status == 200,
                      let range = body.range(of: #""value":\[[0-9.]+,"([0-9]+)"\]"#, options: .regularExpression) else { return false }
                let digits = body[range].split(separator: "\"").dropLast().last.flatMap { Int($0) } ?? 0
                return digits >= samples
            }
            if ready { return }
            usleep(200_000)
        }
        throw Missing(description: "prometheus did not scrape \(targets) \(samples) times within \(timeout) s")
    }
}
