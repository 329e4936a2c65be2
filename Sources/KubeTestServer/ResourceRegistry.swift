import Foundation
import KubeCore

/// How a kind's `metadata.generation` moves.
enum GenerationPolicy: Sendable, Hashable {
    /// The kind has no generation (ConfigMap, Secret, Service, Lease, ...).
    case none
    /// +1 when anything outside metadata and status changes.
    case spec
    /// Like `.spec`, and also on annotation changes (Deployments, fixture 05).
    case specAndAnnotations
}

/// The `/scale` subresource of a kind: where the replicas live in the parent object.
struct ScaleSubresource: Sendable, Hashable {
    var specReplicasPath: [String]
    var statusReplicasPath: [String]
    /// nil: the selector is built from `spec.selector` (built-ins); otherwise a path to a string.
    var labelSelectorPath: [String]?
}

/// One `additionalPrinterColumns` entry of a CRD (or a built-in's default columns).
struct PrinterColumn: Sendable, Hashable {
    var name: String
    var type: String
    var format: String
    var description: String
    var priority: Int
    var jsonPath: String
}

/// Everything the server knows about one served resource (group/version/plural).
struct ResourceInfo: Sendable, Hashable {
    var group: String
    var version: String
    var resource: String
    var kind: String
    var listKind: String
    var singular: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    var verbs: [String] = ResourceInfo.allVerbs
    var hasStatus: Bool = false
    var scale: ScaleSubresource? = nil
    var generation: GenerationPolicy = .none
    var isCustom: Bool = false
    var printerColumns: [PrinterColumn] = []
    /// Field selectors beyond metadata.name/namespace (fixtures 09/14).
    var extraFieldSelectors: [String] = []
    /// Name rule: DNS subdomain (most kinds) or DNS label (namespaces, services).
    var nameIsLabel: Bool = false
    /// Extra subresources shown in discovery only (not served).
    var discoveryOnlySubresources: [(name: String, kind: String, verbs: [String])] = []
    /// Another resource whose objects these are (events.k8s.io Events share core Events' storage).
    var storageAlias: String? = nil

    static let allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var groupResource: String { group.isEmpty ? resource : "\(resource).\(group)" }
    /// Key of the storage this resource's objects live in (shared across versions of a group).
    var storageKey: String { storageAlias ?? "\(group)/\(resource)" }

    static func == (a: ResourceInfo, b: ResourceInfo) -> Bool {
        a.group == b.group && a.version == b.version && a.resource == b.resource
    }
    func hash(into h: inout Hasher) {
        h.combine(group); h.combine(version); h.combine(resource)
    }
}

/// The table of built-in kinds. Adding a kind is one entry here.
enum BuiltinResources {
    static func make(_ group: String, _ version: String, _ resource: String, _ kind: String, namespaced: Bool = true,
                     short: [String] = [], categories: [String] = [], status: Bool = false, generation: GenerationPolicy = .none,
                     verbs: [String] = ResourceInfo.allVerbs, fieldSelectors: [String] = [], label: Bool = false,
                     scale: ScaleSubresource? = nil) -> ResourceInfo {
        var r = ResourceInfo(group: group, version: version, resource: resource, kind: kind, listKind: kind + "List",
                             singular: kind.lowercased(), namespaced: namespaced)
        r.shortNames = short
        r.categories = categories
        r.hasStatus = status
        r.generation = generation
        r.verbs = verbs
        r.extraFieldSelectors = fieldSelectors
        r.nameIsLabel = label
        r.scale = scale
        return r
    }

    static let replicasScale = ScaleSubresource(specReplicasPath: ["spec", "replicas"], statusReplicasPath: ["status", "replicas"], labelSelectorPath: nil)

    static let all: [ResourceInfo] = {
        let nsVerbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        var list: [ResourceInfo] = [
            make("", "v1", "namespaces", "Namespace", namespaced: false, short: ["ns"], status: true, verbs: nsVerbs,
                 fieldSelectors: ["status.phase"], label: true),
            make("", "v1", "configmaps", "ConfigMap", short: ["cm"]),
            make("", "v1", "secrets", "Secret", fieldSelectors: ["type"]),
            make("", "v1", "services", "Service", short: ["svc"], categories: ["all"], status: true, label: true),
            make("", "v1", "serviceaccounts", "ServiceAccount", short: ["sa"]),
            make("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short: ["pvc"], status: true),
            make("", "v1", "pods", "Pod", short: ["po"], categories: ["all"], status: true, generation: .spec,
                 fieldSelectors: ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                                  "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]),
            make("", "v1", "events", "Event", short: ["ev"],
                 fieldSelectors: ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                                  "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                                  "reason", "reportingComponent", "source", "type"]),
            make("", "v1", "endpoints", "Endpoints", short: ["ep"]),
            make("apps", "v1", "deployments", "Deployment", short: ["deploy"], categories: ["all"], status: true,
                 generation: .specAndAnnotations, scale: replicasScale),
            make("apps", "v1", "replicasets", "ReplicaSet", short: ["rs"], categories: ["all"], status: true, generation: .spec,
                 scale: replicasScale),
            make("apps", "v1", "statefulsets", "StatefulSet", short: ["sts"], categories: ["all"], status: true, generation: .spec,
                 scale: replicasScale),
            make("apps", "v1", "daemonsets", "DaemonSet", short: ["ds"], categories: ["all"], status: true, generation: .spec),
            make("apps", "v1", "controllerrevisions", "ControllerRevision"),
            make("batch", "v1", "jobs", "Job", categories: ["all"], status: true, generation: .spec),
            make("batch", "v1", "cronjobs", "CronJob", short: ["cj"], categories: ["all"], status: true, generation: .spec),
            make("networking.k8s.io", "v1", "ingresses", "Ingress", short: ["ing"], status: true, generation: .spec),
            make("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short: ["netpol"], generation: .spec),
            make("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced: false, generation: .spec),
            make("networking.k8s.io", "v1", "ipaddresses", "IPAddress", namespaced: false, short: ["ip"]),
            make("networking.k8s.io", "v1", "servicecidrs", "ServiceCIDR", namespaced: false, status: true, generation: .spec),
            make("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short: ["hpa"], categories: ["all"], status: true),
            make("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short: ["pdb"], status: true, generation: .spec),
            make("coordination.k8s.io", "v1", "leases", "Lease"),
            make("events.k8s.io", "v1", "events", "Event", short: ["ev"],
                 fieldSelectors: ["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason",
                                  "reportingController", "type"]),
            make("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced: false,
                 short: ["crd", "crds"], categories: ["api-extensions"], status: true, generation: .spec),
            make("rbac.authorization.k8s.io", "v1", "roles", "Role"),
            make("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
            make("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced: false),
            make("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced: false),
            make("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced: false, verbs: ["create"]),
            make("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced: false, verbs: ["create"]),
            make("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", namespaced: false, verbs: ["create"]),
            make("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced: false, verbs: ["create"]),
        ]
        for i in list.indices {
            switch list[i].resource {
            case "namespaces": list[i].discoveryOnlySubresources = [("finalize", "Namespace", ["update"])]
            case "serviceaccounts": list[i].discoveryOnlySubresources = [("token", "TokenRequest", ["create"])]
            case "pods":
                list[i].discoveryOnlySubresources = [
                    ("attach", "PodAttachOptions", ["create", "get"]), ("binding", "Binding", ["create"]),
                    ("ephemeralcontainers", "Pod", ["get", "patch", "update"]), ("eviction", "Eviction", ["create"]),
                    ("exec", "PodExecOptions", ["create", "get"]), ("log", "Pod", ["get"]),
                    ("portforward", "PodPortForwardOptions", ["create", "get"]),
                    ("proxy", "PodProxyOptions", ["create", "delete", "get", "patch", "update"]), ("resize", "Pod", ["get", "patch", "update"]),
                ]
            case "events" where list[i].group == "events.k8s.io": list[i].storageAlias = "/events"
            case "services": list[i].discoveryOnlySubresources = [("proxy", "ServiceProxyOptions", ["create", "delete", "get", "patch", "update"])]
            default: break
            }
        }
        return list
    }()
}

/// Served resources: built-ins plus CRD-registered kinds. Not thread-safe; lives inside the server state lock.
struct ResourceRegistry: Sendable {
    private(set) var resources: [ResourceInfo] = BuiltinResources.all

    /// Groups in discovery order (core first, then built-in groups, then CRD groups by creation).
    var groupOrder: [String] {
        var seen: [String] = []
        for r in resources where !r.group.isEmpty && !seen.contains(r.group) { seen.append(r.group) }
        return seen
    }

    func versions(ofGroup group: String) -> [String] {
        var out: [String] = []
        for r in resources where r.group == group && !out.contains(r.version) { out.append(r.version) }
        return out
    }

    func lookup(group: String, version: String, resource: String) -> ResourceInfo? {
        resources.first { $0.group == group && $0.version == version && $0.resource == resource }
    }

    func servesGroupVersion(group: String, version: String) -> Bool {
        resources.contains { $0.group == group && $0.version == version }
    }

    /// Finds a resource by kind (for ownerReferences and events): first match by apiVersion, then by kind.
    func lookup(apiVersion: String, kind: String) -> ResourceInfo? {
        resources.first { $0.apiVersion == apiVersion && $0.kind == kind }
    }

    /// Registers (or re-registers) the kinds of a CustomResourceDefinition object.
    mutating func register(crd: JSONValue) {
        guard let group = crd[path: ["spec", "group"]]?.stringValue,
              let plural = crd[path: ["spec", "names", "plural"]]?.stringValue,
              let kind = crd[path: ["spec", "names", "kind"]]?.stringValue else { return }
        unregister(group: group, resource: plural)
        let names = crd[path: ["spec", "names"]]
        let namespaced = crd[path: ["spec", "scope"]]?.stringValue != "Cluster"
        for v in crd[path: ["spec", "versions"]]?.arrayValue ?? [] where v["served"]?.boolValue ?? true {
            guard let version = v["name"]?.stringValue else { continue }
            var r = ResourceInfo(group: group, version: version, resource: plural, kind: kind,
                                 listKind: names?["listKind"]?.stringValue ?? kind + "List",
                                 singular: names?["singular"]?.stringValue ?? kind.lowercased(), namespaced: namespaced)
            r.shortNames = names?["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? []
            r.categories = names?["categories"]?.arrayValue?.compactMap(\.stringValue) ?? []
            r.verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
            r.isCustom = true
            r.generation = .spec
            r.hasStatus = v[path: ["subresources", "status"]] != nil
            if let s = v[path: ["subresources", "scale"]] {
                r.scale = ScaleSubresource(
                    specReplicasPath: Self.jsonPathSegments(s["specReplicasPath"]?.stringValue ?? ".spec.replicas"),
                    statusReplicasPath: Self.jsonPathSegments(s["statusReplicasPath"]?.stringValue ?? ".status.replicas"),
                    labelSelectorPath: s["labelSelectorPath"]?.stringValue.map(Self.jsonPathSegments))
            }
            r.printerColumns = (v["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { c in
                guard let name = c["name"]?.stringValue, let path = c["jsonPath"]?.stringValue else { return nil }
                return PrinterColumn(name: name, type: c["type"]?.stringValue ?? "string", format: c["format"]?.stringValue ?? "",
                                     description: c["description"]?.stringValue ?? "", priority: Int(c["priority"]?.intValue ?? 0),
                                     jsonPath: path)
            }
            r.storageAlias = "\(group)/\(plural)"
            resources.append(r)
        }
    }

    mutating func unregister(group: String, resource: String) {
        resources.removeAll { $0.isCustom && $0.group == group && $0.resource == resource }
    }

    static func jsonPathSegments(_ path: String) -> [String] {
        path.split(separator: ".").map(String.init)
    }
}
