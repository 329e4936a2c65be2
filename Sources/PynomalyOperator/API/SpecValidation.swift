#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// A spec problem only the operator can judge (the CRD schema checks types, enums, ranges and the
/// CEL rules): reported as `Stalled=True`, reason `InvalidSpec`, with a message naming the field.
public struct SpecProblem: Sendable, Hashable, CustomStringConvertible {
    /// The field path, e.g. `spec.resources.limits.memory`.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Environment variables and ConfigMap keys the operator sets itself; a user value would silently
/// override (env) or be overridden (config), so they are rejected.
public enum OwnedEnvironment {
    public static let database = [
        "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "DATABASE_SSLMODE",
        "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW", "DATABASE_PASSWORD",
    ]
    public static let redis = ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"]

    /// The names the operator owns for this spec (only the blocks that are set).
    public static func names(for spec: PynomalyDeploymentSpec) -> Set<String> {
        var names = Set<String>()
        if spec.database != nil { names.formUnion(database) }
        if spec.redis != nil { names.formUnion(redis) }
        return names
    }
}

/// Checks what the schema cannot express. An empty answer means the spec is valid. Time zones
/// are looked up in `timeZones`, as the CronJob validation of the API server looks them up.
public func validate(_ cr: PynomalyDeployment, timeZones: TimeZoneDatabase = .system) -> [SpecProblem] {
    var problems: [SpecProblem] = []
    func report(_ field: String, _ message: String) { problems.append(SpecProblem(field: field, message: message)) }
    let spec = cr.spec
    let owned = OwnedEnvironment.names(for: spec)

    // Children are named NAME and NAME-suffix, and a Service name must be an RFC 1035 label: the
    // API server would refuse the Service of a name such as my.app.v2 after the Deployment exists.
    if let name = cr.metadata.name, !SyntaxRules.isDNS1035Label(name) {
        report("metadata.name", "\"\(name)\" cannot name the Service: use lower-case letters, digits and '-', starting with a letter (an RFC 1035 label)")
    }
    if ImageReference(parsing: spec.image) == nil {
        report("spec.image", "\"\(spec.image)\" is not a valid image reference ([registry/]repository[:tag][@sha256:digest], lower-case repository)")
    }
    if let account = spec.serviceAccountName, !SyntaxRules.isDNSSubdomain(account) {
        report("spec.serviceAccountName", "\"\(account)\" is not a valid ServiceAccount name")
    }
    for (index, secret) in (spec.imagePullSecrets ?? []).enumerated() where !SyntaxRules.isDNSSubdomain(secret.name ?? "") {
        report("spec.imagePullSecrets[\(index)].name", "\"\(secret.name ?? "")\" is not a valid Secret name")
    }
    if let port = spec.port, !(1...65535).contains(port) { report("spec.port", "\(port) is not a port number (1-65535)") }

    // Resources: quantities parse, and requests do not exceed limits.
    let requests = spec.resources?.requests ?? [:]
    let limits = spec.resources?.limits ?? [:]
    for (kind, map) in [("requests", requests), ("limits", limits)] {
        for (resource, quantity) in map.sorted(by: { $0.key < $1.key }) {
            if !SyntaxRules.isQuantity(quantity.string) {
                report("spec.resources.\(kind).\(resource)", "\"\(quantity.string)\" is not a valid quantity (e.g. 750m, 2Gi)")
            } else if (quantity.value ?? 0) < 0 {
                report("spec.resources.\(kind).\(resource)", "\"\(quantity.string)\" must not be negative")
            }
        }
    }
    for (resource, request) in requests.sorted(by: { $0.key < $1.key }) {
        guard let limit = limits[resource], SyntaxRules.isQuantity(request.string), SyntaxRules.isQuantity(limit.string),
              let r = request.value, let l = limit.value, r > l else { continue }
        report("spec.resources.requests.\(resource)", "request \(request.string) exceeds the limit \(limit.string) (spec.resources.limits.\(resource))")
    }

    // Env: valid names, no duplicates, none the operator owns.
    var seen = Set<String>()
    for (index, variable) in (spec.env ?? []).enumerated() {
        let field = "spec.env[\(index)].name"
        if !SyntaxRules.isEnvVarName(variable.name) {
            report(field, "\"\(variable.name)\" is not a valid environment variable name (letters, digits, '_', '-', '.'; not starting with a digit)")
        }
        if !seen.insert(variable.name).inserted { report(field, "duplicate environment variable \"\(variable.name)\"") }
        if owned.contains(variable.name) {
            report(field, "\"\(variable.name)\" is set by the operator from spec.database/spec.redis; set it there instead")
        }
        if variable.value != nil && variable.valueFrom != nil {
            report("spec.env[\(index)]", "set either value or valueFrom, not both")
        }
        if let from = variable.valueFrom {
            let sources = [from.fieldRef != nil, from.resourceFieldRef != nil, from.configMapKeyRef != nil, from.secretKeyRef != nil].filter { $0 }.count
            if sources != 1 {
                report("spec.env[\(index)].valueFrom", sources == 0 ? "names no source: set one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef"
                                                                   : "sets \(sources) sources; exactly one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef is allowed")
            }
            for (kind, name, key) in [("configMapKeyRef", from.configMapKeyRef?.name, from.configMapKeyRef?.key),
                                      ("secretKeyRef", from.secretKeyRef?.name, from.secretKeyRef?.key)] {
                guard let key else { continue }
                if !SyntaxRules.isDNSSubdomain(name ?? "") { report("spec.env[\(index)].valueFrom.\(kind).name", "\"\(name ?? "")\" is not a valid object name") }
                if !SyntaxRules.isConfigMapKey(key) { report("spec.env[\(index)].valueFrom.\(kind).key", "\"\(key)\" is not a valid key") }
            }
        }
    }

    for key in (spec.config ?? [:]).keys.sorted() {
        let field = "spec.config.\(key)"
        if !SyntaxRules.isConfigMapKey(key) {
            report(field, "\"\(key)\" is not a valid ConfigMap key (letters, digits, '-', '_', '.'; at most 253)")
        }
        if owned.contains(key) { report(field, "\"\(key)\" is set by the operator from spec.database/spec.redis; set it there instead") }
    }

    if let db = spec.database {
        if !SyntaxRules.isDNSSubdomain(db.host) && !SyntaxRules.isIPAddress(db.host) {
            report("spec.database.host", "\"\(db.host)\" is not a valid host name")
        }
        if let port = db.port, !(1...65535).contains(port) { report("spec.database.port", "\(port) is not a port number (1-65535)") }
        if let ref = db.passwordSecretRef { checkSecretRef(ref, field: "spec.database.passwordSecretRef", report) }
        if let maintenance = db.maintenance {
            checkSchedule(maintenance.schedule, timeZone: maintenance.timeZone, field: "spec.database.maintenance", timeZones, report)
            checkCronJobName(MaintenanceCronJobBuilder.cronJobName(cr.metadata.name ?? ""), field: "spec.database.maintenance", report)
        }
    }
    if let redis = spec.redis {
        if !SyntaxRules.isDNSSubdomain(redis.host) && !SyntaxRules.isIPAddress(redis.host) {
            report("spec.redis.host", "\"\(redis.host)\" is not a valid host name")
        }
        if let port = redis.port, !(1...65535).contains(port) { report("spec.redis.port", "\(port) is not a port number (1-65535)") }
        if let ref = redis.passwordSecretRef { checkSecretRef(ref, field: "spec.redis.passwordSecretRef", report) }
    }

    if let rolling = spec.strategy?.rollingUpdate {
        let surge = rolling.maxSurge ?? ResolvedSpec.Defaults.maxSurge
        let unavailable = rolling.maxUnavailable ?? ResolvedSpec.Defaults.maxUnavailable
        if SyntaxRules.isZero(surge) && SyntaxRules.isZero(unavailable) {
            report("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable cannot both be 0 (the rollout could never start)")
        }
        checkCount(rolling.maxSurge, field: "spec.strategy.rollingUpdate.maxSurge", atMost100: false, report)
        checkCount(rolling.maxUnavailable, field: "spec.strategy.rollingUpdate.maxUnavailable", atMost100: true, report)
    }
    if let budget = spec.disruptionBudget {
        checkCount(budget.minAvailable, field: "spec.disruptionBudget.minAvailable", atMost100: true, report)
        checkCount(budget.maxUnavailable, field: "spec.disruptionBudget.maxUnavailable", atMost100: true, report)
    }

    if let ingress = spec.ingress {
        if let host = ingress.host, !SyntaxRules.isIngressHost(host) {
            report("spec.ingress.host", "\"\(host)\" is not a valid DNS host name (lower-case RFC 1123, optionally *.)")
        }
        if let secret = ingress.tls?.secretName, !SyntaxRules.isDNSSubdomain(secret) {
            report("spec.ingress.tls.secretName", "\"\(secret)\" is not a valid Secret name")
        }
        if let warnDays = ingress.tls?.warnDays, !CertificateStatus.warnDaysRange.contains(warnDays) {
            report("spec.ingress.tls.warnDays", "\(warnDays) is outside \(CertificateStatus.warnDaysRange.lowerBound)...\(CertificateStatus.warnDaysRange.upperBound) days")
        }
        for key in (ingress.annotations ?? [:]).keys.sorted() where !SyntaxRules.isQualifiedName(key) {
            report("spec.ingress.annotations.\(key)", "\"\(key)\" is not a valid annotation key")
        }
    }
    if let previewHost = spec.strategy?.blueGreen?.previewHost, !SyntaxRules.isIngressHost(previewHost) {
        report("spec.strategy.blueGreen.previewHost", "\"\(previewHost)\" is not a valid DNS host name (lower-case RFC 1123)")
    }
    if let image = spec.strategy?.blueGreen?.smokeTest?.image, ImageReference(parsing: image) == nil {
        report("spec.strategy.blueGreen.smokeTest.image", "\"\(image)\" is not a valid image reference")
    }

    if let pod = spec.pod {
        for (key, value) in (pod.labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !SyntaxRules.isQualifiedName(key) { report("spec.pod.labels.\(key)", "\"\(key)\" is not a valid label key") }
            if !SyntaxRules.isLabelValue(value) { report("spec.pod.labels.\(key)", "\"\(value)\" is not a valid label value (at most 63 characters)") }
        }
        for key in (pod.annotations ?? [:]).keys.sorted() where !SyntaxRules.isQualifiedName(key) {
            report("spec.pod.annotations.\(key)", "\"\(key)\" is not a valid annotation key")
        }
        for (key, value) in (pod.nodeSelector ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !SyntaxRules.isQualifiedName(key) { report("spec.pod.nodeSelector.\(key)", "\"\(key)\" is not a valid label key") }
            if !SyntaxRules.isLabelValue(value) { report("spec.pod.nodeSelector.\(key)", "\"\(value)\" is not a valid label value") }
        }
        for (index, toleration) in (pod.tolerations ?? []).enumerated() {
            checkToleration(toleration, field: "spec.pod.tolerations[\(index)]", report)
        }
        if let affinity = pod.affinity { checkAffinity(affinity, report) }
        for (index, constraint) in (pod.topologySpreadConstraints ?? []).enumerated() {
            checkTopologySpread(constraint, field: "spec.pod.topologySpreadConstraints[\(index)]", report)
        }
    }

    if let backup = spec.backup {
        checkSchedule(backup.schedule, timeZone: backup.timeZone, field: "spec.backup", timeZones, report)
        checkCronJobName(BackupCronJobBuilder.cronJobName(cr.metadata.name ?? ""), field: "spec.backup", report)
        if backup.enabled ?? true, spec.database == nil {
            report("spec.backup", "backups need spec.database (the PostgreSQL to dump)")
        }
        if let image = backup.image, ImageReference(parsing: image) == nil {
            report("spec.backup.image", "\"\(image)\" is not a valid image reference")
        }
        let claim = backup.storage.persistentVolumeClaim
        if let size = claim.size, !SyntaxRules.isQuantity(size.string) || (size.value ?? 0) <= 0 {
            report("spec.backup.storage.persistentVolumeClaim.size", "\"\(size.string)\" is not a positive quantity (e.g. 20Gi)")
        }
        if let name = claim.claimName, !SyntaxRules.isDNSSubdomain(name) {
            report("spec.backup.storage.persistentVolumeClaim.claimName", "\"\(name)\" is not a valid PersistentVolumeClaim name")
        }
    }
    if let image = spec.database?.maintenance?.image, ImageReference(parsing: image) == nil {
        report("spec.database.maintenance.image", "\"\(image)\" is not a valid image reference")
    }
    if let analysis = spec.analysis, analysis.enabled ?? true { checkAnalysis(spec, analysis, report) }
    return problems
}

/// `spec.analysis`: a reachable address, valid Secret references, templates that parse and render
/// only into quoted label values, conditions that can pass, counts that can fail; and for BlueGreen
/// a post-promotion window the old colour outlives, so a failure can still switch back at once.
private func checkAnalysis(_ spec: PynomalyDeploymentSpec, _ analysis: PynomalyDeploymentSpec.Analysis, _ report: (String, String) -> Void) {
    guard let prometheus = analysis.prometheus else {
        report("spec.analysis.prometheus", "the Prometheus server is required when analysis is enabled")
        return
    }
    if let url = URLComponents(string: prometheus.address), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
       let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil {
        if scheme == "http", prometheus.caSecretRef != nil {
            report("spec.analysis.prometheus.caSecretRef", "a CA only applies to an https address")
        }
    } else {
        report("spec.analysis.prometheus.address", "\"\(prometheus.address)\" is not an http(s) URL without query (e.g. http://prometheus.monitoring:9090)")
    }
    if let ref = prometheus.caSecretRef { checkSecretRef(ref, field: "spec.analysis.prometheus.caSecretRef", report) }
    if let ref = prometheus.bearerTokenSecretRef { checkSecretRef(ref, field: "spec.analysis.prometheus.bearerTokenSecretRef", report) }
    if let timeout = prometheus.timeoutSeconds, timeout < 1 { report("spec.analysis.prometheus.timeoutSeconds", "\(timeout) must be at least 1") }
    if let limit = analysis.inconclusiveLimit, limit < 0 { report("spec.analysis.inconclusiveLimit", "\(limit) must not be negative") }
    var names = Set<String>()
    for (index, metric) in (analysis.metrics ?? []).enumerated() {
        let field = "spec.analysis.metrics[\(index)]"
        if !SyntaxRules.isDNSLabel(metric.name) {
            report("\(field).name", "\"\(metric.name)\" is not a valid metric name (lower-case letters, digits and '-', at most 63)")
        } else if !names.insert(metric.name).inserted {
            report("\(field).name", "\"\(metric.name)\" is listed twice")
        }
        do {
            _ = try AnalysisQueryTemplate(metric.query)
        } catch {
            report("\(field).query", "\(error)")
        }
        let condition = metric.successCondition
        if condition.min == nil && condition.max == nil {
            report("\(field).successCondition", "set max, min or both")
        }
        for (bound, value) in [("max", condition.max), ("min", condition.min)] {
            if let value, !value.isFinite { report("\(field).successCondition.\(bound)", "must be a finite number") }
        }
        if let min = condition.min, let max = condition.max, min > max {
            report("\(field).successCondition", "min \(AnalysisFormat.number(min)) is greater than max \(AnalysisFormat.number(max)): no value could pass")
        }
        if let interval = metric.intervalSeconds, interval < 1 { report("\(field).intervalSeconds", "\(interval) must be at least 1") }
        let count = metric.count ?? AnalysisDefaults.count
        if count < 1 { report("\(field).count", "\(count) must be at least 1") }
        if let limit = metric.failureLimit, limit < 0 || limit >= count {
            report("\(field).failureLimit", "\(limit) must be at least 0 and less than count (\(count)), or the metric could never fail the run")
        }
    }
    let resolved = spec.resolved()
    if let blueGreen = resolved.strategy.blueGreen, let settings = resolved.analysis, settings.postPromotion,
       settings.window > Int64(blueGreen.scaleDownDelaySeconds) {
        report("spec.analysis", "the post-promotion analysis takes up to \(settings.window) s (count × intervalSeconds), longer than "
               + "spec.strategy.blueGreen.scaleDownDelaySeconds (\(blueGreen.scaleDownDelaySeconds) s): a failure must find the old colour still scaled up")
    }
}

/// CronJob names are limited to 52 characters (the controller appends an 11-character suffix to
/// name its Jobs), so a long CR name cannot have these CronJobs.
private func checkCronJobName(_ name: String, field: String, _ report: (String, String) -> Void) {
    if name.count > 52 {
        report(field, "the CronJob name \(name) would be \(name.count) characters; CronJob names are limited to 52, so shorten metadata.name")
    }
}

/// An int-or-string count as kube-apiserver accepts it: a non-negative integer, or `N%` with an
/// integer N (at most 100 where a percentage of the replicas is a bound).
private func checkCount(_ value: IntOrString?, field: String, atMost100: Bool, _ report: (String, String) -> Void) {
    guard let value else { return }
    switch value {
    case .int(let n):
        if n < 0 { report(field, "\(n) must not be negative") }
    case .string(let text):
        guard text.hasSuffix("%"), let percent = Int(text.dropLast()) else {
            report(field, "\"\(text)\" is neither an integer nor a percentage such as 25%")
            return
        }
        if percent < 0 { report(field, "\"\(text)\" must not be negative") }
        if atMost100 && percent > 100 { report(field, "\"\(text)\" must not be more than 100%") }
    }
}

/// A toleration as kube-apiserver validates it (`validateTolerations`).
private func checkToleration(_ t: Toleration, field: String, _ report: (String, String) -> Void) {
    if let key = t.key, !key.isEmpty, !SyntaxRules.isQualifiedName(key) { report("\(field).key", "\"\(key)\" is not a valid label key") }
    switch t.operator ?? "Equal" {
    case "Equal":
        if (t.key ?? "").isEmpty { report("\(field).operator", "an empty key needs operator Exists (it matches every taint)") }
        if let value = t.value, !SyntaxRules.isLabelValue(value) { report("\(field).value", "\"\(value)\" is not a valid label value") }
    case "Exists":
        if let value = t.value, !value.isEmpty { report("\(field).value", "must be empty when operator is Exists") }
    case let other:
        report("\(field).operator", "\"\(other)\" is not a toleration operator (Equal or Exists)")
    }
    if let effect = t.effect, !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect) {
        report("\(field).effect", "\"\(effect)\" is not a taint effect (NoSchedule, PreferNoSchedule or NoExecute)")
    }
    if t.tolerationSeconds != nil, t.effect != "NoExecute" { report("\(field).tolerationSeconds", "is only allowed with effect NoExecute") }
}

/// The affinity's structure: only the fields core/v1 Affinity has, two levels down (server-side
/// apply answers an unknown field there with a 500 once the Deployment is written).
private func checkAffinity(_ affinity: JSONValue, _ report: (String, String) -> Void) {
    guard let kinds = affinity.objectValue else {
        report("spec.pod.affinity", "must be an object with nodeAffinity, podAffinity or podAntiAffinity")
        return
    }
    let terms: Set<String> = ["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"]
    for (kind, value) in kinds.sorted(by: { $0.key < $1.key }) {
        guard ["nodeAffinity", "podAffinity", "podAntiAffinity"].contains(kind) else {
            report("spec.pod.affinity.\(kind)", "unknown field (core/v1 Affinity has nodeAffinity, podAffinity and podAntiAffinity)")
            continue
        }
        guard let fields = value.objectValue else {
            report("spec.pod.affinity.\(kind)", "must be an object")
            continue
        }
        for key in fields.keys.sorted() where !terms.contains(key) {
            report("spec.pod.affinity.\(kind).\(key)", "unknown field (expected requiredDuringSchedulingIgnoredDuringExecution or preferredDuringSchedulingIgnoredDuringExecution)")
        }
    }
}

/// A topology spread constraint needs maxSkew ≥ 1, a topologyKey and whenUnsatisfiable.
private func checkTopologySpread(_ constraint: JSONValue, field: String, _ report: (String, String) -> Void) {
    guard constraint.objectValue != nil else {
        report(field, "must be an object with maxSkew, topologyKey and whenUnsatisfiable")
        return
    }
    if (constraint["maxSkew"]?.intValue ?? 0) < 1 { report("\(field).maxSkew", "must be an integer of at least 1") }
    let key = constraint["topologyKey"]?.stringValue ?? ""
    if key.isEmpty || !SyntaxRules.isQualifiedName(key) { report("\(field).topologyKey", "\"\(key)\" is not a valid label key (e.g. topology.kubernetes.io/zone)") }
    let when = constraint["whenUnsatisfiable"]?.stringValue ?? ""
    if !["DoNotSchedule", "ScheduleAnyway"].contains(when) {
        report("\(field).whenUnsatisfiable", "\"\(when)\" must be DoNotSchedule or ScheduleAnyway")
    }
}

/// A CronJob schedule and time zone as Kubernetes accepts them (the error names the cron field).
private func checkSchedule(_ schedule: String?, timeZone: String?, field: String, _ timeZones: TimeZoneDatabase,
                           _ report: (String, String) -> Void) {
    if let schedule {
        do {
            _ = try CronSchedule(parsing: schedule)
        } catch {
            report("\(field).schedule", "\"\(schedule)\" is not a valid cron schedule: \(error)")
        }
    }
    if let timeZone {
        do {
            _ = try timeZones.rules(for: timeZone)
        } catch {
            report("\(field).timeZone", "\"\(timeZone)\" is not a known IANA time zone (e.g. Etc/UTC, Europe/Berlin): \(error.reason)")
        }
    }
}

private func checkSecretRef(_ ref: PynomalyDeploymentSpec.SecretKeyRef, field: String, _ report: (String, String) -> Void) {
    if ref.name.isEmpty {
        report("\(field).name", "a Secret name is required")
    } else if !SyntaxRules.isDNSSubdomain(ref.name) {
        report("\(field).name", "\"\(ref.name)\" is not a valid Secret name")
    }
    if ref.key.isEmpty {
        report("\(field).key", "a Secret key is required")
    } else if !SyntaxRules.isConfigMapKey(ref.key) {
        report("\(field).key", "\"\(ref.key)\" is not a valid Secret key")
    }
}

/// The Kubernetes name and value syntaxes the validation needs.
enum SyntaxRules {
    static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
    static func isLowerAlnum(_ c: Character) -> Bool { c.isASCII && ((c.isLetter && c.isLowercase) || c.isNumber) }

    // The names checked on every new generation are checked as UTF-8 bytes: every character these
    // syntaxes accept is ASCII, so a byte outside them rejects the name as its character would,
    // at a fraction of the cost of iterating Characters.
    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || isDigit(b) }
    static func isAlnum(_ b: UInt8) -> Bool { isLowerAlnum(b) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) }
    static func isOneOf(_ b: UInt8, _ set: StaticString) -> Bool {
        set.withUTF8Buffer { $0.contains(b) }
    }

    /// RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, at most 63.
    static func isDNSLabel(_ s: String) -> Bool { isDNSLabel(bytes: s.utf8) }

    static func isDNSLabel<Bytes: BidirectionalCollection>(bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last, isLowerAlnum(first), isLowerAlnum(last) else {
            return false
        }
        return bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// RFC 1123 subdomain: dot-separated labels, at most 253.
    /// RFC 1035 label (Service names): lower-case alphanumerics and '-', starting with a letter.
    static func isDNS1035Label(_ s: String) -> Bool {
        guard let first = s.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        return isDNSLabel(s)
    }

    static func isDNSSubdomain(_ s: String) -> Bool {
        guard (1...253).contains(s.utf8.count) else { return false }
        return s.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { isDNSLabel(bytes: $0) }
    }

    /// An Ingress host: a DNS subdomain, optionally with a leading `*.` wildcard; never an IP.
    static func isIngressHost(_ s: String) -> Bool {
        let host = s.hasPrefix("*.") ? String(s.dropFirst(2)) : s
        return isDNSSubdomain(host) && !isIPAddress(host)
    }

    static func isIPAddress(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) && (Int($0) ?? 256) <= 255 }) { return true }
        return s.contains(":") && s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }

    /// The classic Kubernetes env var name rule (C identifier plus '-' and '.').
    static func isEnvVarName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !isDigit(first) else { return false }
        return s.utf8.allSatisfy { isAlnum($0) || isOneOf($0, "_-.") }
    }

    /// A ConfigMap / Secret key.
    static func isConfigMapKey(_ s: String) -> Bool {
        (1...253).contains(s.utf8.count) && s != "." && s != ".." && s.utf8.allSatisfy { isAlnum($0) || isOneOf($0, "-_.") }
    }

    /// A label/annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63.
    static func isQualifiedName(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        if parts.count == 2 && !isDNSSubdomain(String(parts[0])) { return false }
        guard let name = parts.last, (1...63).contains(name.count), let first = name.first, let last = name.last,
              isAlnum(first), isAlnum(last) else { return false }
        return name.allSatisfy { isAlnum($0) || "-_.".contains($0) }
    }

    /// A label value: empty, or at most 63 alphanumerics/-_. starting and ending alphanumeric.
    static func isLabelValue(_ s: String) -> Bool {
        if s.isEmpty { return true }
        guard s.count <= 63, let first = s.first, let last = s.last, isAlnum(first), isAlnum(last) else { return false }
        return s.allSatisfy { isAlnum($0) || "-_.".contains($0) }
    }

    /// Made once: a set literal in `isQuantity` hashed all sixteen on every call.
    private static let quantitySuffixes: Set<Substring> = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"]

    /// resource.Quantity syntax (the CRD's pattern) with a value that parses.
    static func isQuantity(_ s: String) -> Bool {
        var rest = Substring(s)
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        let numberEnd = rest.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? rest.endIndex
        let number = rest[..<numberEnd]
        guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1 else { return false }
        let suffix = rest[numberEnd...]
        if !quantitySuffixes.contains(suffix) {
            // Decimal exponent: e.g. 1e3, 2E-2.
            guard let e = suffix.first, e == "e" || e == "E" else { return false }
            var exponent = suffix.dropFirst()
            if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
            guard !exponent.isEmpty, exponent.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        return Quantity(s).value != nil
    }

    /// Zero as an int-or-string count (`0` or `0%`).
    static func isZero(_ v: IntOrString) -> Bool {
        switch v {
        case .int(let i): return i == 0
        case .string(let s): return (s.hasSuffix("%") ? Int(s.dropLast()) : Int(s)) == 0
        }
    }
}
