#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// Where an analysis runs.
public enum AnalysisStage: String, Sendable, Hashable, CaseIterable {
    /// BlueGreen: the preview colour after the smoke test, before the switch.
    case prePromotion = "PrePromotion"
    /// BlueGreen: the active colour after the switch, while the old colour is still scaled up.
    case postPromotion = "PostPromotion"
    /// RollingUpdate: the new revision after its rollout completed, before it becomes stable.
    case bake = "Bake"
}

/// The phases of a run (`status.analysis.phase`).
public enum AnalysisPhase: String, Sendable, Hashable, CaseIterable {
    case running = "Running"
    case successful = "Successful"
    case failed = "Failed"
    case inconclusive = "Inconclusive"
    /// Ended by `kubectl pynomaly promote --skip-analysis`: the gate opens without a verdict.
    case skipped = "Skipped"
    /// The rollout moved on (abort, a new revision) before the run ended.
    case aborted = "Aborted"
    /// Prometheus refused a query as malformed: a spec problem, the revision is held, never judged.
    case error = "Error"
}

/// What one query gave (the I/O part answers this; everything else is pure).
public enum AnalysisQueryOutcome: Sendable, Hashable {
    case value(Double)
    /// The query returned no series, or NaN (e.g. no requests in the window).
    case noData(String)
    /// Prometheus unreachable, timed out, or failed to execute the query.
    case unavailable(String)
    /// Prometheus refused the query itself (`bad_data`), or it returned several series.
    case invalidQuery(String)
}

/// Which run a stage needs: the stage, the revision and colour it measures.
public struct AnalysisTarget: Sendable, Hashable {
    public var stage: AnalysisStage
    public var revision: Int64
    public var color: PynomalyDeploymentStatus.Color?

    public init(stage: AnalysisStage, revision: Int64, color: PynomalyDeploymentStatus.Color?) {
        self.stage = stage
        self.revision = revision
        self.color = color
    }
}

/// The gate a stage reads from its run.
public enum AnalysisVerdict: Sendable, Hashable {
    /// Measuring; the next measurement is due after this many seconds.
    case running(nextIn: TimeInterval)
    case successful
    case skipped
    /// A metric failed more often than its failure limit; the message names it, its value and the condition.
    case failed(String)
    /// More inconclusive measurements than `inconclusiveLimit`, or a metric with no successful measurement.
    case inconclusive(String)
    /// A query Prometheus refused: Stalled/InvalidSpec, the revision is neither promoted nor rolled back.
    case invalid(field: String, message: String)

    /// Whether the gate stays closed for good: the stage gives the revision up.
    public var isFailure: Bool {
        switch self {
        case .failed, .inconclusive: return true
        default: return false
        }
    }
}

/// A metric analysis run as a pure function of the run in the status, the settings, the time and
/// the latest query results. A pass calls `prepare` (which run, which metrics are due now), queries
/// only those, then `record`s the answers. A measurement is due when the metric has fewer than
/// `count` and `intervalSeconds` passed since its last one (the first is due at once), so a resync,
/// a repeated pass or a restarted operator never measures twice in an interval, and a run resumed
/// from the status keeps every count it had.
///
/// Verdict (checked after every measurement, in this order):
/// - a metric with more than `failureLimit` failed measurements: Failed (the message names the
///   metric, its last failing value and the condition);
/// - more than `inconclusiveLimit` inconclusive measurements over all metrics: Inconclusive;
/// - every metric measured `count` times: Successful, but only if each had at least one successful
///   measurement — a run Prometheus never answered is Inconclusive, never a pass;
/// - a query Prometheus refused as malformed: Error (a spec problem, never a judgement of the revision).
public enum AnalysisRunMachine {
    public typealias Run = PynomalyDeploymentStatus.AnalysisRun
    public typealias Metric = ResolvedSpec.Analysis.Metric

    /// Measurements kept per metric in the status (the counts cover the whole run).
    public static let keptMeasurements = 10

    /// The run a pass continues, and the metrics due now.
    public struct Prepared: Sendable, Hashable {
        public var run: Run
        public var due: [Metric]
        public var events: [PlannedEvent]
    }

    /// Continues the status's run when it is for `target` under the same settings; otherwise starts one.
    public static func prepare(_ old: Run?, target: AnalysisTarget, settings: ResolvedSpec.Analysis, now: Date) -> Prepared {
        let hash = settings.configHash
        if let old, matches(old, target), old.configHash == hash {
            guard old.phase == AnalysisPhase.running.rawValue else { return Prepared(run: old, due: [], events: []) }
            return Prepared(run: old, due: dueMetrics(old, settings: settings, now: now), events: [])
        }
        let run = Run(stage: target.stage.rawValue, revision: target.revision, color: target.color, phase: AnalysisPhase.running.rawValue,
                      startedAt: KubeTime.format(now), configHash: hash, inconclusive: 0,
                      metrics: settings.metrics.map { PynomalyDeploymentStatus.AnalysisMetricRun(name: $0.name, measured: 0, successful: 0, failed: 0, inconclusive: 0) })
        let names = settings.metrics.map(\.name).joined(separator: ", ")
        let what = target.color.map { "revision \(target.revision) on \($0.rawValue)" } ?? "revision \(target.revision)"
        let event = PlannedEvent(.normal, "AnalysisStarted", "\(target.stage.rawValue) analysis of \(what): \(names)")
        return Prepared(run: run, due: settings.metrics, events: [event])
    }

    /// Whether the run in the status is the one for `target` (settings aside).
    public static func matches(_ run: Run, _ target: AnalysisTarget) -> Bool {
        run.stage == target.stage.rawValue && run.revision == target.revision && run.color == target.color
    }

    /// The metrics whose next measurement is due at `now`.
    static func dueMetrics(_ run: Run, settings: ResolvedSpec.Analysis, now: Date) -> [Metric] {
        settings.metrics.filter { metric in
            guard let state = run.metrics?.first(where: { $0.name == metric.name }) else { return true }
            guard (state.measured ?? 0) < metric.count else { return false }
            guard let last = state.lastMeasuredAt.flatMap(KubeTime.parse) else { return true }
            return now.timeIntervalSince(last) >= TimeInterval(metric.intervalSeconds)
        }
    }

    /// The result of recording a pass's measurements.
    public struct Recorded: Sendable, Hashable {
        public var run: Run
        public var verdict: AnalysisVerdict
        public var events: [PlannedEvent]
    }

    /// Folds the answers of the due metrics (by metric name) into the run and judges it. A run that
    /// has already ended keeps its verdict; missing answers are simply not measured this pass.
    public static func record(_ prepared: Prepared, results: [String: AnalysisQueryOutcome], settings: ResolvedSpec.Analysis, now: Date) -> Recorded {
        var run = prepared.run
        var events = prepared.events
        guard run.phase == AnalysisPhase.running.rawValue else {
            return Recorded(run: run, verdict: verdict(ofEnded: run, settings: settings), events: events)
        }
        // Millisecond times: the next measurement is due `intervalSeconds` after this one, exactly.
        let at = KubeTime.format(now, fractionalDigits: 3)
        var metricsState = run.metrics ?? []
        var lastFailure: [String: String] = [:]
        var invalid: (field: String, message: String)?
        for metric in prepared.due {
            guard let outcome = results[metric.name] else { continue }
            var index = metricsState.firstIndex { $0.name == metric.name }
            if index == nil {
                metricsState.append(PynomalyDeploymentStatus.AnalysisMetricRun(name: metric.name, measured: 0, successful: 0, failed: 0, inconclusive: 0))
                index = metricsState.count - 1
            }
            guard let i = index else { continue }
            var state = metricsState[i]
            let measurement: PynomalyDeploymentStatus.AnalysisMeasurement
            switch outcome {
            case .value(let value) where value.isNaN:
                measurement = .init(at: at, value: nil, phase: AnalysisPhase.inconclusive.rawValue, message: "no data (NaN)")
            case .value(let value):
                let ok = metric.condition.passes(value)
                measurement = .init(at: at, value: value.isFinite ? value : nil, phase: ok ? AnalysisPhase.successful.rawValue : AnalysisPhase.failed.rawValue,
                                    message: value.isFinite ? nil : AnalysisFormat.number(value))
                if !ok { lastFailure[metric.name] = "\(metric.name) = \(AnalysisFormat.number(value)), must be \(metric.condition)" }
            case .noData(let why):
                measurement = .init(at: at, value: nil, phase: AnalysisPhase.inconclusive.rawValue, message: "no data: \(why)")
            case .unavailable(let why):
                measurement = .init(at: at, value: nil, phase: AnalysisPhase.inconclusive.rawValue, message: "Prometheus: \(why)")
            case .invalidQuery(let why):
                invalid = ("\(metric.field).query", "Prometheus refused the query of \(metric.name): \(why)")
                continue
            }
            state.measured = (state.measured ?? 0) + 1
            switch measurement.phase {
            case AnalysisPhase.successful.rawValue: state.successful = (state.successful ?? 0) + 1
            case AnalysisPhase.failed.rawValue: state.failed = (state.failed ?? 0) + 1
            default:
                state.inconclusive = (state.inconclusive ?? 0) + 1
                run.inconclusive = (run.inconclusive ?? 0) + 1
            }
            state.lastMeasuredAt = at
            state.measurements = Array(((state.measurements ?? []) + [measurement]).suffix(keptMeasurements))
            metricsState[i] = state
        }
        run.metrics = metricsState

        let verdict: AnalysisVerdict
        let what = describe(run)
        if let invalid {
            verdict = .invalid(field: invalid.field, message: invalid.message)
            run.phase = AnalysisPhase.error.rawValue
            run.message = "\(invalid.field): \(invalid.message)"
            events.append(PlannedEvent(.warning, "AnalysisError", "\(what): \(invalid.field): \(invalid.message)"))
        } else if let failing = settings.metrics.first(where: { m in (state(of: m, in: run)?.failed ?? 0) > m.failureLimit }) {
            let detail = lastFailure[failing.name] ?? lastFailedValue(failing, in: run)
            let message = "\(detail) (\(state(of: failing, in: run)?.failed ?? 0) failed of \(failing.count), failure limit \(failing.failureLimit))"
            verdict = .failed(message)
            run.phase = AnalysisPhase.failed.rawValue
            run.message = message
            events.append(PlannedEvent(.warning, "AnalysisFailed", "\(what): \(message)"))
        } else if (run.inconclusive ?? 0) > settings.inconclusiveLimit {
            let message = "\(run.inconclusive ?? 0) inconclusive measurements, limit \(settings.inconclusiveLimit): \(lastInconclusive(run) ?? "no data")"
            verdict = .inconclusive(message)
            run.phase = AnalysisPhase.inconclusive.rawValue
            run.message = message
            events.append(PlannedEvent(.warning, "AnalysisInconclusive", "\(what): \(message)"))
        } else if settings.metrics.allSatisfy({ (state(of: $0, in: run)?.measured ?? 0) >= $0.count }) {
            if let unproven = settings.metrics.first(where: { (state(of: $0, in: run)?.successful ?? 0) == 0 }) {
                let message = "\(unproven.name) had no successful measurement: \(lastInconclusive(run) ?? "no data")"
                verdict = .inconclusive(message)
                run.phase = AnalysisPhase.inconclusive.rawValue
                run.message = message
                events.append(PlannedEvent(.warning, "AnalysisInconclusive", "\(what): \(message)"))
            } else {
                let message = settings.metrics.map { m in "\(m.name) \(state(of: m, in: run)?.successful ?? 0)/\(m.count)" }.joined(separator: ", ")
                verdict = .successful
                run.phase = AnalysisPhase.successful.rawValue
                run.message = "passed: \(message)"
                events.append(PlannedEvent(.normal, "AnalysisPassed", "\(what) passed: \(message)"))
            }
        } else {
            verdict = .running(nextIn: nextDue(run, settings: settings, now: now))
            run.message = progress(run, settings: settings)
        }
        if run.phase != AnalysisPhase.running.rawValue { run.finishedAt = at }
        return Recorded(run: run, verdict: verdict, events: events)
    }

    /// Ends a running run as Skipped (`promote --skip-analysis`) or Aborted (the rollout moved on).
    public static func end(_ run: Run, as phase: AnalysisPhase, message: String, now: Date) -> Run {
        guard run.phase == AnalysisPhase.running.rawValue else { return run }
        var ended = run
        ended.phase = phase.rawValue
        ended.message = message
        ended.finishedAt = KubeTime.format(now)
        return ended
    }

    /// The verdict a finished run keeps.
    public static func verdict(ofEnded run: Run, settings: ResolvedSpec.Analysis) -> AnalysisVerdict {
        switch AnalysisPhase(rawValue: run.phase ?? "") {
        case .successful?: return .successful
        case .skipped?: return .skipped
        case .failed?: return .failed(run.message ?? "failed")
        case .inconclusive?: return .inconclusive(run.message ?? "inconclusive")
        case .error?:
            let text = run.message ?? ""
            let field = text.components(separatedBy: ": ").first ?? "spec.analysis"
            return .invalid(field: field, message: String(text.dropFirst(min(text.count, field.count + 2))))
        case .running?, .aborted?, nil: return .running(nextIn: 0)
        }
    }

    /// Seconds until the next measurement of any metric is due (0: due now).
    static func nextDue(_ run: Run, settings: ResolvedSpec.Analysis, now: Date) -> TimeInterval {
        let waits = settings.metrics.compactMap { metric -> TimeInterval? in
            guard let state = state(of: metric, in: run) else { return 0 }
            guard (state.measured ?? 0) < metric.count else { return nil }
            guard let last = state.lastMeasuredAt.flatMap(KubeTime.parse) else { return 0 }
            return max(0, last.addingTimeInterval(TimeInterval(metric.intervalSeconds)).timeIntervalSince(now))
        }
        return waits.min() ?? 0
    }

    static func state(of metric: Metric, in run: Run) -> PynomalyDeploymentStatus.AnalysisMetricRun? {
        run.metrics?.first { $0.name == metric.name }
    }

    static func lastFailedValue(_ metric: Metric, in run: Run) -> String {
        let value = state(of: metric, in: run)?.measurements?.last { $0.phase == AnalysisPhase.failed.rawValue }?.value
        return "\(metric.name) = \(value.map(AnalysisFormat.number) ?? "?"), must be \(metric.condition)"
    }

    static func lastInconclusive(_ run: Run) -> String? {
        run.metrics?.compactMap { m in m.measurements?.last { $0.phase == AnalysisPhase.inconclusive.rawValue }.map { "\(m.name): \($0.message ?? "no value")" } }.last
    }

    /// `PostPromotion analysis of revision 2 on green`.
    static func describe(_ run: Run) -> String {
        let what = "revision \(run.revision.map(String.init) ?? "?")" + (run.color.map { " on \($0.rawValue)" } ?? "")
        return "\(run.stage ?? "") analysis of \(what)"
    }

    /// `error-ratio 2/5, latency-p95 2/5`.
    static func progress(_ run: Run, settings: ResolvedSpec.Analysis) -> String {
        "measuring: " + settings.metrics.map { m in "\(m.name) \(state(of: m, in: run)?.measured ?? 0)/\(m.count)" }.joined(separator: ", ")
    }

    /// The AnalysisHealthy condition for a run: Unknown while running, True when passed or skipped,
    /// False with the failed metric, its value and threshold otherwise.
    public static func condition(of run: Run) -> (status: String, reason: String, message: String) {
        let what = describe(run)
        let message = "\(what): \(run.message ?? "")"
        switch AnalysisPhase(rawValue: run.phase ?? "") {
        case .running?: return ("Unknown", "AnalysisRunning", message)
        case .successful?: return ("True", "AnalysisPassed", message)
        case .skipped?: return ("True", "AnalysisSkipped", message)
        case .failed?: return ("False", "AnalysisFailed", message)
        case .inconclusive?: return ("False", "AnalysisInconclusive", message)
        case .aborted?: return ("Unknown", "AnalysisAborted", message)
        case .error?: return ("False", ConditionReason.invalidSpec, message)
        case nil: return ("Unknown", "AnalysisUnknown", message)
        }
    }
}
