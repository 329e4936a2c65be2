import Foundation
import KubeCore
import PynomalyOperator
import Testing

/// Runs a built container the way the kubelet would, on this machine: exactly its `command` +
/// `args`, and exactly its `env` (nothing inherited from the test process), with `secretKeyRef`
/// values resolved from `secrets` (Secret name → key → value).
///
/// The one translation: each volume mount is a host directory (`volumes`: volume name → directory),
/// and an env value equal to a mount path, or under one, is rewritten to the host directory, as if
/// the directory were mounted there. `PATH` is the image's business, not the pod spec's: it is set to
/// the PostgreSQL 15 tools (the postgres image has its tools on PATH). Nothing else is changed, so a
/// test proves what the pod spec does.
struct PodCommandRunner {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var secrets: [String: [String: String]]
    var volumes: [String: URL]
    var binDir: String

    func run(_ container: Container) throws -> ProcessResult {
        var mountMap: [(mountPath: String, host: String)] = []
        for mount in container.volumeMounts ?? [] {
            guard let host = volumes[mount.name] else { throw Failure(description: "no host directory for volume \(mount.name)") }
            mountMap.append((mount.mountPath, host.path))
        }
        var environment = ["PATH": "\(binDir):/usr/bin:/bin"]
        for variable in container.env ?? [] {
            if let ref = variable.valueFrom?.secretKeyRef {
                // The kubelet refuses to start a container whose Secret key is missing.
                guard let name = ref.name, let value = secrets[name]?[ref.key] else {
                    throw Failure(description: "secret \(ref.name ?? "?")/\(ref.key) for \(variable.name) not found")
                }
                environment[variable.name] = value
            } else if variable.valueFrom != nil {
                throw Failure(description: "unsupported valueFrom for \(variable.name)")
            } else {
                environment[variable.name] = translate(variable.value ?? "", mountMap)
            }
        }
        let argv = (container.command ?? []) + (container.args ?? [])
        guard !argv.isEmpty else { throw Failure(description: "container \(container.name) has no command") }
        return try ProcessRunner.run(argv, environment: environment)
    }

    func translate(_ value: String, _ mounts: [(mountPath: String, host: String)]) -> String {
        for (mountPath, host) in mounts {
            if value == mountPath { return host }
            if value.hasPrefix(mountPath + "/") { return host + value.dropFirst(mountPath.count) }
        }
        return value
    }
}

/// backup.sh, maintenance.sh and restore.sh run for real against a PostgreSQL 15 server on loopback,
/// with exactly the command and environment the builders put into the pod specs.
@Suite("DatabaseScripts")
struct DatabaseScriptTests {
    static let secretName = "pynomaly-secret", secretKey = "database-password"
    /// A scheduled backup file name of the `pynomaly` deployment.
    static func isScheduled(_ name: String) -> Bool { name.wholeMatch(of: #/pynomaly-[0-9]{8}T[0-9]{6}Z\.dump/#) != nil }

    /// One test's world: a server, a database, the backup volume and scratch directories.
    struct World {
        var pg: TestPostgres
        var database: String
        var ctx: BuildContext
        var backups: URL
        var scratch: URL
        var runner: PodCommandRunner

        func files() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: backups.path).sorted()
        }

        func run(_ job: Job?) throws -> ProcessResult {
            let container = try #require(job?.spec?.template.spec?.containers.first)
            return try runner.run(container)
        }

        func run(_ cronJob: CronJob?) throws -> ProcessResult {
            let container = try #require(cronJob?.spec?.jobTemplate.spec?.template.spec?.containers.first)
            return try runner.run(container)
        }

        func restore(file: String? = nil, latest: Bool? = nil) -> PynomalyRestore {
            PynomalyRestore(metadata: ObjectMeta(name: "pynomaly-restore", namespace: "pynomaly"),
                            spec: PynomalyRestoreSpec(deploymentName: ctx.name, backupFile: file, latest: latest))
        }

        /// Sets a file's mtime with `touch -d`.
        func age(_ name: String, days: Int) throws {
            _ = try ProcessRunner.run(["/usr/bin/touch", "-d", "\(days) days ago", backups.appendingPathComponent(name).path],
                                      environment: [:], check: true)
        }
    }

    /// Starts a server, creates `database`, builds the context from pynomaly-backup.yaml pointed at
    /// it (password through the Secret), runs `body`, cleans up.
    static func withWorld(database: String = "appdb", password: String? = nil, _ body: (World) throws -> Void) throws {
        try TestPostgres.with { pg in
            try pg.psql("CREATE DATABASE \(TestPostgres.quoteIdentifier(database))")
            var cr = try APIFixtures.sampleDeployment("pynomaly-backup.yaml")
            cr.spec.database?.host = "127.0.0.1"
            cr.spec.database?.port = Int32(pg.port)
            cr.spec.database?.name = database
            cr.spec.database?.user = TestPostgres.superuser
            cr.spec.database?.sslMode = .disable
            let ctx = BuildContext(cr: cr)
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("pynomaly-scripts-\(UUID().uuidString.prefix(8))")
            let backups = root.appendingPathComponent("backups"), scratch = root.appendingPathComponent("tmp")
            try FileManager.default.createDirectory(at: backups, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            let runner = PodCommandRunner(
                secrets: [secretName: [secretKey: password ?? pg.password]],
                volumes: [DatabaseJobTemplate.backupVolume: backups, DatabaseJobTemplate.tmpVolume: scratch],
                binDir: pg.binDir)
            try body(World(pg: pg, database: database, ctx: ctx, backups: backups, scratch: scratch, runner: runner))
        }
    }

    // MARK: 1. Backup

    @Test func scheduledBackupWritesARestorableDump() throws {
        try Self.withWorld { w in
            try w.pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two')", database: w.database)
            let hadTerminationLog = FileManager.default.fileExists(atPath: "/dev/termination-log")
            let result = try w.run(BackupCronJobBuilder.build(w.ctx))
            #expect(result.status == 0, "\(result.output)")
            // The script writes the termination log only when the kubelet provides it; never creates it.
            #expect(FileManager.default.fileExists(atPath: "/dev/termination-log") == hadTerminationLog)
            let files = try w.files()
            #expect(files.count == 1, "\(files)")
            let file = try #require(files.first)
            #expect(Self.isScheduled(file), "\(file)")
            #expect(result.stdout.contains("wrote \(file)"))
            // pg_restore can read it and it holds the table.
            let list = try ProcessRunner.run(["\(w.pg.binDir)/pg_restore", "--list", w.backups.appendingPathComponent(file).path],
                                             environment: w.pg.clientEnvironment, check: true)
            #expect(list.stdout.contains("TABLE public items"))
        }
    }

    @Test func onDemandBackupRunsTheSameScript() throws {
        try Self.withWorld { w in
            let result = try w.run(BackupCronJobBuilder.onDemandJob(w.ctx, token: "1767225600"))
            #expect(result.status == 0, "\(result.output)")
            #expect(try w.files().count == 1)
            #expect(try w.files().allSatisfy { Self.isScheduled($0) })
        }
    }

    // MARK: 2. Pruning

    @Test func pruningRemovesOnlyOldScheduledFilesOfThisDeployment() throws {
        try Self.withWorld { w in
            let old = "pynomaly-20200101T020000Z.dump", recent = "pynomaly-20200102T020000Z.dump"
            let others = ["other-20200101T020000Z.dump", "pynomaly-20200101T020000Z-emergency.dump", "pynomaly-extra-20200101T020000Z.dump",
                          "pynomaly-2020010T020000Z.dump", "pynomaly-20200101T020000Z.dump.bak", "notes.txt"]
            for name in [old, recent] + others {
                try Data("x".utf8).write(to: w.backups.appendingPathComponent(name))
                try w.age(name, days: 30)
            }
            try w.age(recent, days: 6)  // retentionDays is 7
            let result = try w.run(BackupCronJobBuilder.build(w.ctx))
            #expect(result.status == 0, "\(result.output)")
            let files = try w.files()
            #expect(!files.contains(old))
            #expect(files.contains(recent))
            for name in others { #expect(files.contains(name), "\(name) must not be pruned") }
            #expect(result.stdout.contains("pruned \(old)"))
            // The new dump is there as well, and no partial file is left.
            #expect(files.filter { Self.isScheduled($0) }.count == 2)
            #expect(!files.contains { $0.hasPrefix(".") })
        }
    }

    @Test func emergencyBackupWritesItsNameAndPrunesNothing() throws {
        try Self.withWorld { w in
            let old = "pynomaly-20200101T020000Z.dump"
            try Data("x".utf8).write(to: w.backups.appendingPathComponent(old))
            try w.age(old, days: 30)
            let name = RestoreJobBuilder.emergencyFileName(deployment: w.ctx.name, at: Date())
            let result = try w.run(RestoreJobBuilder.emergencyBackupJob(w.ctx, restore: w.restore(latest: true), fileName: name))
            #expect(result.status == 0, "\(result.output)")
            #expect(try w.files() == [old, name].sorted())
        }
    }

    // MARK: 3. Maintenance

    @Test func maintenanceRunsVacuumAnalyze() throws {
        try Self.withWorld { w in
            try w.pg.psql("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)", database: w.database)
            let result = try w.run(MaintenanceCronJobBuilder.build(w.ctx))
            #expect(result.status == 0, "\(result.output)")
            // VACUUM ANALYZE ran on that database: the table has been vacuumed and analyzed.
            let stats = try w.pg.psql("SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 't'",
                                      database: w.database)
            #expect(stats == "t|t")
        }
    }

    // MARK: 4. Restore

    @Test func restoreFromFileBringsBackADroppedTable() throws {
        try Self.withWorld { w in
            try w.pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two')", database: w.database)
            let backup = try w.run(BackupCronJobBuilder.build(w.ctx))
            #expect(backup.status == 0, "\(backup.output)")
            let file = try #require(try w.files().first)
            try w.pg.psql("DROP TABLE items", database: w.database)
            let result = try w.run(RestoreJobBuilder.restoreJob(w.ctx, restore: w.restore(file: file)))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("restored \(file)"))
            #expect(try w.pg.psql("SELECT string_agg(name, ',' ORDER BY id) FROM items", database: w.database) == "one,two")
        }
    }

    @Test func restoreLatestPicksTheNewestScheduledFile() throws {
        try Self.withWorld { w in
            try w.pg.psql("CREATE TABLE state (v text); INSERT INTO state VALUES ('first')", database: w.database)
            #expect(try w.run(BackupCronJobBuilder.build(w.ctx)).status == 0)
            let first = try #require(try w.files().first)
            // An older name for the first dump: a later timestamp in the name is what makes a file newer.
            let older = "pynomaly-20200101T020000Z.dump"
            try FileManager.default.moveItem(at: w.backups.appendingPathComponent(first), to: w.backups.appendingPathComponent(older))

            try w.pg.psql("UPDATE state SET v = 'second'", database: w.database)
            #expect(try w.run(BackupCronJobBuilder.build(w.ctx)).status == 0)
            let newest = try #require(try w.files().first { $0 != older && Self.isScheduled($0) })

            // Candidates that sort after the newest but must never be chosen: an emergency backup
            // (of a third state), another deployment's file, a hidden partial file.
            try w.pg.psql("UPDATE state SET v = 'third'", database: w.database)
            let emergency = "pynomaly-29991231T235959Z-emergency.dump"
            #expect(try w.run(RestoreJobBuilder.emergencyBackupJob(w.ctx, restore: w.restore(latest: true), fileName: emergency)).status == 0)
            try FileManager.default.copyItem(at: w.backups.appendingPathComponent(emergency), to: w.backups.appendingPathComponent("pynomaly-x-29991231T235959Z.dump"))
            try FileManager.default.copyItem(at: w.backups.appendingPathComponent(emergency), to: w.backups.appendingPathComponent(".pynomaly-29991231T235959Z.dump.partial"))

            try w.pg.psql("UPDATE state SET v = 'broken'", database: w.database)
            let result = try w.run(RestoreJobBuilder.restoreJob(w.ctx, restore: w.restore(latest: true)))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("restored \(newest)"))
            #expect(try w.pg.psql("SELECT v FROM state", database: w.database) == "second")
        }
    }

    @Test func restoreLatestWithoutBackupsFails() throws {
        try Self.withWorld { w in
            try Data("x".utf8).write(to: w.backups.appendingPathComponent("pynomaly-20200101T020000Z-emergency.dump"))
            let result = try w.run(RestoreJobBuilder.restoreJob(w.ctx, restore: w.restore(latest: true)))
            #expect(result.status != 0)
            #expect(result.stderr.contains("no backup file"))
        }
    }

    // MARK: 5. Hostile values

    /// A database name with quotes, a semicolon, `$(…)`, backticks, `=` and a backslash is only ever
    /// a name: backup and restore work on exactly that database, and nothing it spells out runs.
    @Test func hostileDatabaseNameIsOnlyAName() throws {
        let marker = "/tmp/pw\(UUID().uuidString.prefix(4))"
        let hostile = "x'; $(touch \(marker)a) \"; `touch \(marker)b` y=z \\"
        #expect(hostile.utf8.count < 64)  // a PostgreSQL identifier
        try Self.withWorld(database: hostile) { w in
            #expect(w.ctx.spec.database?.name == hostile)
            try w.pg.psql("CREATE TABLE items (id int); INSERT INTO items VALUES (7)", database: hostile)
            // A decoy: if the name were read as a connection string ('y=z'), or cut at a quote
            // ('x'), a script would reach another database.
            try w.pg.psql("CREATE DATABASE x")
            try w.pg.psql("CREATE DATABASE z")

            let backup = try w.run(BackupCronJobBuilder.build(w.ctx))
            #expect(backup.status == 0, "\(backup.output)")
            let file = try #require(try w.files().first)
            let list = try ProcessRunner.run(["\(w.pg.binDir)/pg_restore", "--list", w.backups.appendingPathComponent(file).path],
                                             environment: w.pg.clientEnvironment, check: true)
            #expect(list.stdout.contains("TABLE public items"))

            try w.pg.psql("DROP TABLE items", database: hostile)
            let restore = try w.run(RestoreJobBuilder.restoreJob(w.ctx, restore: w.restore(file: file)))
            #expect(restore.status == 0, "\(restore.output)")
            #expect(try w.pg.psql("SELECT id FROM items", database: hostile) == "7")

            let maintenance = try w.run(MaintenanceCronJobBuilder.build(w.ctx))
            #expect(maintenance.status == 0, "\(maintenance.output)")

            // Nothing happened to the decoys.
            #expect(try w.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database: "x") == "0")
            #expect(try w.pg.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database: "z") == "0")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(marker)a"))
        #expect(!FileManager.default.fileExists(atPath: "\(marker)b"))
    }

    @Test func hostileBackupFileIsRefused() throws {
        try Self.withWorld { w in
            // A real dump outside the volume, and a hidden one inside: neither may be restored.
            try w.pg.psql("CREATE TABLE items (id int)", database: w.database)
            #expect(try w.run(BackupCronJobBuilder.build(w.ctx)).status == 0)
            let file = try #require(try w.files().first)
            try FileManager.default.copyItem(at: w.backups.appendingPathComponent(file), to: w.scratch.appendingPathComponent("outside.dump"))
            try FileManager.default.copyItem(at: w.backups.appendingPathComponent(file), to: w.backups.appendingPathComponent(".hidden.dump"))
            try FileManager.default.createSymbolicLink(at: w.backups.appendingPathComponent("link.dump"),
                                                       withDestinationURL: w.scratch.appendingPathComponent("outside.dump"))
            try FileManager.default.createDirectory(at: w.backups.appendingPathComponent("dir.dump"), withIntermediateDirectories: true)
            try w.pg.psql("DROP TABLE items", database: w.database)

            for hostile in ["../tmp/outside.dump", w.scratch.appendingPathComponent("outside.dump").path, ".hidden.dump", "link.dump",
                            "dir.dump", "missing.dump", ".", ".."] {
                let result = try w.run(RestoreJobBuilder.restoreJob(w.ctx, restore: w.restore(file: hostile)))
                #expect(result.status != 0, "\(hostile) was accepted: \(result.output)")
                #expect(result.stderr.contains("restore: "), "\(hostile): \(result.output)")
                #expect(!result.stdout.contains("restored"))
            }
            // Nothing was restored.
            #expect(try w.pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'", database: w.database) == "0")
        }
    }

    // MARK: 6. Password

    @Test func wrongPasswordFailsAndLeavesNoFile() throws {
        try Self.withWorld(password: "not-the-password") { w in
            let backup = try w.run(BackupCronJobBuilder.build(w.ctx))
            #expect(backup.status != 0)
            #expect(backup.stderr.contains("password authentication failed"), "\(backup.output)")
            #expect(try w.files() == [], "a failed dump leaves neither a backup nor a partial file")

            let maintenance = try w.run(MaintenanceCronJobBuilder.build(w.ctx))
            #expect(maintenance.status != 0)
            #expect(maintenance.stderr.contains("password authentication failed"), "\(maintenance.output)")
        }
    }
}
