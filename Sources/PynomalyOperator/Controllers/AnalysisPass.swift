#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import KubeRuntime

/// The I/O of an analysis run: which metrics are due comes from the pure `AnalysisRunMachine`,
/// this part reads the CA/token Secrets and queries Prometheus for those metrics only, then hands
/// the answers back to the machine. Queries are bounded by `timeoutSeconds` each, and a pass that
/// finds nothing due costs no request at all, so the worker is never held for the window.
extension PynomalyDeploymentReconciler {
    /// Measures what is due for `target` and judges the run.
    func runAnalysis(_ ctx: BuildContext, settings: ResolvedSpec.Analysis, target: AnalysisTarget,
                     old: PynomalyDeploymentStatus.AnalysisRun?, now: Date) async -> AnalysisRunMachine.Recorded {
        let prepared = AnalysisRunMachine.prepare(old, target: target, settings: settings, now: now)
        var results: [String: AnalysisQueryOutcome] = [:]
        if !prepared.due.isEmpty {
            let endpoint = await prometheusEndpoint(ctx, settings.prometheus)
            let values = AnalysisQueryTemplate.Values(
                namespace: ctx.namespace, service: target.color.map { Self.colorName(ctx.name, $0) } ?? ctx.name,
                color: target.color?.rawValue ?? "", revision: target.revision)
            for metric in prepared.due {
                switch endpoint {
                case .failure(let why):
                    results[metric.name] = .unavailable(why.message)
                case .success(let endpoint):
                    guard let prometheus else {
                        results[metric.name] = .unavailable("the operator runs without a Prometheus client")
                        continue
                    }
                    do {
                        let query = try AnalysisQueryTemplate(metric.query).render(values)
                        results[metric.name] = await prometheus.query(query, at: now, endpoint: endpoint)
                    } catch {
                        // Validation refuses such a spec before any pass gets here.
                        results[metric.name] = .invalidQuery("\(error)")
                    }
                }
            }
        }
        return AnalysisRunMachine.record(prepared, results: results, settings: settings, now: now)
    }

    /// Why the endpoint could not be built (a missing Secret or key): the measurement is inconclusive.
    struct EndpointUnavailable: Error {
        var message: String
    }

    /// The endpoint with the CA and token read from their Secrets (a GET each, only when a
    /// measurement is due: the Secrets cache holds metadata only).
    func prometheusEndpoint(_ ctx: BuildContext, _ settings: ResolvedSpec.Analysis.Prometheus) async -> Result<PrometheusEndpoint, EndpointUnavailable> {
        var endpoint = PrometheusEndpoint(address: settings.address, timeoutSeconds: Double(settings.timeoutSeconds))
        do {
            if let ref = settings.caSecretRef { endpoint.caPEM = try await secretValue(ctx, ref, field: "spec.analysis.prometheus.caSecretRef") }
            if let ref = settings.bearerTokenSecretRef {
                let token = try await secretValue(ctx, ref, field: "spec.analysis.prometheus.bearerTokenSecretRef")
                endpoint.bearerToken = String(decoding: token, as: UTF8.self).trimmingWhitespace()
            }
        } catch let error as EndpointUnavailable {
            return .failure(error)
        } catch {
            return .failure(EndpointUnavailable(message: "\(error)"))
        }
        return .success(endpoint)
    }

    private func secretValue(_ ctx: BuildContext, _ ref: PynomalyDeploymentSpec.SecretKeyRef, field: String) async throws -> Data {
        let object: JSONValue
        do {
            object = try await client.get(.secrets, namespace: ctx.namespace, name: ref.name, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            throw EndpointUnavailable(message: "\(field): Secret \(ref.name) does not exist")
        }
        guard let encoded = object[path: ["data", ref.key]]?.stringValue, let data = Data(base64Encoded: encoded) else {
            throw EndpointUnavailable(message: "\(field): Secret \(ref.name) has no key \(ref.key)")
        }
        return data
    }

    /// Sets (or, without analysis, removes) `status.analysis`'s condition AnalysisHealthy.
    static func setAnalysisCondition(_ status: inout PynomalyDeploymentStatus, analysisEnabled: Bool, generation: Int64, now: Date) {
        var conditions = status.conditions ?? []
        if analysisEnabled, let run = status.analysis {
            let verdict = AnalysisRunMachine.condition(of: run)
            conditions.set(Condition(type: ConditionType.analysisHealthy, status: verdict.status, observedGeneration: generation,
                                     reason: verdict.reason, message: verdict.message), now: now)
        } else {
            conditions.remove(type: ConditionType.analysisHealthy)
            status.analysis = nil
        }
        status.conditions = conditions.isEmpty ? nil : conditions
    }

    /// A run left behind while still Running (the rollout moved on) is closed, so the status never
    /// shows a run as measuring when nothing measures it.
    static func closeAbandoned(_ run: PynomalyDeploymentStatus.AnalysisRun?, unless target: AnalysisTarget?, skipped: Bool, now: Date) -> PynomalyDeploymentStatus.AnalysisRun? {
        guard let run, run.phase == AnalysisPhase.running.rawValue else { return run }
        if let target, AnalysisRunMachine.matches(run, target) { return run }
        return skipped ? AnalysisRunMachine.end(run, as: .skipped, message: "skipped by \(RequestAnnotation.skipAnalysis.name)", now: now)
            : AnalysisRunMachine.end(run, as: .aborted, message: "the rollout moved on before the run ended", now: now)
    }
}

/// What the bake made of a rollout: the observation the revision plan and the status see (complete
/// only once the analysis passed), Events, when to look again, and a query Prometheus refused.
struct BakeOutcome {
    var rollout: RolloutObservation
    var events: [PlannedEvent] = []
    var requeueAfter: TimeInterval?
    var invalid: String?
}

extension PynomalyDeploymentReconciler {
    /// RollingUpdate's bake window. Runs when `spec.analysis` is on and the spec's (not a pinned)
    /// revision has just completed its rollout and has not yet succeeded. While it measures, the
    /// rollout counts as in progress (the stable revision stays the previous one); a failed or
    /// inconclusive run counts as a failed rollout, so `RevisionPlan.observe` rolls back to the stable
    /// revision once, pinned by `lastRollback.specTemplateHash` as after a missed progress deadline.
    func bakeAnalysis(_ ctx: BuildContext, plan: inout RevisionPlan, rollout: RolloutObservation, now: Date) async -> BakeOutcome {
        var outcome = BakeOutcome(rollout: rollout)
        let target = AnalysisTarget(stage: .bake, revision: plan.target.revision, color: nil)
        let skip = RequestAnnotation.skipAnalysis.pendingToken(annotations: ctx.cr.metadata.annotations, status: plan.status)
        let entry = plan.status.history?.first { $0.revision == plan.target.revision }
        let bakes = ctx.spec.analysis != nil && !plan.pinned && rollout.isComplete && entry != nil && entry?.outcome != .succeeded
        defer {
            plan.status.analysis = Self.closeAbandoned(plan.status.analysis, unless: bakes ? target : nil, skipped: false, now: now)
        }
        if let token = skip {
            plan.status.markHandled(.skipAnalysis, token: token)
            if bakes, let run = plan.status.analysis, AnalysisRunMachine.matches(run, target), run.phase == AnalysisPhase.running.rawValue {
                plan.status.analysis = AnalysisRunMachine.end(run, as: .skipped, message: "skipped by \(RequestAnnotation.skipAnalysis.name)", now: now)
                outcome.events.append(PlannedEvent(.normal, "AnalysisSkipped", "bake analysis of revision \(target.revision) skipped by \(RequestAnnotation.skipAnalysis.name)"))
            } else {
                outcome.events.append(PlannedEvent(.normal, "SkipAnalysisIgnored", "\(RequestAnnotation.skipAnalysis.name)=\(token) ignored: no analysis is running"))
            }
        }
        guard bakes, let settings = ctx.spec.analysis else { return outcome }
        let recorded = await runAnalysis(ctx, settings: settings, target: target, old: plan.status.analysis, now: now)
        plan.status.analysis = recorded.run
        outcome.events.append(contentsOf: recorded.events)
        switch recorded.verdict {
        case .running(let next):
            outcome.rollout = .progressing("bake analysis: \(recorded.run.message ?? "measuring")")
            outcome.requeueAfter = next
        case .successful, .skipped:
            break
        case .failed(let message):
            outcome.rollout = .failed(reason: "AnalysisFailed", message: "bake analysis failed: \(message)")
        case .inconclusive(let message):
            outcome.rollout = .failed(reason: "AnalysisInconclusive", message: "bake analysis was inconclusive: \(message)")
        case .invalid(let field, let message):
            outcome.rollout = .progressing("bake analysis cannot run")
            outcome.invalid = "\(field): \(message)"
        }
        return outcome
    }

    /// A query Prometheus refused holds the revision where it is (no promotion, no rollback): the
    /// CR is Stalled with reason InvalidSpec naming the metric's query, until the spec changes.
    static func holdForInvalidAnalysis(_ status: inout PynomalyDeploymentStatus, message: String, generation: Int64, now: Date) {
        var conditions = status.conditions ?? []
        let text = "analysis cannot run: \(message)"
        for (type, value) in [(ConditionType.stalled, true), (ConditionType.ready, false), (ConditionType.reconciling, false)] {
            conditions.set(Condition(type: type, status: value ? "True" : "False", observedGeneration: generation, reason: ConditionReason.invalidSpec,
                                     message: value || type == ConditionType.ready ? text : ""), now: now)
        }
        status.conditions = conditions
        status.phase = .failed
        status.message = text
    }
}
