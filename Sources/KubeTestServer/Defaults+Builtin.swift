import Foundation
import KubeCore

/// The defaults kube-apiserver adds to built-in kinds (fixture 20). A controller that compares
/// desired to actual objects sees these, so the test server must add exactly them. Pure.
enum BuiltinDefaults {
    static func apply(to obj: inout JSONValue, info: ResourceInfo) {
        obj = droppingNulls(obj)
        switch (info.group, info.kind) {
        case ("", "Namespace"):
            let name = obj[path: ["metadata", "name"]]?.stringValue ?? ""
            obj[path: ["metadata", "labels", "kubernetes.io/metadata.name"]] = .string(name)
        case ("apps", "Deployment"):
            setIfMissing(&obj, ["spec", "replicas"], 1)
            if obj[path: ["spec", "strategy", "type"]] == nil { obj[path: ["spec", "strategy", "type"]] = "RollingUpdate" }
            if obj[path: ["spec", "strategy", "type"]]?.stringValue == "RollingUpdate" {
                setIfMissing(&obj, ["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
                setIfMissing(&obj, ["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
            }
            setIfMissing(&obj, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&obj, ["spec", "progressDeadlineSeconds"], 600)
            podTemplate(&obj, ["spec", "template"])
            setIfMissing(&obj, ["status"], [:])
        case ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"):
            if info.kind != "DaemonSet" { setIfMissing(&obj, ["spec", "replicas"], 1) }
            podTemplate(&obj, ["spec", "template"])
            setIfMissing(&obj, ["status"], info.kind == "ReplicaSet" ? ["replicas": 0] : [:])
        case ("batch", "Job"):
            jobSpec(&obj, ["spec"])
            setIfMissing(&obj, ["status"], [:])
        case ("batch", "CronJob"):
            setIfMissing(&obj, ["spec", "concurrencyPolicy"], "Allow")
            setIfMissing(&obj, ["spec", "suspend"], false)
            setIfMissing(&obj, ["spec", "successfulJobsHistoryLimit"], 3)
            setIfMissing(&obj, ["spec", "failedJobsHistoryLimit"], 1)
            setIfMissing(&obj, ["spec", "jobTemplate", "metadata"], [:])
            setIfMissing(&obj, ["spec", "jobTemplate", "spec", "template", "metadata"], [:])
            podSpec(&obj, ["spec", "jobTemplate", "spec", "template", "spec"])
            setIfMissing(&obj, ["status"], [:])
        case ("", "Service"):
            let type = obj[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
            setIfMissing(&obj, ["spec", "type"], "ClusterIP")
            setIfMissing(&obj, ["spec", "sessionAffinity"], "None")
            if type != "ExternalName" {
                setIfMissing(&obj, ["spec", "internalTrafficPolicy"], "Cluster")
            }
            if type == "NodePort" || type == "LoadBalancer" { setIfMissing(&obj, ["spec", "externalTrafficPolicy"], "Cluster") }
            if var ports = obj[path: ["spec", "ports"]]?.arrayValue {
                for i in ports.indices {
                    if ports[i]["protocol"] == nil { ports[i]["protocol"] = "TCP" }
                    if ports[i]["targetPort"] == nil, let p = ports[i]["port"] { ports[i]["targetPort"] = p }
                }
                obj[path: ["spec", "ports"]] = .array(ports)
            }
            setIfMissing(&obj, ["status", "loadBalancer"], [:])
        case ("", "ConfigMap"):
            for f in ["data", "binaryData"] where obj[f]?.objectValue?.isEmpty == true { obj[f] = nil }
        case ("", "Secret"):
            if let sd = obj["stringData"]?.objectValue {
                var data = obj["data"]?.objectValue ?? [:]
                for (k, v) in sd { data[k] = .string(Data((v.stringValue ?? "").utf8).base64EncodedString()) }
                obj["data"] = .object(data)
                obj["stringData"] = nil
            }
            setIfMissing(&obj, ["type"], "Opaque")
        case ("autoscaling", "HorizontalPodAutoscaler"):
            setIfMissing(&obj, ["spec", "minReplicas"], 1)
            if info.version == "v2" {
                setIfMissing(&obj, ["status", "desiredReplicas"], 0)
                if obj[path: ["status", "currentMetrics"]] == nil { obj[path: ["status", "currentMetrics"]] = .null }
            }
        case ("networking.k8s.io", "Ingress"):
            setIfMissing(&obj, ["status", "loadBalancer"], [:])
        case ("policy", "PodDisruptionBudget"):
            for k in ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"] { setIfMissing(&obj, ["status", k], 0) }
        case ("", "PersistentVolumeClaim"):
            setIfMissing(&obj, ["spec", "volumeMode"], "Filesystem")
            setIfMissing(&obj, ["status", "phase"], "Pending")
        case ("", "Pod"):
            podSpec(&obj, ["spec"])
            setIfMissing(&obj, ["spec", "enableServiceLinks"], true)
            setIfMissing(&obj, ["status", "phase"], "Pending")
            setIfMissing(&obj, ["status", "qosClass"], .string(qosClass(obj[path: ["spec", "containers"]]?.arrayValue ?? [])))
        case ("apiextensions.k8s.io", "CustomResourceDefinition"):
            setIfMissing(&obj, ["spec", "conversion", "strategy"], "None")
        case ("", "ServiceAccount"):
            break
        case ("coordination.k8s.io", "Lease"):
            break
        default:
            break
        }
    }

    /// What the registry and admission add after the field manager ran (so no manager owns it):
    /// namespace finalizers and phase, Service IP families, the PVC protection finalizer.
    static func applyAfterFieldManager(to obj: inout JSONValue, info: ResourceInfo) {
        switch (info.group, info.kind) {
        case ("", "Namespace"):
            setIfMissing(&obj, ["spec", "finalizers"], ["kubernetes"])
            setIfMissing(&obj, ["status", "phase"], "Active")
        case ("", "Service"):
            guard obj[path: ["spec", "type"]]?.stringValue != "ExternalName" else { return }
            if let ip = obj[path: ["spec", "clusterIP"]]?.stringValue, !ip.isEmpty, obj[path: ["spec", "clusterIPs"]] == nil {
                obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
            }
            setIfMissing(&obj, ["spec", "ipFamilies"], ["IPv4"])
            setIfMissing(&obj, ["spec", "ipFamilyPolicy"], "SingleStack")
        case ("", "Pod"):
            // Admission plugins (ServiceAccount, Priority, DefaultTolerationSeconds).
            setIfMissing(&obj, ["spec", "serviceAccountName"], "default")
            if obj[path: ["spec", "serviceAccount"]] == nil { obj[path: ["spec", "serviceAccount"]] = obj[path: ["spec", "serviceAccountName"]] }
            setIfMissing(&obj, ["spec", "priority"], 0)
            setIfMissing(&obj, ["spec", "preemptionPolicy"], "PreemptLowerPriority")
            if obj[path: ["spec", "tolerations"]] == nil {
                obj[path: ["spec", "tolerations"]] = [
                    ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300],
                    ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300],
                ]
            }
        case ("", "PersistentVolumeClaim"):
            var f = obj[path: ["metadata", "finalizers"]]?.arrayValue ?? []
            if !f.contains("kubernetes.io/pvc-protection") { f.append("kubernetes.io/pvc-protection") }
            obj[path: ["metadata", "finalizers"]] = .array(f)
        default: break
        }
    }

    /// JSON null decodes to Go's zero value in built-in kinds, so it counts as missing.
    static func setIfMissing(_ obj: inout JSONValue, _ path: [String], _ value: JSONValue) {
        if obj[path: path] == nil || obj[path: path] == .null { obj[path: path] = value }
    }

    /// Drops nulls from a built-in object (Go decodes them to absent fields).
    static func droppingNulls(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o): return .object(o.filter { !$0.value.isNull }.mapValues(droppingNulls))
        case .array(let a): return .array(a.map(droppingNulls))
        default: return v
        }
    }

    static func podTemplate(_ obj: inout JSONValue, _ path: [String]) {
        podSpec(&obj, path + ["spec"])
    }

    static func jobSpec(_ obj: inout JSONValue, _ path: [String]) {
        setIfMissing(&obj, path + ["parallelism"], 1)
        setIfMissing(&obj, path + ["completions"], 1)
        setIfMissing(&obj, path + ["backoffLimit"], 6)
        setIfMissing(&obj, path + ["completionMode"], "NonIndexed")
        setIfMissing(&obj, path + ["suspend"], false)
        setIfMissing(&obj, path + ["podReplacementPolicy"], "TerminatingOrFailed")
        podSpec(&obj, path + ["template", "spec"])
    }

    static func podSpec(_ obj: inout JSONValue, _ path: [String]) {
        guard obj[path: path] != nil else { return }
        setIfMissing(&obj, path + ["restartPolicy"], "Always")
        setIfMissing(&obj, path + ["terminationGracePeriodSeconds"], 30)
        setIfMissing(&obj, path + ["dnsPolicy"], "ClusterFirst")
        setIfMissing(&obj, path + ["securityContext"], [:])
        setIfMissing(&obj, path + ["schedulerName"], "default-scheduler")
        for key in ["containers", "initContainers"] {
            guard var list = obj[path: path + [key]]?.arrayValue else { continue }
            for i in list.indices { container(&list[i]) }
            obj[path: path + [key]] = .array(list)
        }
    }

    static func container(_ c: inout JSONValue) {
        if c["resources"] == nil { c["resources"] = [:] }
        // Requests default to the limits when only limits are given.
        if let limits = c[path: ["resources", "limits"]]?.objectValue {
            var req = c[path: ["resources", "requests"]]?.objectValue ?? [:]
            for (k, v) in limits where req[k] == nil { req[k] = v }
            c[path: ["resources", "requests"]] = .object(req)
        }
        if c["terminationMessagePath"] == nil { c["terminationMessagePath"] = "/dev/termination-log" }
        if c["terminationMessagePolicy"] == nil { c["terminationMessagePolicy"] = "File" }
        if c["imagePullPolicy"] == nil {
            let image = c["image"]?.stringValue ?? ""
            let last = image.split(separator: "/").last.map(String.init) ?? image
            let tagged = last.contains(":") && !last.hasSuffix(":latest")
            c["imagePullPolicy"] = (tagged || image.contains("@")) ? "IfNotPresent" : "Always"
        }
        if var ports = c["ports"]?.arrayValue {
            for i in ports.indices where ports[i]["protocol"] == nil { ports[i]["protocol"] = "TCP" }
            c["ports"] = .array(ports)
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] where c[probe] != nil {
            for (k, v) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)] as [(String, Int64)]
                where c[path: [probe, k]] == nil {
                c[path: [probe, k]] = .int(v)
            }
            if c[path: [probe, "httpGet"]] != nil, c[path: [probe, "httpGet", "scheme"]] == nil { c[path: [probe, "httpGet", "scheme"]] = "HTTP" }
            if c[path: [probe, "httpGet"]] != nil, c[path: [probe, "httpGet", "path"]] == nil { c[path: [probe, "httpGet", "path"]] = "/" }
        }
    }

    static func qosClass(_ containers: [JSONValue]) -> String {
        var anyResources = false
        var guaranteed = true
        for c in containers {
            let limits = c[path: ["resources", "limits"]]?.objectValue ?? [:]
            let requests = c[path: ["resources", "requests"]]?.objectValue ?? limits
            if !limits.isEmpty || !requests.isEmpty { anyResources = true }
            for r in ["cpu", "memory"] where limits[r] == nil || limits[r] != requests[r] { guaranteed = false }
        }
        if !anyResources { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }
}
