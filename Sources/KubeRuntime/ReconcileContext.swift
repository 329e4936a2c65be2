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

    public init(controller: String, key: ObjectKey, reconcileID: String = ReconcileContext.newReconcileID(), baseLogger: Logger) {
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

    /// A random version-4 UUID in lowercase text, from the system generator (`getrandom`). Every
    /// reconcile takes one, and `UUID()` opens, reads and closes `/dev/urandom` for each on Linux.
    public static func newReconcileID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: generator.next() as UInt64, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: generator.next() as UInt64, toByteOffset: 8, as: UInt64.self)
        }
        bytes.6 = bytes.6 & 0x0F | 0x40  // version 4
        bytes.8 = bytes.8 & 0x3F | 0x80  // RFC 4122 variant
        return UUID(uuid: bytes).uuidString.lowercased()
    }
}

extension Logger {
    /// A logger that discards everything (the default where a caller passes none).
    public static let disabled = Logger(label: "pynomaly.disabled") { _ in SwiftLogNoOpLogHandler() }
}
