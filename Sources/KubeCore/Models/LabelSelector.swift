#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// metav1.LabelSelector: `matchLabels` and `matchExpressions`, ANDed. An empty selector matches
/// everything (as `LabelSelectorAsSelector` makes it).
public struct LabelSelector: Codable, Sendable, Hashable, CustomStringConvertible {
    public var matchLabels: [String: String]?
    public var matchExpressions: [LabelSelectorRequirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [LabelSelectorRequirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// Whether a set of labels satisfies every requirement.
    public func matches(_ labels: [String: String]) -> Bool {
        for (k, v) in matchLabels ?? [:] where labels[k] != v { return false }
        for r in matchExpressions ?? [] where !r.matches(labels) { return false }
        return true
    }

    /// The selector in the API's string syntax (`app=web,tier in (a,b),!legacy`), requirements
    /// sorted by key as `labels.Selector.String()` writes them; "" for an empty selector.
    public var description: String {
        var parts: [(key: String, text: String)] = []
        for (k, v) in matchLabels ?? [:] { parts.append((k, "\(k)=\(v)")) }
        for r in matchExpressions ?? [] { parts.append((r.key, r.description)) }
        // Stable order: by key, then by text (several requirements can share a key).
        return parts.sorted { ($0.key, $0.text) < ($1.key, $1.text) }.map(\.text).joined(separator: ",")
    }

    /// Parses the API's label selector syntax: comma-separated `key`, `!key`, `key=value`,
    /// `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`. Keys and values are
    /// validated as label keys and values. `>`/`<` are refused: a LabelSelector cannot carry them.
    public init(parsing text: String) throws {
        var parser = LabelSelectorParser(text)
        let requirements = try parser.parse()
        var labels: [String: String] = [:]
        var expressions: [LabelSelectorRequirement] = []
        for r in requirements {
            if r.operator == "=", let v = r.values?.first, labels[r.key] == nil {
                labels[r.key] = v
            } else if r.operator == "=" {
                expressions.append(LabelSelectorRequirement(key: r.key, operator: .in, values: r.values))
            } else {
                expressions.append(r)
            }
        }
        self.init(matchLabels: labels.isEmpty ? nil : labels, matchExpressions: expressions.isEmpty ? nil : expressions)
    }
}

/// metav1.LabelSelectorRequirement.
public struct LabelSelectorRequirement: Codable, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    public var `operator`: String
    public var values: [String]?

    public enum Operator: String, Sendable {
        case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist"
    }

    public init(key: String, operator: Operator, values: [String]? = nil) {
        self.key = key
        self.operator = `operator`.rawValue
        self.values = values
    }

    init(key: String, rawOperator: String, values: [String]?) {
        self.key = key
        self.operator = rawOperator
        self.values = values
    }

    /// Unknown operators match nothing (the API server refuses them anyway).
    public func matches(_ labels: [String: String]) -> Bool {
        switch Operator(rawValue: `operator`) {
        case .in?: return labels[key].map { (values ?? []).contains($0) } ?? false
        case .notIn?: return labels[key].map { !(values ?? []).contains($0) } ?? true
        case .exists?: return labels[key] != nil
        case .doesNotExist?: return labels[key] == nil
        case nil: return false
        }
    }

    public var description: String {
        let set = "(" + (values ?? []).sorted().joined(separator: ",") + ")"
        switch Operator(rawValue: `operator`) {
        case .in?: return "\(key) in \(set)"
        case .notIn?: return "\(key) notin \(set)"
        case .exists?: return key
        case .doesNotExist?: return "!\(key)"
        case nil: return "\(key) \(`operator`) \(set)"
        }
    }
}

/// Recursive-descent parser of the label selector syntax (k8s.io/apimachinery/pkg/labels).
struct LabelSelectorParser {
    enum Token: Equatable {
        case identifier(String), not, equals, doubleEquals, notEquals, greater, less, comma, open, close, `in`, notIn, end
    }

    let text: String
    var tokens: [(Token, Int)] = []
    var index = 0

    init(_ text: String) { self.text = text }

    static let special: Set<Character> = ["!", "=", "(", ")", ",", "<", ">"]

    mutating func lex() throws {
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            switch c {
            case "(": tokens.append((.open, start)); i += 1
            case ")": tokens.append((.close, start)); i += 1
            case ",": tokens.append((.comma, start)); i += 1
            case ">": tokens.append((.greater, start)); i += 1
            case "<": tokens.append((.less, start)); i += 1
            case "=":
                if i + 1 < chars.count, chars[i + 1] == "=" { tokens.append((.doubleEquals, start)); i += 2 }
                else { tokens.append((.equals, start)); i += 1 }
            case "!":
                if i + 1 < chars.count, chars[i + 1] == "=" { tokens.append((.notEquals, start)); i += 2 }
                else { tokens.append((.not, start)); i += 1 }
            default:
                var word = ""
                while i < chars.count, !chars[i].isWhitespace, !Self.special.contains(chars[i]) {
                    word.append(chars[i])
                    i += 1
                }
                switch word {
                case "in": tokens.append((.in, start))
                case "notin": tokens.append((.notIn, start))
                default: tokens.append((.identifier(word), start))
                }
            }
        }
        tokens.append((.end, chars.count))
    }

    var current: Token { tokens[index].0 }
    var position: Int { tokens[index].1 }

    func error(_ message: String) -> KubeError {
        KubeError.invalidRequest("unable to parse label selector \"\(text)\": \(message) at position \(position)")
    }

    mutating func parse() throws -> [LabelSelectorRequirement] {
        try lex()
        var result: [LabelSelectorRequirement] = []
        if current == .end { return result }
        while true {
            result.append(try parseRequirement())
            switch current {
            case .end: return result
            case .comma:
                index += 1
                if current == .end { throw error("expected a requirement after ','") }
            default: throw error("expected ',' or the end of the selector")
            }
        }
    }

    mutating func parseRequirement() throws -> LabelSelectorRequirement {
        var negated = false
        if current == .not { negated = true; index += 1 }
        guard case .identifier(let key) = current else { throw error("expected a label key") }
        if let problem = LabelValidation.keyProblem(key) { throw error("invalid label key \"\(key)\": \(problem)") }
        index += 1
        if negated {
            guard current == .comma || current == .end else { throw error("expected ',' after '!\(key)'") }
            return LabelSelectorRequirement(key: key, operator: .doesNotExist)
        }
        switch current {
        case .comma, .end:
            return LabelSelectorRequirement(key: key, operator: .exists)
        case .equals, .doubleEquals, .notEquals:
            let op = current
            index += 1
            var value = ""
            if case .identifier(let v) = current { value = v; index += 1 }
            // A missing value means the empty value (`app=`), as the API server reads it.
            if let problem = LabelValidation.valueProblem(value) { throw error("invalid label value \"\(value)\": \(problem)") }
            if op == .notEquals { return LabelSelectorRequirement(key: key, operator: .notIn, values: [value]) }
            return LabelSelectorRequirement(key: key, rawOperator: "=", values: [value])
        case .in, .notIn:
            let op: LabelSelectorRequirement.Operator = current == .in ? .in : .notIn
            index += 1
            guard current == .open else { throw error("expected '(' after '\(op == .in ? "in" : "notin")'") }
            index += 1
            var values: [String] = []
            while true {
                if case .identifier(let v) = current {
                    if let problem = LabelValidation.valueProblem(v) { throw error("invalid label value \"\(v)\": \(problem)") }
                    values.append(v)
                    index += 1
                } else if current == .comma || current == .close {
                    values.append("")  // `(a,,b)` and `(a,)` hold the empty value
                } else {
                    throw error("expected a value or ')'")
                }
                if current == .comma { index += 1; continue }
                if current == .close { index += 1; break }
                throw error("expected ',' or ')' in the value set")
            }
            if values == [""] { throw error("for 'in', 'notin' operators, values set can't be empty") }
            var seen = Set<String>()
            return LabelSelectorRequirement(key: key, operator: op, values: values.filter { seen.insert($0).inserted })
        case .greater, .less:
            throw error("the operators '>' and '<' cannot be expressed in a LabelSelector")
        default:
            throw error("expected an operator ('=', '==', '!=', 'in', 'notin') or ','")
        }
    }
}

/// Label key and value syntax (metav1 validation).
public enum LabelValidation {
    static func isNameChar(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".")
    }
    static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    /// Why a string is not a valid label value (at most 63 characters, alphanumerics with `-_.`
    /// inside; may be empty), or nil.
    public static func valueProblem(_ v: String) -> String? {
        if v.isEmpty { return nil }
        if v.count > 63 { return "must be no more than 63 characters" }
        guard v.allSatisfy(isNameChar), let f = v.first, let l = v.last, isAlnum(f), isAlnum(l) else {
            return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        }
        return nil
    }

    /// Why a string is not a valid label key (`[prefix/]name`: prefix a DNS subdomain, name at most
    /// 63 characters of alphanumerics with `-_.` inside), or nil.
    public static func keyProblem(_ k: String) -> String? {
        let parts = k.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return "a qualified name must consist of an optional prefix and a name separated by a single '/'" }
        let name = String(parts[parts.count - 1])
        if parts.count == 2 {
            let prefix = String(parts[0])
            if prefix.isEmpty { return "prefix part must be non-empty" }
            if let p = NameValidation.dnsSubdomainProblem(prefix) { return "prefix part \(p)" }
        }
        if name.isEmpty { return "name part must be non-empty" }
        if name.count > 63 { return "name part must be no more than 63 characters" }
        guard name.allSatisfy(isNameChar), let f = name.first, let l = name.last, isAlnum(f), isAlnum(l) else {
            return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        }
        return nil
    }
}
