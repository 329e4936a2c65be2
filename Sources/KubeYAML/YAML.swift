import CYaml
import KubeCore

/// YAML <-> `JSONValue`, with the semantics Kubernetes gives YAML (sigs.k8s.io/yaml: YAML is read
/// by go-yaml v2, i.e. YAML 1.1 scalar resolution, then turned into JSON).
///
/// Scalar resolution (plain, untagged scalars; quoted and block scalars are always strings):
/// - booleans: `true/True/TRUE`, `false/...`, and the YAML 1.1 forms go-yaml v2 accepts:
///   `yes/Yes/YES`, `no/...`, `on/...`, `off/...`, `y/Y`, `n/N` (so `kubectl apply` of `enabled: y`
///   gives `true`; we follow kubectl rather than YAML 1.2 here);
/// - null: empty, `~`, `null/Null/NULL`;
/// - integers: decimal with optional sign, `0x`, `0o`, `0b`, YAML 1.1 octal `0777`, `_` separators;
/// - floats: `1.5`, `.5`, `1e+3` (go-yaml v2 wants a signed exponent: `1e3` stays a string),
///   `.inf/-.inf/.nan` in their case forms;
/// - timestamps stay strings (go-yaml v2 keeps them strings when decoding into untyped values).
public enum YAML {
    /// Upper bound of nodes a stream may produce, aliases expanded (defends against "billion laughs").
    public static let maxNodes = 1_000_000
    /// Upper bound of collection nesting.
    public static let maxDepth = 256

    /// All documents of a stream (`---` separated); empty documents skipped.
    public static func parseDocuments(_ text: String) throws -> [JSONValue] {
        var builder = YAMLTreeBuilder()
        return try builder.run(text)
    }

    /// Exactly one document (an empty text is an error naming that).
    public static func parse(_ text: String) throws -> JSONValue {
        let docs = try parseDocuments(text)
        guard let first = docs.first else {
            throw YAMLError(message: "the YAML text holds no document (it is empty or only comments)", line: 1, column: 1)
        }
        guard docs.count == 1 else {
            throw YAMLError(message: "expected exactly one YAML document, found \(docs.count)", line: 1, column: 1)
        }
        return first
    }

    /// Block-style YAML for a value (keys sorted; strings quoted whenever plain style would change
    /// their meaning: "true", "null", "1.0", "0x1F", "", leading/trailing space, ": ", "#", multi-line...).
    public static func emit(_ value: JSONValue) -> String {
        var out = ""
        YAMLEmitter.emitDocument(value, into: &out)
        return out
    }
}

/// A YAML syntax or semantic error, with a 1-based position.
public struct YAMLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var line: Int
    public var column: Int

    public init(message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String { "yaml: line \(line), column \(column): \(message)" }
}

// MARK: - Scalar resolution

enum YAMLScalarResolver {
    static let trueWords: Set<String> = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falseWords: Set<String> = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
    static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]

    /// The value of a plain, untagged scalar.
    static func resolvePlain(_ s: String) -> JSONValue {
        if nullWords.contains(s) { return .null }
        if trueWords.contains(s) { return .bool(true) }
        if falseWords.contains(s) { return .bool(false) }
        switch s {
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        default: break
        }
        guard let first = s.utf8.first else { return .string(s) }
        if first == UInt8(ascii: ".") {
            if isDecimalFloat(s, requireSignedExponent: false), let d = Double(s) { return .double(d) }
            return .string(s)
        }
        let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        guard isDigit || first == UInt8(ascii: "+") || first == UInt8(ascii: "-") else { return .string(s) }
        if looksLikeTimestamp(s) { return .string(s) }
        let plain = s.replacingAll("_", with: "")
        if let i = parseGoInt(plain) { return i }
        if isDecimalFloat(plain, requireSignedExponent: true), let d = Double(plain) { return .double(d) }
        return .string(s)
    }

    /// Integers the way Go's `strconv.ParseInt(s, 0, 64)` reads them (what go-yaml v2 uses), with
    /// unsigned values beyond Int64 becoming doubles (JSON has one number type).
    static func parseGoInt(_ s: String) -> JSONValue? {
        var body = Substring(s)
        var negative = false
        if body.first == "+" || body.first == "-" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        guard !body.isEmpty else { return nil }
        var radix = 10
        let lower = body.lowercased()
        if lower.hasPrefix("0x") { radix = 16; body = body.dropFirst(2) }
        else if lower.hasPrefix("0o") { radix = 8; body = body.dropFirst(2) }
        else if lower.hasPrefix("0b") { radix = 2; body = body.dropFirst(2) }
        else if body.count > 1, body.first == "0" { radix = 8; body = body.dropFirst() }
        guard !body.isEmpty, body.first != "+", body.first != "-", let magnitude = UInt64(body, radix: radix) else { return nil }
        if negative {
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            if magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            return nil
        }
        if magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
        return .double(Double(magnitude))
    }

    /// `[-+]?[0-9]*\.?[0-9]+([eE][-+][0-9]+)?` (go-yaml v2's float pattern; the exponent sign is
    /// optional when `requireSignedExponent` is false, as Go's ParseFloat is for `.5e3`).
    static func isDecimalFloat(_ s: String, requireSignedExponent: Bool) -> Bool {
        var b = Array(s.utf8)[...]
        if let f = b.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { b = b.dropFirst() }
        let digit: (UInt8) -> Bool = { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        var mantissa = b
        var exponent: ArraySlice<UInt8>? = nil
        if let e = b.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            mantissa = b[b.startIndex..<e]
            exponent = b[(e + 1)...]
        }
        let parts = mantissa.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy(digit) }) else { return false }
        if parts.count == 2 {
            // `[0-9]*\.[0-9]+`: at least one digit after the dot.
            guard !parts[1].isEmpty else { return false }
        } else {
            guard !mantissa.isEmpty else { return false }
        }
        if var exp = exponent {
            if let f = exp.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") {
                exp = exp.dropFirst()
            } else if requireSignedExponent {
                return false
            }
            guard !exp.isEmpty, exp.allSatisfy(digit) else { return false }
        }
        return true
    }

    /// YAML timestamps (`2001-12-14`, `2001-12-14T21:59:43.10Z`): four digits then `-`.
    static func looksLikeTimestamp(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 8, b[4] == UInt8(ascii: "-") else { return false }
        return b[0..<4].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            && b.count >= 8 && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[5])
    }

    /// The value of a scalar with an explicit standard tag (`!!str`, `!!int`, ...).
    static func resolveTagged(_ s: String, tag: String) -> JSONValue? {
        switch tag {
        case "tag:yaml.org,2002:str", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp": return .string(s)
        case "tag:yaml.org,2002:null": return nullWords.contains(s) ? .null : nil
        case "tag:yaml.org,2002:bool":
            if trueWords.contains(s) { return .bool(true) }
            if falseWords.contains(s) { return .bool(false) }
            return nil
        case "tag:yaml.org,2002:int":
            if case .int(let i)? = parseGoInt(s.replacingAll("_", with: "")) { return .int(i) }
            return nil
        case "tag:yaml.org,2002:float":
            let r = resolvePlain(s)
            switch r {
            case .double: return r
            case .int(let i): return .double(Double(i))
            default: return nil
            }
        default:
            // Local and unknown tags: the text, as go-yaml v2 does.
            return .string(s)
        }
    }

    /// The string a non-string mapping key becomes (sigs.k8s.io/yaml's conversion).
    static func keyString(_ key: JSONValue) -> String? {
        switch key {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .double(let d): return goFloatKey(d)
        case .null, .array, .object: return nil
        }
    }

    /// Go's `strconv.FormatFloat(d, 'g', -1, 32)` plus YAML's names for the special values.
    static func goFloatKey(_ d: Double) -> String {
        if d.isNaN { return ".nan" }
        if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
        let f = Float(d)
        if f == 0 { return f.sign == .minus ? "-0" : "0" }
        // Shortest digits of the float32 value, then Go's %g layout (exponent when exp < -4 || exp >= 21).
        var text = "\(f)"  // Swift prints the shortest round-tripping digits
        if text.hasSuffix(".0") { text.removeLast(2) }
        if let e = text.firstIndex(where: { $0 == "e" }) {
            // Swift: 1e+20 / 1e-05 -> Go: 1e+20 / 1e-05 (both use at least two exponent digits).
            let mantissa = text[..<e]
            var exp = String(text[text.index(after: e)...])
            var sign = "+"
            if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
            if exp.count < 2 { exp = "0" + exp }
            return "\(mantissa)e\(sign)\(exp)"
        }
        return text
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

// MARK: - Event-driven tree building

/// Builds JSON values from libyaml events with an explicit stack (no recursion on input depth).
struct YAMLTreeBuilder {
    enum PendingKey {
        case key(String, line: Int, column: Int)
        case merge(line: Int, column: Int)
    }

    enum Frame {
        case sequence(items: [JSONValue], anchor: String?, nodes: Int)
        case mapping(entries: JSONObject, keyLines: [String: Int], merges: [JSONObject], pending: PendingKey?,
                     anchor: String?, nodes: Int, line: Int)
    }

    var stack: [Frame] = []
    var anchors: [String: (value: JSONValue, nodes: Int)] = [:]
    var totalNodes = 0
    var documents: [JSONValue] = []
    var documentRoot: JSONValue?
    var documentIsEmpty = false

    mutating func run(_ text: String) throws -> [JSONValue] {
        // libyaml skips a leading byte order mark as if it were a column of indentation (with the
        // encoding set explicitly), which shifts the first line; drop it here instead.
        let bytes = Array(text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()).utf8 : text.utf8)
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLError(message: "could not initialise the YAML parser (out of memory)", line: 1, column: 1)
        }
        defer { yaml_parser_delete(parser) }
        return try bytes.withUnsafeBufferPointer { buffer -> [JSONValue] in
            yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
            // An empty buffer has no base address; libyaml only needs a valid pointer with size 0.
            var empty: UInt8 = 0
            if let base = buffer.baseAddress, !buffer.isEmpty {
                yaml_parser_set_input_string(parser, base, buffer.count)
            } else {
                yaml_parser_set_input_string(parser, &empty, 0)
            }
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    throw Self.parserError(parser.pointee)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try handle(event)
            }
            return documents
        }
    }

    static func parserError(_ p: yaml_parser_t) -> YAMLError {
        let problem = p.problem.map { String(cString: $0) } ?? "malformed YAML"
        var message = problem
        if let ctx = p.context { message += " (\(String(cString: ctx)) at line \(p.context_mark.line + 1), column \(p.context_mark.column + 1))" }
        if p.error == YAML_READER_ERROR {
            message = "invalid input: \(problem) at byte offset \(p.problem_offset)"
        }
        return YAMLError(message: message, line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
    }

    static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
    }

    mutating func handle(_ event: yaml_event_t) throws {
        let line = Int(event.start_mark.line) + 1
        let column = Int(event.start_mark.column) + 1
        switch event.type {
        case YAML_STREAM_START_EVENT:
            break
        case YAML_DOCUMENT_START_EVENT:
            documentRoot = nil
            documentIsEmpty = false
            anchors = [:]  // anchors are per document
        case YAML_DOCUMENT_END_EVENT:
            if let root = documentRoot, !documentIsEmpty { documents.append(root) }
            documentRoot = nil
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError(message: "unknown anchor '\(name)' referenced", line: line, column: column)
            }
            try countNodes(target.nodes, line: line, column: column)
            try add(target.value, nodes: target.nodes, isPlainMergeKey: false, line: line, column: column)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text: String
            if let v = s.value {
                let raw = UnsafeBufferPointer(start: v, count: Int(s.length))
                guard let decoded = String(validating: raw, as: UTF8.self) else {
                    throw YAMLError(message: "scalar is not valid UTF-8", line: line, column: column)
                }
                text = decoded
            } else {
                text = ""
            }
            let tag = Self.string(s.tag)
            let isPlain = s.style == YAML_PLAIN_SCALAR_STYLE
            var value: JSONValue
            if let tag, tag != "!" {
                guard let v = YAMLScalarResolver.resolveTagged(text, tag: tag) else {
                    throw YAMLError(message: "cannot decode '\(text)' as \(tag.replacingOccurrencesOfPrefix("tag:yaml.org,2002:", with: "!!"))",
                                    line: line, column: column)
                }
                value = v
            } else if isPlain && tag == nil {
                value = YAMLScalarResolver.resolvePlain(text)
            } else {
                value = .string(text)
            }
            if stack.isEmpty, isPlain, tag == nil, text.isEmpty, s.anchor == nil {
                documentIsEmpty = true
                value = .null
            }
            try countNodes(1, line: line, column: column)
            if let anchor = Self.string(s.anchor) { anchors[anchor] = (value, 1) }
            try add(value, nodes: 1, isPlainMergeKey: isPlain && tag == nil && text == "<<", line: line, column: column)
        case YAML_SEQUENCE_START_EVENT:
            try push(.sequence(items: [], anchor: Self.string(event.data.sequence_start.anchor), nodes: 1), line: line, column: column)
        case YAML_MAPPING_START_EVENT:
            try push(.mapping(entries: [:], keyLines: [:], merges: [], pending: nil,
                              anchor: Self.string(event.data.mapping_start.anchor), nodes: 1, line: line),
                     line: line, column: column)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else {
                throw YAMLError(message: "unbalanced collection end", line: line, column: column)
            }
            let value: JSONValue
            let anchor: String?
            let nodes: Int
            switch frame {
            case .sequence(let items, let a, let n):
                value = .array(items); anchor = a; nodes = n
            case .mapping(var entries, _, let merges, let pending, let a, let n, _):
                if pending != nil {
                    throw YAMLError(message: "mapping ended while a key waited for its value", line: line, column: column)
                }
                // Merged keys (`<<`) never override explicit keys; earlier merge sources win.
                for source in merges {
                    for (k, v) in source where entries[k] == nil { entries[k] = v }
                }
                value = .object(entries); anchor = a; nodes = n
            }
            if let anchor { anchors[anchor] = (value, nodes) }
            try add(value, nodes: nodes, isPlainMergeKey: false, line: line, column: column)
        default:
            break
        }
    }

    mutating func countNodes(_ n: Int, line: Int, column: Int) throws {
        totalNodes += n
        if totalNodes > YAML.maxNodes {
            throw YAMLError(message: "document expands to more than \(YAML.maxNodes) nodes (alias expansion bomb?)",
                            line: line, column: column)
        }
    }

    mutating func push(_ frame: Frame, line: Int, column: Int) throws {
        guard stack.count < YAML.maxDepth else {
            throw YAMLError(message: "collections nested deeper than \(YAML.maxDepth) levels", line: line, column: column)
        }
        try countNodes(1, line: line, column: column)
        stack.append(frame)
    }

    /// Puts a finished value into its parent (or makes it the document root).
    mutating func add(_ value: JSONValue, nodes: Int, isPlainMergeKey: Bool, line: Int, column: Int) throws {
        guard var top = stack.popLast() else {
            documentRoot = value
            return
        }
        defer { stack.append(top) }
        switch top {
        case .sequence(var items, let anchor, let n):
            items.append(value)
            top = .sequence(items: items, anchor: anchor, nodes: n + nodes)
        case .mapping(var entries, var keyLines, var merges, let pending, let anchor, let n, let mapLine):
            switch pending {
            case nil:
                if isPlainMergeKey {
                    top = .mapping(entries: entries, keyLines: keyLines, merges: merges, pending: .merge(line: line, column: column),
                                   anchor: anchor, nodes: n + nodes, line: mapLine)
                    return
                }
                guard let key = YAMLScalarResolver.keyString(value) else {
                    let what = value.isNull ? "null" : value.typeName
                    throw YAMLError(message: "unsupported mapping key of type \(what): keys must be strings, numbers or booleans",
                                    line: line, column: column)
                }
                top = .mapping(entries: entries, keyLines: keyLines, merges: merges, pending: .key(key, line: line, column: column),
                               anchor: anchor, nodes: n + nodes, line: mapLine)
            case .key(let key, let keyLine, let keyColumn)?:
                if let first = keyLines[key] {
                    throw YAMLError(message: "duplicate key \"\(key)\" (first defined at line \(first))", line: keyLine, column: keyColumn)
                }
                entries[key] = value
                keyLines[key] = keyLine
                top = .mapping(entries: entries, keyLines: keyLines, merges: merges, pending: nil,
                               anchor: anchor, nodes: n + nodes, line: mapLine)
            case .merge(let mLine, let mColumn)?:
                switch value {
                case .object(let o):
                    merges.append(o)
                case .array(let list):
                    for element in list {
                        guard case .object(let o) = element else {
                            throw YAMLError(message: "merge key '<<' needs a mapping or a list of mappings", line: mLine, column: mColumn)
                        }
                        merges.append(o)
                    }
                default:
                    throw YAMLError(message: "merge key '<<' needs a mapping or a list of mappings", line: mLine, column: mColumn)
                }
                top = .mapping(entries: entries, keyLines: keyLines, merges: merges, pending: nil,
                               anchor: anchor, nodes: n + nodes, line: mapLine)
            }
        }
    }
}

extension String {
    func replacingOccurrencesOfPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
