import KubeCore

/// One API permission the operator needs: what `preflight` checks with SelfSubjectAccessReview and
/// what the ClusterRole in `manifests/` must grant (one list, so the two cannot drift apart).
public struct Permission: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var resource: String
    public var subresource: String?
    public var verbs: [String]
    /// Why the operator needs it (shown by preflight when it is missing).
    public var purpose: String
    /// True for permissions checked in the operator's own namespace (leases), not cluster-wide.
    public var operatorNamespaceOnly: Bool

    public init(group: String, resource: String, subresource: String? = nil, verbs: [String], purpose: String, operatorNamespaceOnly: Bool = false) {
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.verbs = verbs
        self.purpose = purpose
        self.operatorNamespaceOnly = operatorNamespaceOnly
    }

    /// `deployments.apps`, `pynomalydeployments.pynomaly.ai/status`, `configmaps`.
    public var description: String {
        let base = group.isEmpty ? resource : "\(resource).\(group)"
        return subresource.map { "\(base)/\($0)" } ?? base
    }
}

extension Permission {
    /// What an owned kind needs: read it (informer, `get` before a first apply), create and patch it
    /// through server-side apply (an apply that creates an object is also authorized as `create` by
    /// kube-apiserver), and delete an optional child that is no longer wanted. No `update`: every
    /// write to an owned object is a server-side apply patch.
    static let manage = ["get", "list", "watch", "create", "patch", "delete"]

    /// Everything the operator does against the API, by resource: the verbs the code uses, nothing more.
    public static let operatorPermissions: [Permission] = [
        Permission(group: "pynomaly.ai", resource: "pynomalydeployments", verbs: ["get", "list", "watch"],
                   purpose: "watch PynomalyDeployments"),
        Permission(group: "pynomaly.ai", resource: "pynomalydeployments", subresource: "status", verbs: ["update"],
                   purpose: "report status and record handled requests"),
        Permission(group: "pynomaly.ai", resource: "pynomalydeployments", subresource: "finalizers", verbs: ["update"],
                   purpose: "set blockOwnerDeletion on children's owner references (OwnerReferencesPermissionEnforcement)"),
        Permission(group: "pynomaly.ai", resource: "pynomalyrestores", verbs: ["get", "list", "watch"],
                   purpose: "run restores"),
        Permission(group: "pynomaly.ai", resource: "pynomalyrestores", subresource: "status", verbs: ["update"],
                   purpose: "report restore progress"),
        Permission(group: "pynomaly.ai", resource: "pynomalyrestores", subresource: "finalizers", verbs: ["update"],
                   purpose: "set blockOwnerDeletion on the restore's Jobs (OwnerReferencesPermissionEnforcement)"),
        Permission(group: "", resource: "configmaps", verbs: manage, purpose: "own NAME-config; track referenced ConfigMaps"),
        Permission(group: "", resource: "secrets", verbs: ["get", "list", "watch"],
                   purpose: "roll pods when a referenced Secret rotates, judge the Ingress's TLS certificate: metadata-only list/watch, one GET of a referenced or TLS Secret when it changed, reduced and dropped"),
        Permission(group: "", resource: "services", verbs: manage, purpose: "own the stable and colour Services"),
        Permission(group: "", resource: "serviceaccounts", verbs: manage,
                   purpose: "own the app's ServiceAccount NAME (no token, no role) unless spec.serviceAccountName names one"),
        Permission(group: "", resource: "pods", verbs: ["list"], purpose: "summarise pod problems in status"),
        Permission(group: "", resource: "persistentvolumeclaims", verbs: ["get", "list", "watch", "create"],
                   purpose: "create backup storage (never updated or deleted)"),
        Permission(group: "", resource: "events", verbs: ["create", "patch"], purpose: "record Events"),
        Permission(group: "apps", resource: "deployments", verbs: manage, purpose: "own the application Deployments"),
        Permission(group: "apps", resource: "controllerrevisions", verbs: manage, purpose: "keep revision history"),
        Permission(group: "batch", resource: "jobs", verbs: manage, purpose: "smoke tests, on-demand backups, restores"),
        Permission(group: "batch", resource: "cronjobs", verbs: manage, purpose: "scheduled backups and maintenance"),
        Permission(group: "networking.k8s.io", resource: "ingresses", verbs: manage, purpose: "own the Ingress and switch blue-green"),
        Permission(group: "autoscaling", resource: "horizontalpodautoscalers", verbs: manage, purpose: "own the HorizontalPodAutoscaler"),
        Permission(group: "policy", resource: "poddisruptionbudgets", verbs: manage, purpose: "own the PodDisruptionBudget"),
        // No list/watch: these kinds may not exist, so they have no informer; the pass reads them by name.
        Permission(group: "monitoring.coreos.com", resource: "servicemonitors", verbs: ["get", "create", "patch", "delete"],
                   purpose: "own the ServiceMonitor (spec.monitoring.serviceMonitor)"),
        Permission(group: "monitoring.coreos.com", resource: "prometheusrules", verbs: ["get", "create", "patch", "delete"],
                   purpose: "own the PrometheusRule (spec.monitoring.prometheusRule)"),
        Permission(group: "cert-manager.io", resource: "certificates", verbs: ["get"],
                   purpose: "show the Ready condition of the cert-manager Certificate issuing spec.ingress.tls.secretName"),
        Permission(group: "coordination.k8s.io", resource: "leases", verbs: ["get", "create", "update"],
                   purpose: "leader election", operatorNamespaceOnly: true),
    ]
}
