#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 ServiceAccount: the fields an operator sets on an account for its app's pods.
public struct ServiceAccount: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.serviceAccounts
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    /// Whether pods using the account get its API token mounted (unless the pod says otherwise).
    public var automountServiceAccountToken: Bool?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, automountServiceAccountToken }

    public init(metadata: ObjectMeta, automountServiceAccountToken: Bool? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.automountServiceAccountToken = automountServiceAccountToken
    }
}
