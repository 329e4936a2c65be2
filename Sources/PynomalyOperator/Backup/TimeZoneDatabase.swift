#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import KubeCore

/// The IANA time zones on this machine: the compiled tz database (Debian's `tzdata`), found where
/// Go's `time.LoadLocation` looks, so the operator knows the zones the CronJob controller knows:
/// the directory in `$ZONEINFO`, then /usr/share/zoneinfo, /usr/share/lib/zoneinfo,
/// /usr/lib/locale/TZ and /etc/zoneinfo.
///
/// Nothing is cached: a zone is read when a pass needs it (a few kilobytes, microseconds), so a
/// database installed or updated while the operator runs is seen at once.
public struct TimeZoneDatabase: Sendable, Hashable {
    public let directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    public static let standardDirectories = ["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"]

    /// `$ZONEINFO` (when set) and the standard directories.
    public static let system: TimeZoneDatabase = {
        let variable = getenv("ZONEINFO").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return TimeZoneDatabase(directories: (variable.map { [$0] } ?? []) + standardDirectories)
    }()

    /// No real zone file comes near this; a larger file is not one.
    static let maximumFileBytes = 256 * 1024

    /// The rules of `identifier`; the error says why there are none (a name Kubernetes refuses, no
    /// such zone, a file that cannot be read or is not a zone).
    public func rules(for identifier: String) throws(TimeZoneLookupError) -> TimeZoneRules {
        if let problem = Self.nameProblem(identifier) { throw TimeZoneLookupError(identifier: identifier, reason: problem) }
        // Go answers UTC without a file, so Kubernetes accepts it where no database is installed.
        if identifier == "UTC" { return .utc }
        for directory in directories {
            let path = directory.hasSuffix("/") ? directory + identifier : directory + "/" + identifier
            let bytes: Data
            do {
                bytes = try LocalFiles.contents(of: path, maximumBytes: Self.maximumFileBytes)
            } catch {
                // A directory (`Europe`) is a group of zones, not one.
                if error.isMissing || error.code == EISDIR { continue }
                throw TimeZoneLookupError(identifier: identifier, reason: "cannot read \(path): \(error.reason)")
            }
            do {
                return try TimeZoneRules(identifier: identifier, tzif: [UInt8](bytes))
            } catch {
                throw TimeZoneLookupError(identifier: identifier, reason: "\(path) is not a time zone file: \(error.reason)")
            }
        }
        let places = directories.joined(separator: ", ")
        throw TimeZoneLookupError(identifier: identifier, reason: "not in the time zone database (looked in \(places); is tzdata installed?)")
    }

    /// What Kubernetes refuses in a CronJob's `timeZone` before it looks the zone up (the
    /// batch/v1 validation): an empty name, `Local`, and a path part that is `.` or `..`, starts
    /// with `-`, or is not 1 to 14 of `A-Za-z0-9._-+`. Nil when the name passes.
    public static func nameProblem(_ identifier: String) -> String? {
        if identifier.isEmpty { return "the time zone is empty" }
        for part in identifier.split(separator: "/", omittingEmptySubsequences: false) {
            let allowed = part.utf8.allSatisfy { c in
                (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") || c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: "+")
            }
            if part == "." || part == ".." || part.hasPrefix("-") || part.isEmpty || part.utf8.count > 14 || !allowed {
                return "not a time zone name (parts of 1 to 14 letters, digits, \".\", \"_\", \"-\" or \"+\", separated by \"/\")"
            }
        }
        if identifier.lowercased() == "local" { return "Local is not accepted: name the zone, e.g. Etc/UTC or Europe/Berlin" }
        return nil
    }
}

/// Why a time zone name gives no rules.
public struct TimeZoneLookupError: Error, Sendable, Hashable, CustomStringConvertible {
    public let identifier: String
    public let reason: String
    public var description: String { "\"\(identifier)\": \(reason)" }
}
