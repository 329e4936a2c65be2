#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The labels the operator puts on everything it creates.
public enum PynomalyLabels {
    public static let nameKey = "app.kubernetes.io/name"
    public static let instanceKey = "app.kubernetes.io/instance"
    public static let managedByKey = "app.kubernetes.io/managed-by"
    public static let versionKey = "app.kubernetes.io/version"
    /// What a Job, CronJob or claim is for (`smoke-test`, `backup`, `db-maintenance`, …).
    public static let componentKey = "app.kubernetes.io/component"
    public static let appName = "pynomaly"
    public static let managerName = "pynomaly-operator"
    /// Selects one colour's pods (blue-green); added to selectors through `selectorExtra`.
    public static let colorKey = "pynomaly.ai/color"
    /// The pod-template hash of a ControllerRevision.
    public static let templateHashKey = "pynomaly.ai/template-hash"

    /// The pod selector of a CR's app pods. Never includes the version: selectors are immutable.
    public static func selector(for name: String) -> [String: String] {
        [nameKey: appName, instanceKey: name]
    }

    /// The selector as a label-selector string (`status.selector`, scale subresource), keys sorted.
    public static func selectorString(for name: String) -> String {
        selector(for: name).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// The labels of every owned object: the selector plus managed-by. The image's version is not
    /// among them: it goes on the pod template and the Deployment only, so an image change rewrites
    /// the Deployment and not every child.
    public static func common(for name: String) -> [String: String] {
        var labels = selector(for: name)
        labels[managedByKey] = managerName
        return labels
    }

    /// The labels of the app's Deployment: `common` plus the image's version.
    public static func all(for name: String, image: String) -> [String: String] {
        var labels = selector(for: name)
        labels[managedByKey] = managerName
        labels[versionKey] = version(ofImage: image)
        return labels
    }

    /// The image tag as a valid label value (`ghcr.io/x/pynomaly:v0.1.3` → `v0.1.3`); a digest-only
    /// reference gives `sha256-<12 hex>`, an untagged one `latest`.
    public static func version(ofImage image: String) -> String {
        let reference = ImageReference(parsing: image)
        let raw: String
        if let tag = reference?.tag {
            raw = tag
        } else if let digest = reference?.digest {
            raw = String(digest.replacing(":", with: "-").prefix(19))
        } else {
            raw = "latest"
        }
        return labelValue(raw)
    }

    /// `text` made a valid label value: invalid characters become `-`, at most 63 characters,
    /// starting and ending with an alphanumeric.
    public static func labelValue(_ text: String) -> String {
        let mapped = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" }.prefix(63))
        let trimmed = mapped.drop { !($0.isLetter || $0.isNumber) }
        return String(trimmed.reversed().drop { !($0.isLetter || $0.isNumber) }.reversed())
    }
}

/// An image reference split into its parts (`[registry/]path[:tag][@digest]`), or nil when malformed.
public struct ImageReference: Sendable, Hashable {
    public var name: String
    public var tag: String?
    public var digest: String?

    /// The rules are ASCII by definition, so they are checked on the UTF-8 bytes: every pass that
    /// builds a pod template or a Deployment reads the image's tag.
    public init?(parsing reference: String) {
        let bytes = Array(reference.utf8)
        // ASCII without whitespace or control characters.
        guard !bytes.isEmpty, bytes.count <= 4096, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        var rest = bytes[...]
        if let at = rest.firstIndex(of: UInt8(ascii: "@")) {
            let digest = rest[(at + 1)...]
            let parts = digest.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty,
                  parts[0].allSatisfy({ Self.isLower($0) || Self.isDigit($0) || Self.isOneOf($0, "+._-") }),
                  parts[1].count >= 32, parts[1].allSatisfy({ Self.isDigit($0) || (0x61...0x66).contains($0) }) else { return nil }
            self.digest = String(decoding: digest, as: UTF8.self)
            rest = rest[..<at]
        }
        let lastSlash = rest.lastIndex(of: UInt8(ascii: "/"))
        if let colon = rest.lastIndex(of: UInt8(ascii: ":")), lastSlash.map({ colon > $0 }) ?? true {
            let tag = rest[(colon + 1)...]
            guard (1...128).contains(tag.count), let first = tag.first, Self.isAlphanumeric(first) || first == UInt8(ascii: "_"),
                  tag.allSatisfy({ Self.isAlphanumeric($0) || Self.isOneOf($0, "_.-") }) else { return nil }
            self.tag = String(decoding: tag, as: UTF8.self)
            rest = rest[..<colon]
        }
        let components = rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else { return nil }
        // The first component is a registry when it looks like a host (a dot or port, or localhost).
        let hasRegistry = components.count > 1
            && (components[0].contains(UInt8(ascii: ".")) || components[0].contains(UInt8(ascii: ":")) || components[0].elementsEqual("localhost".utf8))
        for (index, component) in components.enumerated() {
            if index == 0 && hasRegistry {
                guard component.allSatisfy({ Self.isAlphanumeric($0) || Self.isOneOf($0, ".-:") }) else { return nil }
                let hostPort = component.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
                guard hostPort.count <= 2, !hostPort[0].isEmpty else { return nil }
                if hostPort.count == 2 {
                    guard let port = Int(String(decoding: hostPort[1], as: UTF8.self)), (1...65535).contains(port) else { return nil }
                }
            } else {
                // Path components: lower-case alphanumerics separated by `.`, `_`, `__` or `-`.
                guard let first = component.first, let last = component.last,
                      Self.isLower(first) || Self.isDigit(first), Self.isLower(last) || Self.isDigit(last),
                      component.allSatisfy({ Self.isLower($0) || Self.isDigit($0) || Self.isOneOf($0, "._-") }),
                      !Self.contains(component, ".."), !Self.contains(component, "___") else { return nil }
            }
        }
        self.name = String(decoding: rest, as: UTF8.self)
    }

    private static func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
    private static func isLower(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) }
    private static func isAlphanumeric(_ b: UInt8) -> Bool { isDigit(b) || isLower(b) || (0x41...0x5A).contains(b) }
    private static func isOneOf(_ b: UInt8, _ set: StaticString) -> Bool {
        set.withUTF8Buffer { $0.contains(b) }
    }
    private static func contains(_ bytes: ArraySlice<UInt8>, _ run: StaticString) -> Bool {
        run.withUTF8Buffer { needle in
            guard bytes.count >= needle.count else { return false }
            return (bytes.startIndex...(bytes.endIndex - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
    }
}
