#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// What a blue-green pass reads of the cluster before the state machine runs: the colours'
/// Deployments, the HPA, and the Jobs the CR controls. The reconciler fills it from its caches and
/// `kubectl pynomaly diff` from the API server; `input` makes the state machine's input from it
/// the same way for both, so a preview and a pass cannot disagree about what the machine sees.
public struct BlueGreenObservation: Sendable {
    public var blue: Deployment?
    public var green: Deployment?
    /// The HPA `NAME`, when autoscaling is on and it exists.
    public var autoscaler: HorizontalPodAutoscaler?
    /// Jobs the CR controls; the smoke test Jobs among them are picked by their labels.
    public var jobs: [Job]

    public init(blue: Deployment?, green: Deployment?, autoscaler: HorizontalPodAutoscaler?, jobs: [Job]) {
        self.blue = blue
        self.green = green
        self.autoscaler = autoscaler
        self.jobs = jobs
    }

    /// The state machine's input for the revision `plan` targets. The analysis gate is left to the
    /// caller: only the operator measures it.
    public func input(_ ctx: BuildContext, plan: RevisionPlan, settings: ResolvedSpec.BlueGreen, now: Date) -> BlueGreenInput {
        BlueGreenInput(
            name: ctx.name, plan: plan, settings: settings, generation: ctx.cr.metadata.generation ?? 0,
            desiredReplicas: Self.servingReplicas(ctx.spec, autoscaler: autoscaler),
            autoscaled: ctx.spec.autoscaling != nil, blue: BlueGreenColorObservation(deployment: blue),
            green: BlueGreenColorObservation(deployment: green), smokeJobs: Self.smokeJobs(jobs, of: ctx.name),
            annotations: ctx.cr.metadata.annotations, now: now)
    }

    /// How many replicas serve: the spec's count, or with autoscaling the count the HPA keeps its
    /// target at (the active colour, or `NAME` while migrating); its minimum before any HPA exists
    /// (first deployment).
    public static func servingReplicas(_ spec: ResolvedSpec, autoscaler: HorizontalPodAutoscaler?) -> Int32 {
        guard let autoscaling = spec.autoscaling else { return spec.replicas }
        return autoscaler?.status?.currentReplicas.flatMap { $0 > 0 ? $0 : nil } ?? autoscaling.minReplicas
    }

    /// The smoke test Jobs of the CR `name` among `jobs`, by the revision they test (Jobs being
    /// deleted left out).
    public static func smokeJobs(_ jobs: [Job], of name: String) -> [Int64: BlueGreenSmokeJob] {
        var byRevision: [Int64: BlueGreenSmokeJob] = [:]
        for job in jobs where job.metadata.deletionTimestamp == nil {
            guard let labels = job.metadata.labels, labels[PynomalyLabels.instanceKey] == name,
                  labels[PynomalyLabels.componentKey] == SmokeTestJobBuilder.component,
                  let revision = labels[SmokeTestJobBuilder.revisionKey].flatMap(Int64.init) else { continue }
            byRevision[revision] = BlueGreenSmokeJob(job: job)
        }
        return byRevision
    }
}

extension BlueGreenInput {
    /// The input for the revision `plan` targets, with the history's template hashes, the stable
    /// revision a CR that ran RollingUpdate before serves, and the request tokens not handled yet.
    public init(name: String, plan: RevisionPlan, settings: ResolvedSpec.BlueGreen, generation: Int64, desiredReplicas: Int32,
                autoscaled: Bool, blue: BlueGreenColorObservation, green: BlueGreenColorObservation,
                smokeJobs: [Int64: BlueGreenSmokeJob], annotations: [String: String]?, now: Date) {
        var hashes: [Int64: String] = [:]
        for entry in plan.status.history ?? [] { hashes[entry.revision] = entry.templateHash }
        var rollingStable: BlueGreenRevision?
        if plan.status.blueGreen == nil, let stable = plan.status.stableRevision, let hash = hashes[stable] {
            rollingStable = BlueGreenRevision(revision: stable, templateHash: hash, outcome: .succeeded)
        }
        let target = BlueGreenRevision(revision: plan.target.revision, templateHash: plan.target.templateHash ?? "",
                                       outcome: plan.target.outcome, pinned: plan.pinned)
        self.init(name: name, status: plan.status.blueGreen, target: target, rollingStable: rollingStable, templateHashes: hashes,
                  generation: generation, settings: settings, desiredReplicas: desiredReplicas, autoscaled: autoscaled,
                  blue: blue, green: green, smokeJobs: smokeJobs,
                  promoteToken: RequestAnnotation.promote.pendingToken(annotations: annotations, status: plan.status),
                  abortToken: RequestAnnotation.abort.pendingToken(annotations: annotations, status: plan.status),
                  now: now)
        skipAnalysisToken = RequestAnnotation.skipAnalysis.pendingToken(annotations: annotations, status: plan.status)
    }
}
