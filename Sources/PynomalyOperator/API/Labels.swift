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

    public init?(parsing reference: String) {
        guard !reference.isEmpty, reference.count <= 4096,
              reference.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else { return nil }
        var rest = Substring(reference)
        if let at = rest.firstIndex(of: "@") {
            let digest = rest[rest.index(after: at)...]
            let parts = digest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty,
                  parts[0].allSatisfy({ $0.isLowercase || $0.isNumber || "+._-".contains($0) }),
                  parts[1].count >= 32, parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
            self.digest = String(digest)
            rest = rest[..<at]
        }
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tag = rest[rest.index(after: colon)...]
            guard (1...128).contains(tag.count), let first = tag.first, first.isLetter || first.isNumber || first == "_",
                  tag.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else { return nil }
            self.tag = String(tag)
            rest = rest[..<colon]
        }
        let components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else { return nil }
        // The first component is a registry when it looks like a host (a dot or port, or localhost).
        let hasRegistry = components.count > 1
            && (components[0].contains(".") || components[0].contains(":") || components[0] == "localhost")
        for (index, component) in components.enumerated() {
            if index == 0 && hasRegistry {
                guard component.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) }) else { return nil }
                let hostPort = component.split(separator: ":", omittingEmptySubsequences: false)
                guard hostPort.count <= 2, !hostPort[0].isEmpty else { return nil }
                if hostPort.count == 2 { guard let port = Int(hostPort[1]), (1...65535).contains(port) else { return nil } }
            } else {
                // Path components: lower-case alphanumerics separated by `.`, `_`, `__` or `-`.
                guard let first = component.first, let last = component.last,
                      (first.isLowercase || first.isNumber), (last.isLowercase || last.isNumber),
                      component.allSatisfy({ ($0.isLowercase && $0.isLetter) || $0.isNumber || "._-".contains($0) }),
                      !component.contains(".."), !component.contains("___") else { return nil }
            }
        }
        self.name = String(rest)
    }
}
