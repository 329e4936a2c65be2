#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one-shot request annotations the plugin writes (docs/operations.md): each value is a fresh token,
/// so the operator runs each request once and re-applying a manifest does not repeat it.
/// The plugin keeps its own copy of the keys so that it depends only on the annotation contract.
public enum PluginRequest: String, Sendable, CaseIterable {
    case restart
    case promote
    case abort
    case backup
    case rollback
    case skipAnalysis

    /// The annotation key, e.g. `pynomaly.ai/restart`; rollback uses `pynomaly.ai/rollback-to`.
    public var annotationKey: String {
        switch self {
        case .rollback: return "pynomaly.ai/rollback-to"
        case .skipAnalysis: return "pynomaly.ai/skip-analysis"
        default: return "pynomaly.ai/\(rawValue)"
        }
    }
}

/// Request tokens: RFC 3339 UTC times with nanoseconds, e.g. `2026-11-27T03:04:05.123456789Z`.
/// Two calls differ because the clock is read at nanosecond resolution.
public enum PluginToken {
    /// The token for a point in time given as seconds and nanoseconds since the Unix epoch.
    public static func format(seconds: Int64, nanoseconds: Int64) -> String {
        let nanos = min(max(nanoseconds, 0), 999_999_999)
        var calendar = Calendar(identifier: .gregorian)
        // `.gmt`: FoundationEssentials knows no zone by name, not even "UTC".
        calendar.timeZone = .gmt
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int?, _ width: Int) -> String {
            let s = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2))"
            + ".\(pad(Int(nanos), 9))Z"
    }

    /// A fresh token from the real-time clock.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return format(seconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec))
    }

    /// Whether `text` has the token shape (used by tests and to recognise plugin-written values).
    public static func isToken(_ text: String) -> Bool {
        // dddd-dd-ddTdd:dd:dd.dddddddddZ
        let shape = Array("dddd-dd-ddTdd:dd:dd.dddddddddZ".utf8)
        let bytes = Array(text.utf8)
        guard bytes.count == shape.count else { return false }
        return zip(bytes, shape).allSatisfy { byte, expected in
            expected == UInt8(ascii: "d") ? (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) : byte == expected
        }
    }
}

/// The JSON merge patches the plugin sends. Each touches only its own key, so it never overwrites
/// the spec (or other annotations) that GitOps or other users own.
public enum PluginPatch {
    /// `{"metadata":{"annotations":{KEY: VALUE}}}`.
    public static func annotation(_ key: String, value: String) -> JSONValue {
        ["metadata": ["annotations": .object([key: .string(value)])]]
    }

    /// The patch that files a request with a token.
    public static func request(_ request: PluginRequest, token: String) -> JSONValue {
        annotation(request.annotationKey, value: token)
    }

    /// The rollback request: `pynomaly.ai/rollback-to: REVISION@TOKEN` (0 = the previous revision).
    public static func rollback(toRevision revision: Int64, token: String) -> JSONValue {
        annotation(PluginRequest.rollback.annotationKey, value: "\(revision)@\(token)")
    }

    /// `promote --skip-analysis`: ends the running analysis as Skipped and, for BlueGreen, files a
    /// promote with the same token so a skipped pre-promotion analysis promotes at once. One patch,
    /// so the operator never sees the promote without the skip.
    public static func skipAnalysis(token: String, blueGreen: Bool) -> JSONValue {
        var annotations: [String: JSONValue] = [PluginRequest.skipAnalysis.annotationKey: .string(token)]
        if blueGreen { annotations[PluginRequest.promote.annotationKey] = .string(token) }
        return ["metadata": ["annotations": .object(annotations)]]
    }

    /// `{"spec":{"paused":BOOL}}`.
    public static func paused(_ paused: Bool) -> JSONValue {
        ["spec": ["paused": .bool(paused)]]
    }
}
