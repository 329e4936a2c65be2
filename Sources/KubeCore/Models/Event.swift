#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// core/v1 Event (what `kubectl describe` shows). No spec/status: the fields are top level.
public struct Event: KubeResource, UnknownFieldPreserving {
    public static let resourceType = ResourceType.events
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference?
    public var reason: String?
    public var message: String?
    /// `Normal` or `Warning`.
    public var type: String?
    public var source: EventSource?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var count: Int32?
    public var eventTime: MicroTime?
    public var series: JSONValue?
    public var action: String?
    public var related: ObjectReference?
    public var reportingComponent: String?
    public var reportingInstance: String?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, metadata, involvedObject, reason, message, type, source, firstTimestamp, lastTimestamp, count,
             eventTime, series, action, related, reportingComponent, reportingInstance
    }

    public init(metadata: ObjectMeta, involvedObject: ObjectReference, reason: String, message: String, type: String = "Normal",
                source: EventSource? = nil, reportingComponent: String? = nil, reportingInstance: String? = nil) {
        self.apiVersion = Self.resourceType.apiVersion
        self.kind = Self.resourceType.kind
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
        self.source = source
        self.reportingComponent = reportingComponent
        self.reportingInstance = reportingInstance
    }
}

/// core/v1 EventSource.
public struct EventSource: Codable, Sendable, Hashable {
    public var component: String?
    public var host: String?
    public init(component: String? = nil, host: String? = nil) {
        self.component = component
        self.host = host
    }
}
