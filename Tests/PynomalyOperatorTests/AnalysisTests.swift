import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

// MARK: - Success conditions

@Suite struct AnalysisConditionTests {
    @Test func maxMinAndRange() {
        let max = AnalysisCondition(max: 0.01)
        #expect(max.passes(0.0099))
        #expect(max.passes(0.01), "the bound itself passes")
        #expect(!max.passes(0.03))
        let min = AnalysisCondition(min: 10)
        #expect(min.passes(10) && min.passes(11))
        #expect(!min.passes(9.99))
        let range = AnalysisCondition(min: 1, max: 2)
        #expect(range.passes(1.5))
        #expect(!range.passes(0.5) && !range.passes(2.5))
        #expect(range.description == "in [1, 2]")
        #expect(max.description == "<= 0.01")
        #expect(min.description == ">= 10")
    }

    @Test func nanAndInfinityNeverPassABound() {
        #expect(!AnalysisCondition(max: 1).passes(.nan))
        #expect(!AnalysisCondition(min: 0).passes(.nan))
        #expect(!AnalysisCondition(max: 1).passes(.infinity))
        #expect(!AnalysisCondition(min: 0).passes(-.infinity))
    }
}

// MARK: - Query templates

@Suite struct AnalysisQueryTemplateTests {
    static let values = AnalysisQueryTemplate.Values(namespace: "prod", service: "app-green", color: "green", revision: 7)

    @Test func rendersEveryPlaceholderInsideItsString() throws {
        let template = try AnalysisQueryTemplate(#"sum(rate(x{namespace="{{namespace}}",job="{{ service }}",color='{{color}}',rev="{{revision}}"}[1m]))"#)
        #expect(template.placeholders == Set(AnalysisQueryTemplate.Placeholder.allCases))
        #expect(template.render(Self.values) == #"sum(rate(x{namespace="prod",job="app-green",color='green',rev="7"}[1m]))"#)
    }

    @Test func theDefaultQueriesParseAndRender() throws {
        for metric in AnalysisDefaults.metrics(memoryLimited: true) {
            let rendered = try AnalysisQueryTemplate(metric.query).render(Self.values)
            #expect(!rendered.contains("{{"), "\(metric.name): \(rendered)")
            #expect(rendered.contains(#"namespace="prod""#))
        }
        #expect(try AnalysisQueryTemplate(AnalysisDefaults.memoryQuery).render(Self.values).contains(#"pod=~"app-green-.*""#))
    }

    @Test func aHostileValueCannotLeaveTheLabelMatcher() throws {
        let template = try AnalysisQueryTemplate(#"sum(up{namespace="{{namespace}}",job='{{service}}'})"#)
        let hostile = AnalysisQueryTemplate.Values(namespace: #"x"} or vector(1) or up{a="\"#, service: "a'}) or vector(1) #\n", color: "", revision: 1)
        let rendered = template.render(hostile)
        #expect(rendered == #"sum(up{namespace="x\"} or vector(1) or up{a=\"\\",job='a\'}) or vector(1) #\n'})"#)
        // Read back as PromQL strings, the values are exactly the inputs: still one matcher each.
        let reparsed = try AnalysisQueryTemplate(rendered)
        #expect(reparsed.placeholders.isEmpty)
    }

    @Test func regexOperandsAreEscapedForRE2Too() throws {
        let template = try AnalysisQueryTemplate(#"max(m{pod=~"{{service}}-.*", ns != "{{namespace}}"})"#)
        let rendered = template.render(AnalysisQueryTemplate.Values(namespace: "a.b", service: "app.*|x", color: "", revision: 1))
        #expect(rendered == #"max(m{pod=~"app\\.\\*\\|x-.*", ns != "a.b"})"#)
    }

    @Test func refusesWhatCannotBeRenderedSafely() {
        #expect(throws: AnalysisTemplateError.placeholderOutsideString("service")) { try AnalysisQueryTemplate("up{job={{service}}}") }
        #expect(throws: AnalysisTemplateError.unknownPlaceholder("name")) { try AnalysisQueryTemplate(#"up{job="{{name}}"}"#) }
        #expect(throws: AnalysisTemplateError.empty) { try AnalysisQueryTemplate("  ") }
        #expect(throws: AnalysisTemplateError.unclosedString) { try AnalysisQueryTemplate(#"up{job="x}"#) }
        #expect(throws: AnalysisTemplateError.unbalanced(")", position: 7)) { try AnalysisQueryTemplate("sum(up))") }
        #expect(throws: AnalysisTemplateError.unbalanced("{", position: 7)) { _ = try AnalysisQueryTemplate("sum(up{") }
        #expect(throws: AnalysisTemplateError.self) { try AnalysisQueryTemplate(#"up{job="{{service"}"#) }
        #expect(throws: AnalysisTemplateError.placeholderOutsideString("namespace")) { try AnalysisQueryTemplate("up{job=`{{namespace}}`}") }
    }
}

// MARK: - Prometheus answers

@Suite struct PrometheusAPITests {
    static func body(_ text: String) -> Data { Data(text.utf8) }

    @Test func readsOneNumber() {
        #expect(PrometheusAPI.outcome(statusCode: 200, body: Self.body(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"0.03"]}]}}"#)) == .value(0.03))
        #expect(PrometheusAPI.outcome(statusCode: 200, body: Self.body(#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"2"]}}"#)) == .value(2))
    }

    @Test func noSeriesAndNaNAreNoData() {
        guard case .noData = PrometheusAPI.outcome(statusCode: 200, body: Self.body(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)) else {
            Issue.record("an empty vector is no data"); return
        }
        guard case .noData = PrometheusAPI.outcome(statusCode: 200, body: Self.body(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#)) else {
            Issue.record("NaN is no data"); return
        }
    }

    @Test func malformedQueriesAndSeveralSeriesAreSpecProblems() {
        guard case .invalidQuery(let message) = PrometheusAPI.outcome(statusCode: 400, body: Self.body(#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#)) else {
            Issue.record("bad_data is an invalid query"); return
        }
        #expect(message.contains("parse error"))
        guard case .invalidQuery = PrometheusAPI.outcome(statusCode: 200, body: Self.body(
            #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#)) else {
            Issue.record("two series is an invalid query"); return
        }
    }

    @Test func everythingElseIsUnavailable() {
        guard case .unavailable = PrometheusAPI.outcome(statusCode: 503, body: Self.body(#"{"status":"error","errorType":"timeout","error":"query timed out"}"#)) else {
            Issue.record("a timeout is unavailable"); return
        }
        guard case .unavailable = PrometheusAPI.outcome(statusCode: 502, body: Self.body("<html>bad gateway</html>")) else {
            Issue.record("a proxy's page is unavailable"); return
        }
    }

    @Test func theRequestIsAnInstantQueryAtTheGivenTime() {
        let request = PrometheusAPI.queryRequest(#"up{job="a"}"#, at: Date(timeIntervalSince1970: 1_700_000_000.25), timeoutSeconds: 5)
        #expect(request.method == .get)
        #expect(request.path == "/api/v1/query")
        #expect(request.pathAndQuery == "/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=1700000000.250&timeout=5s")
        #expect(request.timeout == 5)
    }
}

// MARK: - The run state machine

@Suite struct AnalysisRunMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let target = AnalysisTarget(stage: .postPromotion, revision: 2, color: .green)

    static func settings(count: Int32 = 3, interval: Int32 = 10, failureLimit: Int32 = 0, inconclusiveLimit: Int32 = 1) -> ResolvedSpec.Analysis {
        var spec = PynomalyDeploymentSpec(image: "app:1")
        spec.analysis = .init(prometheus: .init(address: "http://prom:9090"), metrics: [
            .init(name: "errors", query: #"e{job="{{service}}"}"#, successCondition: .init(max: 0.01), intervalSeconds: interval, count: count, failureLimit: failureLimit),
            .init(name: "latency", query: #"l{job="{{service}}"}"#, successCondition: .init(max: 0.5), intervalSeconds: interval, count: count, failureLimit: failureLimit),
        ], inconclusiveLimit: inconclusiveLimit)
        return spec.resolvedAnalysis()!
    }

    /// One pass at `time`: prepare, answer every due metric with `answer`, record.
    static func pass(_ run: AnalysisRunMachine.Run?, at time: Date, settings: ResolvedSpec.Analysis,
                     _ answer: (String) -> AnalysisQueryOutcome) -> (AnalysisRunMachine.Recorded, due: [String]) {
        let prepared = AnalysisRunMachine.prepare(run, target: target, settings: settings, now: time)
        var results: [String: AnalysisQueryOutcome] = [:]
        for metric in prepared.due { results[metric.name] = answer(metric.name) }
        return (AnalysisRunMachine.record(prepared, results: results, settings: settings, now: time), prepared.due.map(\.name))
    }

    @Test func startsMeasuresOnSchedulePassesAfterCount() {
        let s = Self.settings()
        var (r, due) = Self.pass(nil, at: Self.t0, settings: s) { _ in .value(0.001) }
        #expect(due == ["errors", "latency"])
        #expect(r.events.map(\.reason) == ["AnalysisStarted"])
        #expect(r.verdict == .running(nextIn: 10))
        // A resync 3 s later measures nothing and counts nothing.
        (r, due) = Self.pass(r.run, at: Self.t0.addingTimeInterval(3), settings: s) { _ in .value(0.001) }
        #expect(due.isEmpty)
        #expect(r.verdict == .running(nextIn: 7))
        #expect(r.run.metrics?.map(\.measured) == [1, 1])
        (r, _) = Self.pass(r.run, at: Self.t0.addingTimeInterval(10), settings: s) { _ in .value(0.001) }
        (r, _) = Self.pass(r.run, at: Self.t0.addingTimeInterval(20), settings: s) { _ in .value(0.001) }
        #expect(r.verdict == .successful)
        #expect(r.run.phase == "Successful")
        #expect(r.events.map(\.reason) == ["AnalysisPassed"])
        // Ended: further passes neither measure nor change the verdict.
        let after = Self.pass(r.run, at: Self.t0.addingTimeInterval(100), settings: s) { _ in .value(9) }
        #expect(after.due.isEmpty)
        #expect(after.0.verdict == .successful)
        #expect(after.0.run == r.run)
    }

    @Test func failsWhenAMetricExceedsItsFailureLimitNamingValueAndThreshold() {
        let s = Self.settings(count: 5, failureLimit: 1)
        var (r, _) = Self.pass(nil, at: Self.t0, settings: s) { $0 == "errors" ? .value(0.03) : .value(0.1) }
        #expect(r.verdict == .running(nextIn: 10), "one failure is within the limit")
        (r, _) = Self.pass(r.run, at: Self.t0.addingTimeInterval(10), settings: s) { $0 == "errors" ? .value(0.031) : .value(0.1) }
        guard case .failed(let message) = r.verdict else { Issue.record("failed: \(r.verdict)"); return }
        #expect(message == "errors = 0.031, must be <= 0.01 (2 failed of 5, failure limit 1)")
        #expect(r.run.phase == "Failed")
        #expect(r.events.map(\.reason) == ["AnalysisFailed"])
        let condition = AnalysisRunMachine.condition(of: r.run)
        #expect(condition.status == "False" && condition.reason == "AnalysisFailed")
        #expect(condition.message.contains("errors = 0.031, must be <= 0.01"))
    }

    @Test func prometheusDownIsInconclusiveNeverAPass() {
        let s = Self.settings(count: 1, inconclusiveLimit: 5)
        // Within the inconclusive limit, but no metric ever had a successful measurement.
        let (r, _) = Self.pass(nil, at: Self.t0, settings: s) { _ in .unavailable("connection refused") }
        guard case .inconclusive(let message) = r.verdict else { Issue.record("inconclusive: \(r.verdict)"); return }
        #expect(message.contains("no successful measurement"))
        #expect(r.run.inconclusive == 2)
        // Over the limit it ends at once.
        let strict = Self.settings(count: 5, inconclusiveLimit: 1)
        var (s1, _) = Self.pass(nil, at: Self.t0, settings: strict) { $0 == "errors" ? .noData("no series") : .value(0.1) }
        #expect(s1.verdict == .running(nextIn: 10))
        (s1, _) = Self.pass(s1.run, at: Self.t0.addingTimeInterval(10), settings: strict) { _ in .unavailable("timeout") }
        guard case .inconclusive = s1.verdict else { Issue.record("inconclusive after 3 of limit 1: \(s1.verdict)"); return }
        #expect(AnalysisRunMachine.condition(of: s1.run).reason == "AnalysisInconclusive")
        #expect(s1.run.metrics?.first?.measurements?.last?.message == "Prometheus: timeout")
    }

    @Test func aRefusedQueryIsASpecErrorThatJudgesNothing() {
        let s = Self.settings()
        let (r, _) = Self.pass(nil, at: Self.t0, settings: s) { $0 == "latency" ? .invalidQuery("parse error") : .value(0) }
        #expect(r.verdict == .invalid(field: "spec.analysis.metrics[1].query", message: "Prometheus refused the query of latency: parse error"))
        #expect(r.run.phase == "Error")
        #expect(AnalysisRunMachine.condition(of: r.run).reason == "InvalidSpec")
        // Kept on the next pass (the same settings), read back from the status.
        let again = Self.pass(r.run, at: Self.t0.addingTimeInterval(30), settings: s) { _ in .value(0) }
        #expect(again.0.verdict == r.verdict)
    }

    @Test func aRunResumedFromItsJSONKeepsItsCounts() throws {
        let s = Self.settings(count: 3)
        let (first, _) = Self.pass(nil, at: Self.t0, settings: s) { _ in .value(0.001) }
        // What a restarted operator reads back from the API server.
        let stored = try JSONValue(encoding: first.run).decode(PynomalyDeploymentStatus.AnalysisRun.self)
        let (early, due) = Self.pass(stored, at: Self.t0.addingTimeInterval(9.9), settings: s) { _ in .value(0.001) }
        #expect(due.isEmpty, "not due 9.9 s after a measurement with a 10 s interval")
        #expect(early.run.metrics?.map(\.measured) == [1, 1])
        let (second, _) = Self.pass(stored, at: Self.t0.addingTimeInterval(10.001), settings: s) { _ in .value(0.001) }
        #expect(second.run.metrics?.map(\.measured) == [2, 2])
        #expect(second.events.isEmpty, "no second AnalysisStarted")
    }

    @Test func otherSettingsOrAnotherRevisionStartAgain() {
        let s = Self.settings()
        let (r, _) = Self.pass(nil, at: Self.t0, settings: s) { _ in .value(0.001) }
        let changed = Self.settings(count: 4)
        let restarted = AnalysisRunMachine.prepare(r.run, target: Self.target, settings: changed, now: Self.t0.addingTimeInterval(1))
        #expect(restarted.run.metrics?.map(\.measured) == [0, 0])
        #expect(restarted.events.map(\.reason) == ["AnalysisStarted"])
        let other = AnalysisRunMachine.prepare(r.run, target: AnalysisTarget(stage: .postPromotion, revision: 3, color: .blue), settings: s,
                                               now: Self.t0.addingTimeInterval(1))
        #expect(other.run.revision == 3 && other.run.metrics?.map(\.measured) == [0, 0])
    }

    @Test func measurementsAreBoundedCountsAreNot() {
        let s = Self.settings(count: 15, interval: 1, failureLimit: 14)
        var run: AnalysisRunMachine.Run?
        for i in 0..<15 {
            let (r, _) = Self.pass(run, at: Self.t0.addingTimeInterval(Double(i)), settings: s) { _ in .value(0.001) }
            run = r.run
        }
        #expect(run?.phase == "Successful")
        #expect(run?.metrics?.first?.measured == 15)
        #expect(run?.metrics?.first?.measurements?.count == AnalysisRunMachine.keptMeasurements)
    }

    @Test func skipAndAbortEndOnlyARunningRun() {
        let s = Self.settings()
        let (r, _) = Self.pass(nil, at: Self.t0, settings: s) { _ in .value(0.001) }
        let skipped = AnalysisRunMachine.end(r.run, as: .skipped, message: "skipped", now: Self.t0)
        #expect(AnalysisRunMachine.verdict(ofEnded: skipped, settings: s) == .skipped)
        #expect(AnalysisRunMachine.condition(of: skipped).status == "True")
        #expect(AnalysisRunMachine.end(skipped, as: .aborted, message: "x", now: Self.t0) == skipped)
    }
}

// MARK: - Settings and validation

@Suite struct AnalysisValidationTests {
    static func cr(_ analysis: PynomalyDeploymentSpec.Analysis, blueGreen: PynomalyDeploymentSpec.BlueGreen? = nil, memoryLimit: Bool = false) -> PynomalyDeployment {
        var spec = PynomalyDeploymentSpec(image: "ghcr.io/elgerytme/pynomaly:v0.1.3")
        if let blueGreen { spec.strategy = .init(type: .blueGreen, blueGreen: blueGreen) }
        if memoryLimit { spec.resources = .init(limits: ["memory": "1Gi"]) }
        spec.analysis = analysis
        return PynomalyDeployment(metadata: ObjectMeta(name: "app", namespace: "prod"), spec: spec)
    }

    @Test func enabledWithoutMetricsUsesTheRunbookDefaults() throws {
        let plain = try #require(Self.cr(.init(enabled: true, prometheus: .init(address: "http://prom:9090"))).spec.resolvedAnalysis())
        #expect(plain.metrics.map(\.name) == ["error-ratio", "latency-p95"], "no memory metric without a memory limit to compare with")
        #expect(plain.metrics.map(\.condition.max) == [0.01, 0.5])
        let limited = try #require(Self.cr(.init(prometheus: .init(address: "http://prom:9090")), memoryLimit: true).spec.resolvedAnalysis())
        #expect(limited.metrics.map(\.name) == ["error-ratio", "latency-p95", "memory-of-limit"])
        #expect(limited.metrics.last?.condition.max == 0.8)
        #expect(limited.window == 300)
        #expect(validate(Self.cr(.init(prometheus: .init(address: "http://prom:9090")), blueGreen: .init(), memoryLimit: true)).isEmpty,
                "the defaults fit the default scale-down delay")
        #expect(Self.cr(.init(enabled: false, prometheus: .init(address: "http://prom:9090"))).spec.resolvedAnalysis() == nil)
    }

    @Test func everyBadFieldIsNamed() {
        let metric = PynomalyDeploymentSpec.AnalysisMetric.self
        let problems = validate(Self.cr(.init(
            prometheus: .init(address: "prom:9090?x=1", caSecretRef: .init(name: "Bad_Name", key: ""), timeoutSeconds: 0),
            metrics: [
                metric.init(name: "errors", query: "up{job={{service}}}", successCondition: .init(max: 1)),
                metric.init(name: "errors", query: #"up{job="{{nope}}"}"#, successCondition: .init()),
                metric.init(name: "Lat", query: "sum(up", successCondition: .init(max: 1, min: 2), intervalSeconds: 0, count: 2, failureLimit: 2),
            ], inconclusiveLimit: -1)))
        let fields = Set(problems.map(\.field))
        for field in ["spec.analysis.prometheus.address", "spec.analysis.prometheus.caSecretRef.name", "spec.analysis.prometheus.caSecretRef.key",
                      "spec.analysis.prometheus.timeoutSeconds", "spec.analysis.inconclusiveLimit", "spec.analysis.metrics[0].query",
                      "spec.analysis.metrics[1].name", "spec.analysis.metrics[1].query", "spec.analysis.metrics[1].successCondition",
                      "spec.analysis.metrics[2].name", "spec.analysis.metrics[2].query", "spec.analysis.metrics[2].successCondition",
                      "spec.analysis.metrics[2].intervalSeconds", "spec.analysis.metrics[2].failureLimit"] {
            #expect(fields.contains(field), "\(field) in \(problems)")
        }
        #expect(problems.first { $0.field == "spec.analysis.metrics[0].query" }?.message.contains("inside a quoted label value") == true)
        #expect(validate(Self.cr(.init(enabled: true))).map(\.field) == ["spec.analysis.prometheus"])
    }

    @Test func thePostPromotionWindowMustFitTheScaleDownDelay() {
        let metrics = [PynomalyDeploymentSpec.AnalysisMetric(name: "errors", query: "vector(0)", successCondition: .init(max: 1), intervalSeconds: 30, count: 5)]
        let tooLong = validate(Self.cr(.init(prometheus: .init(address: "http://prom:9090"), metrics: metrics), blueGreen: .init(scaleDownDelaySeconds: 120)))
        #expect(tooLong.map(\.field) == ["spec.analysis"])
        #expect(tooLong.first?.message.contains("150 s") == true)
        #expect(validate(Self.cr(.init(prometheus: .init(address: "http://prom:9090"), metrics: metrics), blueGreen: .init(scaleDownDelaySeconds: 150))).isEmpty)
        #expect(validate(Self.cr(.init(prometheus: .init(address: "http://prom:9090"), metrics: metrics, postPromotion: false),
                                 blueGreen: .init(scaleDownDelaySeconds: 10))).isEmpty, "no post-promotion run, no window")
        #expect(validate(Self.cr(.init(prometheus: .init(address: "http://prom:9090"), metrics: metrics))).isEmpty, "RollingUpdate has no scale-down delay")
    }
}

// MARK: - Blue-green with analysis

@Suite struct BlueGreenAnalysisStepTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static func settings() throws -> ResolvedSpec.BlueGreen {
        var spec = PynomalyDeploymentSpec(image: "app:1")
        spec.strategy = .init(type: .blueGreen, blueGreen: .init(autoPromotion: true, autoPromotionSeconds: 0, scaleDownDelaySeconds: 300,
                                                                 smokeTest: .init(image: "curl", timeoutSeconds: 60)))
        return try #require(spec.resolved().strategy.blueGreen)
    }

    static func ready(_ hash: String, _ replicas: Int32 = 3) -> BlueGreenColorObservation {
        BlueGreenColorObservation(exists: true, templateHash: hash, specReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas,
                                  updatedReplicas: replicas, rollout: .complete)
    }

    static func input(step: BlueGreenStep, active: PynomalyDeploymentStatus.Color = .blue, activeRevision: Int64 = 1, previewRevision: Int64? = 2,
                      target: Int64 = 2, verdict: AnalysisVerdict?, blue: BlueGreenColorObservation = ready("h1"),
                      green: BlueGreenColorObservation = ready("h2"), smoke: BlueGreenSmokeJob.State? = nil) throws -> BlueGreenInput {
        var status = PynomalyDeploymentStatus.BlueGreen(activeColor: active, previewColor: active.other, step: step.rawValue,
                                                         activeRevision: activeRevision, previewRevision: previewRevision)
        if step == .postPromotionAnalysis { status.scaleDownAt = KubeTime.format(now.addingTimeInterval(200)) }
        var input = BlueGreenInput(name: "app", status: status, target: BlueGreenRevision(revision: target, templateHash: "h\(target)"),
                                   templateHashes: [1: "h1", 2: "h2"], generation: 2, settings: try settings(), desiredReplicas: 3,
                                   blue: blue, green: green, smokeJobs: smoke.map { [2: BlueGreenSmokeJob(color: .green, state: $0)] } ?? [:], now: now)
        input.analysis = BlueGreenAnalysis(prePromotion: true, postPromotion: true, verdict: verdict, message: "measuring")
        return input
    }

    @Test func aPassedSmokeTestLeadsToThePrePromotionAnalysisNotTheSwitch() throws {
        let decision = BlueGreenStateMachine.step(try Self.input(step: .smokeTesting, verdict: nil, smoke: .succeeded))
        #expect(decision.step == .prePromotionAnalysis)
        #expect(!decision.actions.contains(.switchTraffic(to: .green)))
        #expect(decision.requeueAfter != nil)
    }

    @Test func thePreviewWaitsWhileMeasuringAndIsPromotedWhenItPasses() throws {
        let waiting = BlueGreenStateMachine.step(try Self.input(step: .prePromotionAnalysis, verdict: .running(nextIn: 4)))
        #expect(waiting.step == .prePromotionAnalysis)
        #expect(waiting.requeueAfter == 4)
        #expect(waiting.hint.reconciling && !waiting.hint.ready)
        // Passed: auto-promoted, switched, and the post-promotion analysis begins.
        let passed = BlueGreenStateMachine.step(try Self.input(step: .prePromotionAnalysis, verdict: .successful))
        #expect(passed.actions.contains(.switchTraffic(to: .green)))
        #expect(passed.step == .postPromotionAnalysis)
    }

    @Test func aFailedPrePromotionAnalysisIsNotPromotedLikeAFailedSmokeTest() throws {
        let decision = BlueGreenStateMachine.step(try Self.input(step: .prePromotionAnalysis, verdict: .failed("errors = 0.03, must be <= 0.01")))
        #expect(decision.step == .aborted)
        #expect(decision.status.activeColor == .blue)
        #expect(!decision.actions.contains { if case .switchTraffic = $0 { return true } else { return false } })
        #expect(decision.actions.contains(.recordOutcome(revision: 2, outcome: .failed)))
        #expect(decision.lastRollback?.reason == "AnalysisFailed")
        #expect(decision.hint.stalled)
    }

    @Test func aFailedPostPromotionAnalysisSwitchesBackAtOnce() throws {
        let decision = BlueGreenStateMachine.step(try Self.input(step: .postPromotionAnalysis, active: .green, activeRevision: 2, previewRevision: 1,
                                                             target: 2, verdict: .failed("errors = 0.03, must be <= 0.01")))
        #expect(decision.actions.contains(.switchTraffic(to: .blue)))
        #expect(decision.status.activeColor == .blue && decision.status.activeRevision == 1)
        #expect(decision.step == .aborted)
        #expect(decision.actions.contains(.recordOutcome(revision: 2, outcome: .rolledBack)))
        #expect(decision.lastRollback?.fromRevision == 2 && decision.lastRollback?.toRevision == 1)
        #expect(decision.actions.contains(.scaleColor(.green, replicas: 0)))
    }

    @Test func theOldColourStaysUpWhileThePostPromotionAnalysisRuns() throws {
        var input = try Self.input(step: .postPromotionAnalysis, active: .green, activeRevision: 2, previewRevision: 1, target: 2, verdict: .running(nextIn: 5))
        input.now = Self.now.addingTimeInterval(400)  // past scaleDownAt
        let decision = BlueGreenStateMachine.step(input)
        #expect(decision.step == .postPromotionAnalysis)
        #expect(!decision.actions.contains(.scaleColor(.blue, replicas: 0)))
        let passed = BlueGreenStateMachine.step(try Self.input(step: .postPromotionAnalysis, active: .green, activeRevision: 2, previewRevision: 1,
                                                           target: 2, verdict: .successful))
        #expect(passed.step == .switched)
    }

    @Test func aSkipTokenPromotesAndAnAbortStillWorks() throws {
        var input = try Self.input(step: .prePromotionAnalysis, verdict: .running(nextIn: 5))
        input.skipAnalysisToken = "t1"
        input.promoteToken = "t1"
        let skipped = BlueGreenStateMachine.step(input)
        #expect(skipped.handledSkipAnalysis == "t1")
        #expect(skipped.handledPromote == "t1")
        #expect(skipped.actions.contains(.switchTraffic(to: .green)))
        #expect(skipped.step == .postPromotionAnalysis, "the skip ends the pre-promotion run only")
        var abort = try Self.input(step: .postPromotionAnalysis, active: .green, activeRevision: 2, previewRevision: 1, target: 2, verdict: .running(nextIn: 5))
        abort.abortToken = "a1"
        let aborted = BlueGreenStateMachine.step(abort)
        #expect(aborted.handledAbort == "a1")
        #expect(aborted.actions.contains(.switchTraffic(to: .blue)))
    }

    @Test func aRefusedQueryHoldsEverythingAsInvalidSpec() throws {
        let decision = BlueGreenStateMachine.step(try Self.input(step: .postPromotionAnalysis, active: .green, activeRevision: 2, previewRevision: 1,
                                                             target: 2, verdict: .invalid(field: "spec.analysis.metrics[0].query", message: "parse error")))
        #expect(decision.step == .postPromotionAnalysis)
        #expect(decision.hint.stalled && decision.hint.reason == "InvalidSpec")
        #expect(decision.hint.message.contains("spec.analysis.metrics[0].query"))
        #expect(!decision.actions.contains { if case .switchTraffic = $0 { return true } else { return false } })
    }

    @Test func aSkipTokenWithNothingToSkipIsConsumed() throws {
        var input = try Self.input(step: .idle, active: .green, activeRevision: 2, previewRevision: 1, target: 2, verdict: nil)
        input.skipAnalysisToken = "old"
        let decision = BlueGreenStateMachine.step(input)
        #expect(decision.handledSkipAnalysis == "old")
        #expect(decision.actions.contains { if case .event(let e) = $0 { return e.reason == "SkipAnalysisIgnored" } else { return false } })
    }
}

@Suite struct AnalysisFormatTests {
    /// Measured values print as `printf("%.4g")` prints them (the operator links no `String(format:)`).
    @Test func fourSignificantDigitsMatchPrintf() {
        for value in [0.03, 0.512, 1.5e-05, 0.0001234, 0.00012345, 1234.5, 12345.6, 99999.5, 9.9994, -0.25, 1e-4, 123.456, 0.1, 7e22] {
            #expect(AnalysisFormat.fourSignificantDigits(value) == String(format: "%.4g", value), "\(value)")
        }
        #expect(AnalysisFormat.number(3) == "3")
        #expect(AnalysisFormat.number(0.0299999) == "0.03")
    }
}
