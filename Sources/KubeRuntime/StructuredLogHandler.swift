#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
import Logging

/// How log lines look: JSON (one object per line, for log collectors in a cluster) or text (for a
/// terminal). Both carry the same fields: time, level, logger, message and the metadata.
public enum LogFormat: String, Sendable, CaseIterable {
    case json
    case text
}

/// A swift-log handler writing one line per message to a stream (standard error by default).
public struct StructuredLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let write: @Sendable (String) -> Void

    public init(label: String, format: LogFormat, level: Logger.Level,
                write: @escaping @Sendable (String) -> Void = StructuredLogHandler.standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        write(Self.render(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: merged, format: format) + "\n")
    }

    /// One log line, without the newline (pure, for tests).
    public static func render(time: Date, level: Logger.Level, label: String, message: String,
                              metadata: Logger.Metadata, format: LogFormat) -> String {
        let timestamp = time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        switch format {
        case .json:
            var fields: [(String, String)] = [("ts", timestamp), ("level", level.rawValue), ("logger", label), ("msg", message)]
            for key in metadata.keys.sorted() where !["ts", "level", "logger", "msg"].contains(key) {
                fields.append((key, metadata[key].map { "\($0)" } ?? ""))
            }
            return "{" + fields.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",") + "}"
        case .text:
            var line = "\(timestamp) \(level.rawValue.uppercased()) \(message)"
            for key in metadata.keys.sorted() {
                let value = metadata[key].map { "\($0)" } ?? ""
                line += " \(key)=" + (value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || value.isEmpty ? jsonString(value) : value)
            }
            return line
        }
    }

    /// A JSON string literal (KubeCore's JSON writer escapes quotes, backslashes and control characters).
    static func jsonString(_ value: String) -> String {
        JSONValue.string(value).serializedString()
    }

    /// Writes to standard error in one call per line, so concurrent lines do not interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        writeToStandardError(line)
    }
}
