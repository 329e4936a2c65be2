import Foundation

/// Facts about the machine a run came from.
struct MachineFacts: Codable, Sendable {
    var nproc: Int
    var memoryMiB: Int
    var cpuModel: String
    var kernel: String
    var swiftVersion: String
    var gitCommit: String
    var gitDirty: Bool

    static func collect() -> MachineFacts {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let kernel = ((try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let swift = run(["swift", "--version"]).split(separator: "\n").first.map(String.init) ?? "unknown"
        let commit = run(["git", "rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let dirty = !run(["git", "status", "--porcelain", "--untracked-files=no"]).isEmpty
        return MachineFacts(nproc: ProcessInfo.processInfo.activeProcessorCount,
                            memoryMiB: Int(ProcessInfo.processInfo.physicalMemory / (1 << 20)),
                            cpuModel: model, kernel: kernel, swiftVersion: swift,
                            gitCommit: commit.isEmpty ? "unknown" : commit, gitDirty: dirty)
    }

    /// Standard output (and error) of a command found on PATH; empty when it cannot run.
    static func run(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : ""
    }
}

/// One line of the table: a figure, its target and whether it was reached (nil: no target).
struct Figure: Codable, Sendable {
    var name: String
    var value: String
    var target: String
    var pass: Bool?
}

struct BenchResults: Codable, Sendable {
    struct Settings: Codable, Sendable {
        var qps: Double
        var burst: Int
        var resyncPeriod: Double
        var maxConcurrentReconciles: Int
        var counts: [Int]
        var latencySamples: Int
        var launches: Int
    }

    var machine: MachineFacts
    var date: String
    var quick: Bool
    var settings: Settings
    var idle: IdleResult
    var start: StartResult
    var converge: [ConvergeResult]
    var wallSeconds: Double
    var figures: [Figure] = []

    /// The table: every figure beside its target, so a run reads as PASS/MISS at a glance.
    func rows() -> [Figure] {
        var rows: [Figure] = []
        rows.append(Figure(name: "operator RSS idle (no CRs)", value: String(format: "%.1f MiB (anonymous %.1f)", idle.rssMiB, idle.anonymousRSSMiB),
                           target: "≤ 15 MiB", pass: idle.rssMiB <= 15))
        rows.append(Figure(name: "operator binary size", value: String(format: "%.1f MiB", idle.binaryMiB), target: "—", pass: nil))
        rows.append(Figure(name: "operator spawn → /readyz (no CRs)", value: String(format: "%.0f ms", idle.secondsToReady * 1000),
                           target: "—", pass: nil))
        for c in converge {
            // The targets of the lean-operator work: 20 MiB at 100 CRs, 40 MiB at 1,000 (none between).
            let memoryTarget: Double? = c.count == 100 ? 20 : c.count == 1000 ? 40 : nil
            rows.append(Figure(name: "operator RSS, \(c.count) CRs converged (peak)",
                               value: String(format: "%.1f MiB (%.1f)", c.rssMiB, c.peakRSSMiB),
                               target: memoryTarget.map { String(format: "≤ %.0f MiB", $0) } ?? "—", pass: memoryTarget.map { c.rssMiB <= $0 }))
            rows.append(Figure(name: "converge \(c.count) new CRs / raw \(c.rawWrites) writes",
                               value: String(format: "%.1f s / %.1f s = %.2f×", c.convergeSeconds, c.rawSeconds, c.ratioToRaw),
                               target: "≤ 1.5×", pass: c.ratioToRaw <= 1.5))
            rows.append(Figure(name: "writes per new CR, Events included (\(c.count) CRs)", value: String(format: "%.1f", c.writesPerCR),
                               target: "≤ 7", pass: c.writesPerCR <= 7))
            let writesBesideEvents = c.writesPerImageChange - c.eventsPerImageChange
            rows.append(Figure(name: "writes per image change, rolling, no HPA (\(c.count) CRs)",
                               value: String(format: "%.1f + %.1f Events", writesBesideEvents, c.eventsPerImageChange),
                               target: "≤ 3 + Events", pass: writesBesideEvents <= 3))
            rows.append(Figure(name: "requests per reconcile (\(c.count) CRs converging)",
                               value: String(format: "%.2f (%d / %d; %.1f writes per CR, %.0f objects per CR, %d × 409)",
                                             c.requestsPerReconcile, c.requests, c.reconciles, c.writesPerCR, c.ownedObjectsPerCR, c.conflicts),
                               target: "—", pass: nil))
            rows.append(Figure(name: "writes per converged resync (\(c.count) CRs)",
                               value: "\(c.resyncWrites) (\(c.resyncReconciles) reconciles)", target: "0", pass: c.resyncWrites == 0))
            if let p50 = c.latencyP50Ms, let p99 = c.latencyP99Ms {
                rows.append(Figure(name: "spec change → Deployment patch p50 / p99 (\(c.count) CRs, \(c.latencySamplesMs.count) samples)",
                                   value: String(format: "%.1f / %.1f ms", p50, p99), target: "p99 ≤ 100 ms", pass: p99 <= 100))
            }
            rows.append(Figure(name: "operator restart with \(c.count) CRs converged → /readyz",
                               value: c.restartToReadySeconds.map { String(format: "%.2f s", $0) } ?? "> timeout", target: "—", pass: nil))
            rows.append(Figure(name: "CPU s per 1,000 reconciles (converging \(c.count); converged resync)",
                               value: String(format: "%.2f s; %.2f s", c.cpuSecondsPerThousandReconciles, c.resyncCPUSecondsPerThousandReconciles),
                               target: "≤ 3 s converging", pass: c.cpuSecondsPerThousandReconciles <= 3))
        }
        let firstDeployment = percentile(start.firstDeploymentSeconds, 50) ?? 0
        let firstStatus = percentile(start.firstStatusSeconds, 50) ?? 0
        rows.append(Figure(name: "start → first reconcile write (median of \(start.firstChildSeconds.count))",
                           value: String(format: "%.0f ms (Deployment %.0f, status %.0f)", start.medianFirstReconcileSeconds * 1000,
                                         firstDeployment * 1000, firstStatus * 1000),
                           target: "≤ 500 ms", pass: start.medianFirstReconcileSeconds <= 0.5))
        return rows
    }
}

enum Table {
    static func render(_ rows: [Figure]) -> String {
        let header = Figure(name: "figure", value: "value", target: "target", pass: nil)
        let all = [header] + rows
        let w0 = all.map(\.name.count).max() ?? 0
        let w1 = all.map(\.value.count).max() ?? 0
        let w2 = all.map(\.target.count).max() ?? 0
        func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
        func line(_ f: Figure, verdict: String) -> String {
            "\(pad(f.name, w0))  \(pad(f.value, w1))  \(pad(f.target, w2))  \(verdict)"
        }
        var lines = [line(header, verdict: "result")]
        lines.append(String(repeating: "-", count: w0 + w1 + w2 + 14))
        for row in rows { lines.append(line(row, verdict: row.pass.map { $0 ? "PASS" : "MISS" } ?? "")) }
        return lines.joined(separator: "\n")
    }
}
