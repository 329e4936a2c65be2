import ArgumentParser
import Foundation

/// `make bench`: the test API server (`pynomaly-sandbox --server-only`) and the operator
/// (`pynomaly-operator run`) each in its own process, driven and measured from here over HTTPS.
/// Prints a table (each figure beside its target) and writes a JSON file. See docs/performance.md.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pynomaly-bench",
        abstract: "Measures the operator's memory, convergence, requests, latency and start time against the test API server.")

    @Option(help: "Folder with the release pynomaly-sandbox and pynomaly-operator (default: next to this binary).")
    var binaries: String?

    @Option(help: "Comma-separated numbers of PynomalyDeployments to converge (each on a fresh server and operator).")
    var counts = "100,1000"

    @Flag(help: "A smoke run: 20 and 100 CRs, 20 latency samples, 2 launches for the start time.")
    var quick = false

    @Option(help: "Spec changes timed per converge run (each on another CR).")
    var latencySamples = 100

    @Option(help: "Operator launches timed for start → first reconcile (the median is reported).")
    var launches = 5

    @Option(help: "The operator's --kube-api-qps, also the raw-write client's.")
    var qps: Double = 100

    @Option(help: "The operator's --kube-api-burst, also the raw-write client's.")
    var burst = 150

    @Option(help: "The operator's --resync-period in seconds (the resync measured once everything converged).")
    var resyncPeriod: Double = 20

    @Option(help: "The operator's --max-concurrent-reconciles (its default).")
    var maxConcurrentReconciles = 8

    @Option(help: "Seconds to let the operator settle before its memory is read.")
    var settle: Double = 3

    @Option(help: "Seconds the operator restarted over N converged CRs may take to become ready.")
    var restartTimeout: Double = 180

    @Option(help: "The sample whose Secret and PynomalyDeployment are copied.")
    var sample = "manifests/samples/pynomaly.yaml"

    @Option(help: "Where logs and kubeconfigs of the runs go.")
    var workDirectory = ".build-release/bench-work"

    @Option(help: "The JSON results file.")
    var output = "bench/results.json"

    func run() async throws {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let settings = BenchSettings(binaries: binaries ?? here, workDirectory: workDirectory, sample: sample,
                                     qps: qps, burst: burst, resyncPeriod: resyncPeriod, maxConcurrentReconciles: maxConcurrentReconciles,
                                     operatorEnvironment: imageEnvironment())
        let sizes = quick ? [20, 100] : counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--counts needs positive numbers") }
        let samples = quick ? min(latencySamples, 20) : latencySamples
        let scenarios = Scenarios(settings: settings, sample: try Cluster.Sample(path: sample), settleSeconds: settle, restartTimeout: restartTimeout)
        let machine = MachineFacts.collect()
        say("pynomaly-bench on \(machine.cpuModel) × \(machine.nproc), \(machine.memoryMiB) MiB, Linux \(machine.kernel)")
        if !settings.operatorEnvironment.isEmpty {
            say("operator environment, as the image sets it: " + settings.operatorEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        let began = monotonicSeconds()

        say("idle: the operator with no PynomalyDeployment")
        let idle = try await scenarios.idle()
        let startLaunches = quick ? min(launches, 2) : launches
        say("start: \(startLaunches) operator launches with one PynomalyDeployment waiting")
        let start = try await scenarios.start(launches: startLaunches)
        var converges: [ConvergeResult] = []
        for size in sizes {
            say("converge: \(size) new PynomalyDeployments")
            converges.append(try await scenarios.converge(count: size, latencySamples: min(samples, size)))
        }

        let results = BenchResults(
            machine: machine, date: ISO8601DateFormatter().string(from: Date()), quick: quick,
            settings: .init(qps: qps, burst: burst, resyncPeriod: resyncPeriod, maxConcurrentReconciles: maxConcurrentReconciles,
                            counts: sizes, latencySamples: samples, launches: startLaunches),
            idle: idle, start: start, converge: converges, wallSeconds: monotonicSeconds() - began)
        let rows = results.rows()
        say("")
        say(Table.render(rows))
        let directory = (output as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var withRows = results
        withRows.figures = rows
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(withRows).write(to: URL(fileURLWithPath: output))
        say("wrote \(output) (\(Int(results.wallSeconds)) s in all)")
    }
}
