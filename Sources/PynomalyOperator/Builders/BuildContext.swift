#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// Everything a builder needs: the CR, its resolved spec, and the inputs the reconciler computes.
/// Builders are pure functions of this value.
public struct BuildContext: Sendable, Hashable {
    public var cr: PynomalyDeployment
    /// `cr.spec.resolved()`.
    public var spec: ResolvedSpec
    public var namespace: String
    /// The CR's name: the prefix of every child name.
    public var name: String
    /// Hash over the content of the Secrets/ConfigMaps the spec references; a change rolls the pods.
    public var referencedContentHash: String
    /// The handled `pynomaly.ai/restart` token, if any; a new token rolls the pods.
    public var restartToken: String?

    public init(cr: PynomalyDeployment, namespace: String? = nil, referencedContentHash: String = "", restartToken: String? = nil) {
        self.cr = cr
        self.spec = cr.spec.resolved()
        self.namespace = namespace ?? cr.metadata.namespace ?? "default"
        self.name = cr.metadata.name ?? ""
        self.referencedContentHash = referencedContentHash
        self.restartToken = restartToken
    }

    /// The pod selector (never the version).
    public var selectorLabels: [String: String] { PynomalyLabels.selector(for: name) }

    /// The labels of every owned object (no version: see `PynomalyLabels.common`).
    public var labels: [String: String] { PynomalyLabels.common(for: name) }

    /// The controller reference to the CR, so children are garbage-collected with it.
    public var ownerReference: OwnerReference {
        OwnerReference(apiVersion: PynomalyDeployment.resourceType.apiVersion, kind: PynomalyDeployment.resourceType.kind,
                       name: name, uid: cr.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)
    }

    /// Metadata of an owned object: namespace, full labels (plus `extraLabels`), the owner reference.
    public func metadata(name objectName: String, extraLabels: [String: String] = [:], annotations: [String: String]? = nil) -> ObjectMeta {
        ObjectMeta(name: objectName, namespace: namespace, labels: labels.merging(extraLabels) { _, extra in extra },
                   annotations: annotations, ownerReferences: [ownerReference])
    }

    /// The replicas the operator applies: nil while autoscaling is enabled (the HPA owns the count).
    public var desiredReplicas: Int32? { spec.autoscaling == nil ? spec.replicas : nil }

    /// `NAME-config`.
    public var configMapName: String { "\(name)-config" }
}

/// Annotation keys the builders write.
public enum PynomalyAnnotations {
    /// Hash of the ConfigMap data, on the pod template.
    public static let configHash = "pynomaly.ai/config-hash"
    /// Hash of referenced Secret/ConfigMap content, on the pod template.
    public static let referencedHash = "pynomaly.ai/referenced-hash"
    /// The restart token, on the pod template.
    public static let restart = "pynomaly.ai/restart"
    /// cert-manager's issuer annotation on the Ingress.
    public static let clusterIssuer = "cert-manager.io/cluster-issuer"
}
