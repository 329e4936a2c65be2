import Foundation
import KubeCore

/// A parsed `labelSelector`: =, ==, !=, in, notin, exists, !key, >, < (as labels.Parse accepts them).
struct LabelSelector: Sendable {
    enum Op: Sendable { case eq, neq, `in`, notIn, exists, notExists, gt, lt }
    struct Requirement: Sendable {
        var key: String
        var op: Op
        var values: [String]
    }
    var requirements: [Requirement] = []

    var isEmpty: Bool { requirements.isEmpty }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            let v = labels[r.key]
            switch r.op {
            case .eq: return v == r.values.first
            case .neq: return v != r.values.first
            case .in: return v.map { r.values.contains($0) } ?? false
            case .notIn: return v.map { !r.values.contains($0) } ?? true
            case .exists: return v != nil
            case .notExists: return v == nil
            case .gt: return v.flatMap { Int64($0) }.map { $0 > (Int64(r.values.first ?? "") ?? .max) } ?? false
            case .lt: return v.flatMap { Int64($0) }.map { $0 < (Int64(r.values.first ?? "") ?? .min) } ?? false
            }
        }
    }

    /// Parses like k8s.io/apimachinery/pkg/labels; errors are worded as the real parser's.
    static func parse(_ text: String) throws(SelectorError) -> LabelSelector {
        var lexer = Lexer(Array(text.unicodeScalars))
        var sel = LabelSelector()
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return sel }
        while true {
            var tok = lexer.next()
            var negated = false
            if tok == .not {
                negated = true
                tok = lexer.next()
            }
            guard case .ident(let key) = tok else {
                throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: identifier")
            }
            if negated {
                sel.requirements.append(.init(key: key, op: .notExists, values: []))
            } else {
                let opTok = lexer.peek()
                switch opTok {
                case .comma, .end:
                    sel.requirements.append(.init(key: key, op: .exists, values: []))
                case .eq, .deq, .neq, .gt, .lt:
                    _ = lexer.next()
                    let valTok = lexer.next()
                    var value = ""
                    switch valTok {
                    case .ident(let v): value = v
                    case .comma, .end: value = ""; lexer.pushBack(valTok)
                    default: throw SelectorError("unable to parse requirement: found '\(valTok.text)', expected: identifier")
                    }
                    let op: Op = opTok == .neq ? .neq : opTok == .gt ? .gt : opTok == .lt ? .lt : .eq
                    if op == .gt || op == .lt, Int64(value) == nil {
                        throw SelectorError("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
                    }
                    sel.requirements.append(.init(key: key, op: op, values: [value]))
                case .ident(let word) where word == "in" || word == "notin":
                    _ = lexer.next()
                    guard lexer.next() == .open else {
                        throw SelectorError("unable to parse requirement: found '\(lexer.lastText)', expected: '('")
                    }
                    var values: [String] = []
                    loop: while true {
                        let t = lexer.next()
                        switch t {
                        case .ident(let v):
                            values.append(v)
                            let sep = lexer.next()
                            if sep == .close { break loop }
                            if sep != .comma { throw SelectorError("unable to parse requirement: found '\(sep.text)', expected: ',' or ')'") }
                        case .close: break loop
                        case .comma: values.append("")
                        default: throw SelectorError("unable to parse requirement: found '\(t.text)', expected: ',' or ')'")
                        }
                    }
                    sel.requirements.append(.init(key: key, op: word == "in" ? .in : .notIn, values: values))
                default:
                    throw SelectorError("unable to parse requirement: found '\(opTok.text)', expected: in, notin, =, ==, !=, gt, lt")
                }
            }
            if let problem = Self.keyProblem(key) { throw SelectorError(problem) }
            let sep = lexer.next()
            if sep == .end { break }
            if sep != .comma { throw SelectorError("found '\(sep.text)', expected: ',' or 'end of string'") }
        }
        return sel
    }

    static func keyProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name = parts.last.map(String.init) ?? ""
        if parts.count > 2 || name.isEmpty || name.count > 63 {
            return "unable to parse requirement: invalid label key \"\(key)\": name part must be non-empty and at most 63 characters"
        }
        return nil
    }

    enum Token: Equatable {
        case ident(String), eq, deq, neq, not, gt, lt, open, close, comma, end
        var text: String {
            switch self {
            case .ident(let s): return s
            case .eq: return "="
            case .deq: return "=="
            case .neq: return "!="
            case .not: return "!"
            case .gt: return ">"
            case .lt: return "<"
            case .open: return "("
            case .close: return ")"
            case .comma: return ","
            case .end: return ""
            }
        }
    }

    struct Lexer {
        var chars: [Unicode.Scalar]
        var pos = 0
        var pushed: [Token] = []
        var lastText = ""
        init(_ chars: [Unicode.Scalar]) { self.chars = chars }

        mutating func pushBack(_ t: Token) { pushed.append(t) }
        mutating func peek() -> Token {
            let t = next()
            pushed.append(t)
            return t
        }
        mutating func next() -> Token {
            let t = lex()
            lastText = t.text
            return t
        }
        private mutating func lex() -> Token {
            if let t = pushed.popLast() { return t }
            while pos < chars.count, chars[pos] == " " || chars[pos] == "\t" { pos += 1 }
            guard pos < chars.count else { return .end }
            let c = chars[pos]
            switch c {
            case "(": pos += 1; return .open
            case ")": pos += 1; return .close
            case ",": pos += 1; return .comma
            case ">": pos += 1; return .gt
            case "<": pos += 1; return .lt
            case "=":
                pos += 1
                if pos < chars.count, chars[pos] == "=" { pos += 1; return .deq }
                return .eq
            case "!":
                pos += 1
                if pos < chars.count, chars[pos] == "=" { pos += 1; return .neq }
                return .not
            default:
                var s = ""
                while pos < chars.count, !" \t(),=!<>".unicodeScalars.contains(chars[pos]) {
                    s.unicodeScalars.append(chars[pos])
                    pos += 1
                }
                return .ident(s)
            }
        }
    }
}

struct SelectorError: Error, Sendable {
    var message: String
    init(_ m: String) { message = m }
}

/// A parsed `fieldSelector`: `field=value`, `field==value`, `field!=value`, comma-separated.
struct FieldSelector: Sendable {
    struct Term: Sendable {
        var field: String
        var value: String
        var negated: Bool
    }
    var terms: [Term] = []
    var isEmpty: Bool { terms.isEmpty }

    /// The name a `metadata.name=x` selector pins, for single-object watches.
    var exactName: String? { terms.first { $0.field == "metadata.name" && !$0.negated }?.value }

    static func parse(_ text: String, allowed: [String]) throws(SelectorError) -> FieldSelector {
        var sel = FieldSelector()
        for raw in text.split(separator: ",") {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            let term: Term
            if let r = part.range(of: "!=") {
                term = Term(field: String(part[..<r.lowerBound]), value: String(part[r.upperBound...]), negated: true)
            } else if let r = part.range(of: "==") {
                term = Term(field: String(part[..<r.lowerBound]), value: String(part[r.upperBound...]), negated: false)
            } else if let r = part.range(of: "=") {
                term = Term(field: String(part[..<r.lowerBound]), value: String(part[r.upperBound...]), negated: false)
            } else {
                throw SelectorError("invalid selector: '\(text)'; can't understand '\(part)'")
            }
            let fields = ["metadata.name", "metadata.namespace"] + allowed
            guard fields.contains(term.field) else {
                let quoted = fields.map { "\"\($0)\"" }.joined(separator: ", ")
                throw SelectorError("\"\(term.field)\" is not a known field selector: only \(quoted)")
            }
            sel.terms.append(term)
        }
        return sel
    }

    func matches(_ object: JSONValue) -> Bool {
        terms.allSatisfy { t in
            let actual = Self.fieldValue(object, t.field)
            return t.negated ? actual != t.value : actual == t.value
        }
    }

    static func fieldValue(_ object: JSONValue, _ field: String) -> String {
        if field == "source" { return object[path: ["source", "component"]]?.stringValue ?? "" }
        let v = object[path: field.split(separator: ".").map(String.init)]
        switch v {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        default: return ""
        }
    }
}
