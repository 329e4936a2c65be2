#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The type of a watch event line.
public enum WatchEventType: String, Sendable, Hashable, Codable {
    case added = "ADDED"
    case modified = "MODIFIED"
    case deleted = "DELETED"
    case bookmark = "BOOKMARK"
    case error = "ERROR"
}

/// One event of a watch stream, decoded. `ERROR` lines never become events: they become
/// `KubeError.api` with the Status they carry (410 Expired is `isGone`).
public struct WatchEvent<Object: Sendable>: Sendable {
    public var type: WatchEventType
    public var object: Object

    public init(type: WatchEventType, object: Object) {
        self.type = type
        self.object = object
    }
}

/// Splits a byte stream into newline-terminated lines, however the chunks fall. Pure and
/// incremental: it holds at most one partial line, and refuses lines longer than `maxLineBytes`
/// so a broken server cannot make it buffer without bound.
public struct LineSplitter: Sendable {
    public var maxLineBytes: Int
    private var partial = Data()

    public init(maxLineBytes: Int = 64 << 20) { self.maxLineBytes = maxLineBytes }

    /// Feeds a chunk; returns the complete lines it finished (without the newline; empty lines skipped).
    /// The newline search runs over the raw bytes: `Data`'s own collection methods cost several
    /// times more per byte, and every byte of every watch event passes through here.
    public mutating func feed(_ chunk: Data) throws -> [Data] {
        var lines: [Data] = []
        chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let base = bytes.baseAddress else { return }
            var start = 0
            while let nl = firstIndex(of: 0x0A, in: bytes, from: start) {
                var line = partial
                line.append(base + start, count: nl - start)
                partial = Data()
                if line.last == 0x0D { line.removeLast() }
                if !line.isEmpty { lines.append(line) }
                start = nl + 1
            }
            partial.append(base + start, count: bytes.count - start)
        }
        if partial.count > maxLineBytes {
            partial = Data()
            throw KubeError.decoding("watch line longer than \(maxLineBytes) bytes")
        }
        return lines
    }

    /// What is left when the stream ends: a last line without a newline, if any.
    public mutating func finish() -> Data? {
        defer { partial = Data() }
        let trimmed = partial.last == 0x0D ? partial.dropLast() : partial
        return trimmed.isEmpty ? nil : Data(trimmed)
    }
}

/// Decodes one watch line (`{"type": ..., "object": {...}}`) into a raw event.
public enum WatchLineDecoder {
    /// `droppingManagedFields`: the object's `metadata.managedFields` is checked but not built
    /// (for a consumer that would discard it).
    public static func decode(_ line: Data, droppingManagedFields: Bool = false) throws -> WatchEvent<JSONValue> {
        let value: JSONValue
        do {
            value = try droppingManagedFields ? JSONValue(parsing: line, droppingManagedFieldsAt: 1) : JSONValue(parsing: line)
        } catch {
            throw KubeError.decoding("malformed watch line (\(error)): \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        guard let typeString = value["type"]?.stringValue else {
            throw KubeError.decoding("watch line without a \"type\" field: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        guard let type = WatchEventType(rawValue: typeString) else {
            throw KubeError.decoding("watch line with unknown type \"\(typeString)\"")
        }
        guard let object = value["object"], case .object = object else {
            throw KubeError.decoding("watch line of type \(typeString) without an \"object\"")
        }
        if type == .error {
            let status = (try? object.decode(Status.self)) ?? Status(message: object.serializedString(), code: 500)
            throw KubeError.api(status, httpCode: status.code ?? 500)
        }
        return WatchEvent(type: type, object: object)
    }
}
