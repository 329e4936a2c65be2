#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// What a reconcile knows about itself: its controller, key and a unique id, and a logger that
/// carries them as metadata. Set as a task-local value by the controller around each reconcile,
/// so a reconciler (and anything it calls) logs with the right fields without passing them down.
public struct ReconcileContext: Sendable {
    public let controller: String
    public let key: ObjectKey
    /// Unique per reconcile (like controller-runtime's `reconcileID`), to group its log lines.
    public let reconcileID: String
    public let logger: Logger

    public init(controller: String, key: ObjectKey, reconcileID: String = UUID().uuidString.lowercased(), baseLogger: Logger) {
        self.controller = controller
        self.key = key
        self.reconcileID = reconcileID
        var logger = baseLogger
        logger[metadataKey: "controller"] = .string(controller)
        if let namespace = key.namespace { logger[metadataKey: "namespace"] = .string(namespace) }
        logger[metadataKey: "name"] = .string(key.name)
        logger[metadataKey: "reconcileID"] = .string(reconcileID)
        self.logger = logger
    }

    /// The context of the reconcile running on this task, if any.
    @TaskLocal public static var current: ReconcileContext?
}

extension Logger {
    /// A logger that discards everything (the default where a caller passes none).
    public static let disabled = Logger(label: "pynomaly.disabled") { _ in SwiftLogNoOpLogHandler() }
}
