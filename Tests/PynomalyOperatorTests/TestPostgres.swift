import Foundation
import Testing

/// The outcome of a finished process.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

/// A process run that fails the test with its output when it exits non-zero (`check: true`).
struct ProcessFailed: Error, CustomStringConvertible {
    var command: [String]
    var result: ProcessResult
    var description: String { "\(command.joined(separator: " ")) exited \(result.status):\n\(result.output)" }
}

enum ProcessRunner {
    struct SpawnFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments[0]` (a path) with the rest as arguments and exactly `environment` (nothing
    /// inherited); kills it after `timeout` seconds. Output goes to files, not pipes: `pg_ctl start`
    /// leaves a server holding its output descriptors. posix_spawn + waitpid rather than Foundation's
    /// Process, whose exit notification can stall while the test runner's threads are busy.
    static func run(_ arguments: [String], environment: [String: String], check: Bool = false, timeout: Double = 120) throws -> ProcessResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("out").path, errPath = scratch.appendingPathComponent("err").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else { throw SpawnFailed(description: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))") }

        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { throw SpawnFailed(description: "waitpid: \(String(cString: strerror(errno)))") }
            if !timedOut && Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(5_000)
        }
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        var result = ProcessResult(
            status: exitStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
        if timedOut { result.stderr += "\n[killed after \(timeout) s]" }
        if check && result.status != 0 { throw ProcessFailed(command: arguments, result: result) }
        return result
    }
}

/// A throwaway PostgreSQL 15 server on 127.0.0.1 for one test: its own data directory and port,
/// password (scram) authentication on TCP so `PGPASSWORD` really matters, unix sockets only in its
/// directory. `TestPostgres.with { pg in … }` starts it and always stops it (`pg_ctl stop -m fast`).
struct TestPostgres: Sendable {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    static let superuser = "postgres"
    let binDir: String
    let directory: URL
    let port: Int
    let password: String
    /// Run the server tools as the `postgres` user (postgres refuses to run as root).
    let asPostgresUser: Bool

    var dataDir: String { directory.appendingPathComponent("data").path }
    var socketDir: String { directory.appendingPathComponent("sock").path }

    /// The directory holding initdb, pg_ctl, pg_dump, … (PostgreSQL 15 from Debian).
    static func findBinDir() throws -> String {
        let debian = "/usr/lib/postgresql/15/bin"
        if FileManager.default.isExecutableFile(atPath: "\(debian)/initdb") { return debian }
        for candidate in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where FileManager.default.isExecutableFile(atPath: candidate) {
            if let result = try? ProcessRunner.run([candidate, "--bindir"], environment: [:]), result.status == 0 {
                let dir = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") { return dir }
            }
        }
        throw Missing(description: "PostgreSQL 15 server binaries (initdb, pg_ctl) not found in \(debian) or `pg_config --bindir`; "
                      + "`make test` installs postgresql-15 (apt-get install postgresql-15)")
    }

    /// Starts a server, runs `body`, stops the server.
    static func with<T>(_ body: (TestPostgres) throws -> T) throws -> T {
        let pg = try start()
        defer { pg.stop() }
        return try body(pg)
    }

    static func start() throws -> TestPostgres {
        let binDir = try findBinDir()
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pynomaly-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("sock"), withIntermediateDirectories: true)
        let password = "pw-\(UUID().uuidString)"
        let passwordFile = directory.appendingPathComponent("pwfile")
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        let asPostgres = geteuid() == 0
        if asPostgres {
            _ = try ProcessRunner.run(["/bin/chown", "-R", "postgres:postgres", directory.path], environment: [:], check: true)
        }
        // A port free now; another process could take it before the server binds, so retry a few times.
        var lastError: Error?
        for _ in 0..<5 {
            let pg = TestPostgres(binDir: binDir, directory: directory, port: try freePort(), password: password, asPostgresUser: asPostgres)
            do {
                if !FileManager.default.fileExists(atPath: pg.dataDir) {
                    _ = try pg.tool("initdb", ["-D", pg.dataDir, "-U", superuser, "--pwfile=\(passwordFile.path)", "-E", "UTF8", "--locale=C",
                                               "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"], check: true)
                }
                let options = "-c listen_addresses=127.0.0.1 -p \(pg.port) -c unix_socket_directories=\(pg.socketDir) -c fsync=off"
                _ = try pg.tool("pg_ctl", ["-D", pg.dataDir, "-l", directory.appendingPathComponent("server.log").path,
                                            "-w", "-t", "30", "-o", options, "start"], check: true)
                return pg
            } catch {
                lastError = error
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError ?? Missing(description: "PostgreSQL did not start")
    }

    /// Stops the server and removes its directory.
    func stop() {
        _ = try? tool("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a server tool from `binDir`, as the postgres user when we are root.
    func tool(_ name: String, _ arguments: [String], check: Bool = false) throws -> ProcessResult {
        let path = "\(binDir)/\(name)"
        let env = ["PATH": "\(binDir):/usr/bin:/bin", "LC_ALL": "C"]
        if asPostgresUser {
            return try ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", path] + arguments, environment: env, check: check)
        }
        return try ProcessRunner.run([path] + arguments, environment: env, check: check)
    }

    /// The libpq environment of a TCP connection as the superuser (password authentication).
    var clientEnvironment: [String: String] {
        ["PGHOST": "127.0.0.1", "PGPORT": String(port), "PGUSER": Self.superuser, "PGPASSWORD": password,
         "PGSSLMODE": "disable", "PATH": "\(binDir):/usr/bin:/bin", "HOME": directory.path, "LC_ALL": "C"]
    }

    /// Runs SQL with psql in `database` (any name: passed as a quoted conninfo value), stopping at
    /// the first error; returns the unaligned, tuples-only output.
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") throws -> String {
        let result = try ProcessRunner.run(
            ["\(binDir)/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "dbname=\(Self.conninfoQuoted(database))", "-c", sql],
            environment: clientEnvironment, check: true)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A libpq conninfo value in single quotes (backslash and quote escaped).
    static func conninfoQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// An SQL identifier in double quotes.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Missing(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Missing(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Missing(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
