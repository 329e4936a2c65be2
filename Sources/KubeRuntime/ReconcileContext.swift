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
        // Bytes 0–7 and 8–15 of the UUID, most significant first.
        let high = (generator.next() as UInt64) & ~0xF000 | 0x4000  // version 4: byte 6's high nibble
        let low = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000  // variant 10
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, word) in [high, low].enumerated() {
            for nibble in 0..<16 {
                let position = index * 16 + nibble
                if position == 8 || position == 12 || position == 16 || position == 20 { text.append(UInt8(ascii: "-")) }
                text.append(digits[Int((word >> UInt64(60 - 4 * nibble)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Logger {
    /// A logger that discards everything (the default where a caller passes none).
    public static let disabled = Logger(label: "pynomaly.disabled") { _ in SwiftLogNoOpLogHandler() }
}
