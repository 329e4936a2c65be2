#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A PromQL query template with `{{namespace}}`, `{{service}}`, `{{color}}` and `{{revision}}`.
///
/// Placeholders may stand only inside double- or single-quoted PromQL strings (label values), and
/// every value is escaped for the string it lands in — and, in the operand of a regex matcher (`=~`,
/// `!~`), for RE2 as well. So no namespace, name or colour can end the string, add a matcher, or
/// widen a regex: the rendered query selects exactly what the template author wrote.
public struct AnalysisQueryTemplate: Sendable, Hashable {
    public enum Placeholder: String, Sendable, Hashable, CaseIterable {
        case namespace, service, color, revision
    }

    /// The values of one run.
    public struct Values: Sendable, Hashable {
        public var namespace: String
        /// The Service whose pods are measured: `NAME-COLOR` (BlueGreen) or `NAME`.
        public var service: String
        /// The colour, or "" outside BlueGreen.
        public var color: String
        public var revision: Int64

        public init(namespace: String, service: String, color: String, revision: Int64) {
            self.namespace = namespace
            self.service = service
            self.color = color
            self.revision = revision
        }

        func value(of placeholder: Placeholder) -> String {
            switch placeholder {
            case .namespace: return namespace
            case .service: return service
            case .color: return color
            case .revision: return String(revision)
            }
        }
    }

    /// How a string literal quotes.
    enum Quote: Sendable, Hashable {
        case double, single
    }

    enum Piece: Sendable, Hashable {
        case text(String)
        case placeholder(Placeholder, quote: Quote, regex: Bool)
    }

    let pieces: [Piece]
    public let source: String

    /// Parses and checks a template: non-empty, strings closed, brackets balanced outside strings,
    /// placeholders known and inside a quoted string.
    public init(_ source: String) throws(AnalysisTemplateError) {
        self.source = source
        guard !source.trimmingWhitespace().isEmpty else { throw .empty }
        let chars = Array(source)
        var pieces: [Piece] = []
        var text = ""
        var quote: Character?
        var regexOperand = false
        var stack: [Character] = []
        let closing: [Character: Character] = [")": "(", "]": "[", "}": "{"]
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{", i + 1 < chars.count, chars[i + 1] == "{" {
                guard let end = Self.placeholderEnd(chars, from: i + 2) else { throw .unclosedPlaceholder(position: i) }
                let name = String(chars[(i + 2)..<end]).trimmingWhitespace()
                guard let placeholder = Placeholder(rawValue: name) else { throw .unknownPlaceholder(name) }
                let kind: Quote
                switch quote {
                case "\""?: kind = .double
                case "'"?: kind = .single
                default: throw .placeholderOutsideString(name)
                }
                if !text.isEmpty { pieces.append(.text(text)); text = "" }
                pieces.append(.placeholder(placeholder, quote: kind, regex: regexOperand))
                i = end + 2
                continue
            }
            text.append(c)
            if let open = quote {
                if c == "\\", open != "`" {
                    if i + 1 < chars.count { text.append(chars[i + 1]) }
                    i += 2
                    continue
                }
                if c == open { quote = nil }
                i += 1
                continue
            }
            switch c {
            case "\"", "'", "`":
                quote = c
                regexOperand = Self.followsRegexMatcher(chars, before: i)
                if c == "`" { regexOperand = false }
            case "(", "[", "{":
                stack.append(c)
            case ")", "]", "}":
                guard let open = closing[c], stack.last == open else { throw .unbalanced(String(c), position: i) }
                stack.removeLast()
            default:
                break
            }
            i += 1
        }
        if quote != nil { throw .unclosedString }
        if let open = stack.last { throw .unbalanced(String(open), position: chars.count) }
        if !text.isEmpty { pieces.append(.text(text)) }
        self.pieces = pieces
    }

    /// The placeholders the template uses.
    public var placeholders: Set<Placeholder> {
        Set(pieces.compactMap { if case .placeholder(let p, _, _) = $0 { return p } else { return nil } })
    }

    /// The query for one run.
    public func render(_ values: Values) -> String {
        pieces.map { piece in
            switch piece {
            case .text(let text): return text
            case .placeholder(let p, let quote, let regex):
                let raw = values.value(of: p)
                return Self.escape(regex ? Self.escapeRegex(raw) : raw, for: quote)
            }
        }.joined()
    }

    /// Escapes for a PromQL string literal (Go's escapes): backslash, the quote, control characters.
    static func escape(_ value: String, for quote: Quote) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"" where quote == .double: out += "\\\""
            case "'" where quote == .single: out += "\\'"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\x" + zeroPaddedHex(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Escapes RE2 metacharacters, so a value matches only itself inside a regex matcher.
    static func escapeRegex(_ value: String) -> String {
        let meta: Set<Character> = ["\\", ".", "+", "*", "?", "(", ")", "|", "[", "]", "{", "}", "^", "$"]
        var out = ""
        for c in value {
            if meta.contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    static func placeholderEnd(_ chars: [Character], from start: Int) -> Int? {
        var j = start
        while j + 1 < chars.count {
            if chars[j] == "}" && chars[j + 1] == "}" { return j }
            if chars[j] == "{" || chars[j] == "\"" || chars[j] == "'" || chars[j] == "\n" { return nil }
            j += 1
        }
        return nil
    }

    /// Whether the string literal opening at `index` is the operand of `=~` or `!~`.
    static func followsRegexMatcher(_ chars: [Character], before index: Int) -> Bool {
        var j = index - 1
        while j >= 0, chars[j].isWhitespace { j -= 1 }
        return j >= 1 && chars[j] == "~" && (chars[j - 1] == "=" || chars[j - 1] == "!")
    }
}

/// Why a query template is refused (reported as InvalidSpec naming the metric's `query`).
public enum AnalysisTemplateError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case unknownPlaceholder(String)
    case placeholderOutsideString(String)
    case unclosedPlaceholder(position: Int)
    case unclosedString
    case unbalanced(String, position: Int)

    public var description: String {
        let known = AnalysisQueryTemplate.Placeholder.allCases.map { "{{\($0.rawValue)}}" }.joined(separator: ", ")
        switch self {
        case .empty: return "the query is empty"
        case .unknownPlaceholder(let name): return "unknown placeholder {{\(name)}} (known: \(known))"
        case .placeholderOutsideString(let name):
            return "placeholder {{\(name)}} must stand inside a quoted label value, e.g. job=\"{{\(name)}}\" (its value is escaped for the string)"
        case .unclosedPlaceholder(let position): return "\"{{\" at offset \(position) is not closed by \"}}\""
        case .unclosedString: return "a quoted string is not closed"
        case .unbalanced(let c, let position): return "unbalanced \"\(c)\" at offset \(position)"
        }
    }
}

/// Two lowercase hex digits of a control character's code (`%02x`).
private func zeroPaddedHex(_ value: UInt32) -> String {
    let hex = String(value, radix: 16)
    return hex.count < 2 ? "0" + hex : hex
}
