#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// autoscaling/v1 Scale: the `scale` subresource of Deployments and scalable custom resources.
public struct Scale: Codable, Sendable, UnknownFieldPreserving {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: ScaleSpec?
    public var status: ScaleStatus?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(metadata: ObjectMeta, replicas: Int32) {
        self.apiVersion = "autoscaling/v1"
        self.kind = "Scale"
        self.metadata = metadata
        self.spec = ScaleSpec(replicas: replicas)
    }
}

/// autoscaling/v1 ScaleSpec.
public struct ScaleSpec: Codable, Sendable, Hashable {
    public var replicas: Int32?
    public init(replicas: Int32? = nil) { self.replicas = replicas }
}

/// autoscaling/v1 ScaleStatus.
public struct ScaleStatus: Codable, Sendable, Hashable {
    public var replicas: Int32
    /// The label selector of the pods, in string form.
    public var selector: String?
    public init(replicas: Int32, selector: String? = nil) {
        self.replicas = replicas
        self.selector = selector
    }
}
