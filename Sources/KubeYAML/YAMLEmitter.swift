import KubeCore

/// Writes block-style YAML. Written by hand rather than through libyaml's emitter so that the
/// quoting rules are ours: a string is left plain only when reading it back (with our resolver, and
/// with YAML 1.2 readers) gives the same string.
enum YAMLEmitter {
    static func emitDocument(_ value: JSONValue, into out: inout String) {
        switch value {
        case .object(let o) where !o.isEmpty:
            emitMapping(o, indent: 0, into: &out)
        case .array(let a) where !a.isEmpty:
            emitSequence(a, indent: 0, into: &out)
        default:
            if case .string(let s) = value, let block = literalBlock(s, indent: 2) {
                out += block.header + "\n" + block.body
            } else {
                out += inlineScalar(value) + "\n"
            }
        }
    }

    static func spaces(_ n: Int) -> String { String(repeating: " ", count: n) }

    static func emitMapping(_ o: JSONObject, indent: Int, into out: inout String) {
        for key in o.keys.sorted() {
            let value = o[key] ?? .null
            out += spaces(indent) + quotedIfNeeded(key) + ":"
            emitValueAfterIndicator(value, indent: indent, sequenceIndent: indent, into: &out)
        }
    }

    static func emitSequence(_ a: [JSONValue], indent: Int, into out: inout String) {
        for item in a {
            switch item {
            case .object(let o) where !o.isEmpty:
                // The first key goes on the dash line: render at indent+2, then swap the leading spaces.
                var nested = ""
                emitMapping(o, indent: indent + 2, into: &nested)
                out += spaces(indent) + "- " + nested.dropFirst(indent + 2)
            case .array(let inner) where !inner.isEmpty:
                var nested = ""
                emitSequence(inner, indent: indent + 2, into: &nested)
                out += spaces(indent) + "- " + nested.dropFirst(indent + 2)
            default:
                out += spaces(indent) + "-"
                emitValueAfterIndicator(item, indent: indent, sequenceIndent: indent + 2, into: &out)
            }
        }
    }

    /// Writes what follows `key:` or `-`: an inline scalar, a literal block, or a nested collection.
    static func emitValueAfterIndicator(_ value: JSONValue, indent: Int, sequenceIndent: Int, into out: inout String) {
        switch value {
        case .object(let o) where !o.isEmpty:
            out += "\n"
            emitMapping(o, indent: indent + 2, into: &out)
        case .array(let a) where !a.isEmpty:
            out += "\n"
            emitSequence(a, indent: sequenceIndent, into: &out)
        case .string(let s):
            if let block = literalBlock(s, indent: indent + 2) {
                out += " " + block.header + "\n" + block.body
            } else {
                out += " " + quotedIfNeeded(s) + "\n"
            }
        default:
            out += " " + inlineScalar(value) + "\n"
        }
    }

    static func inlineScalar(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return ".nan" }
            if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
            // Swift prints "1.0", "1e-05", "1e+20": all read back as floats (signed exponent).
            return "\(d)"
        case .string(let s): return quotedIfNeeded(s)
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    // MARK: Strings

    /// A literal block (`|`, `|-`, `|+`) for multi-line text that it represents exactly; nil when
    /// the text needs double quotes instead (control characters, trailing spaces, leading spaces on
    /// the first content line, whitespace-only lines).
    static func literalBlock(_ s: String, indent: Int) -> (header: String, body: String)? {
        guard s.contains("\n") else { return nil }
        guard s.unicodeScalars.allSatisfy({ $0 == "\n" || isPrintable($0) && $0 != "\t" }) else { return nil }
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false)
        var trailingNewlines = 0
        while let last = lines.last, last.isEmpty, lines.count > 1 {
            lines.removeLast()
            trailingNewlines += 1
        }
        guard let firstContent = lines.first(where: { !$0.isEmpty }) else { return nil }
        if firstContent.first == " " { return nil }
        for line in lines where !line.isEmpty {
            if line.last == " " || line.allSatisfy({ $0 == " " }) { return nil }
        }
        // Leading empty lines would be fine for YAML, but keep to the simple, well-supported shape.
        if lines.first?.isEmpty == true { return nil }
        let chomp: String
        switch trailingNewlines {
        case 0: chomp = "-"
        case 1: chomp = ""
        default: chomp = "+"
        }
        var body = ""
        let pad = spaces(indent)
        for line in lines {
            body += line.isEmpty ? "\n" : pad + line + "\n"
        }
        // With keep chomping the extra trailing newlines are empty lines of the block.
        if trailingNewlines > 1 { body += String(repeating: "\n", count: trailingNewlines - 1) }
        return ("|" + chomp, body)
    }

    static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09, 0x0A: return true
        case 0x20...0x7E: return true
        case 0x85: return false
        case 0xA0...0xD7FF: return u.value != 0x2028 && u.value != 0x2029
        case 0xE000...0xFFFD: return u.value != 0xFEFF
        case 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    static let indicatorStarts: Set<Character> = ["-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", "=", "<"]

    /// The string as a plain scalar when that reads back unchanged, else double-quoted.
    static func quotedIfNeeded(_ s: String) -> String {
        needsQuotes(s) ? doubleQuoted(s) : s
    }

    static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last else { return true }
        if first == " " || last == " " || last == ":" { return true }
        if indicatorStarts.contains(first) {
            // `-` may start a plain scalar when a non-space follows (`--port`, `-v`), but not a
            // document marker (`---`); the other indicators always need quotes.
            let second = s.dropFirst().first
            guard first == "-", let second, second != " ", !s.hasPrefix("---") else { return true }
        }
        if s.unicodeScalars.contains(where: { !isPrintable($0) || $0 == "\t" || $0 == "\n" || $0 == "\r" }) { return true }
        if s.contains(": ") || s.contains(" #") || s.contains(",") || s.contains("[") || s.contains("]")
            || s.contains("{") || s.contains("}") {
            return true
        }
        // Anything our resolver (YAML 1.1 as go-yaml v2) would not read as this same string.
        if YAMLScalarResolver.resolvePlain(s) != .string(s) { return true }
        // Forms other YAML readers resolve differently: YAML 1.2 floats (`1e3`), timestamps,
        // base-60 numbers (`1:20`), Swift/C float spellings (`inf`, `nan`).
        if Double(s) != nil || YAMLScalarResolver.looksLikeTimestamp(s) { return true }
        if let f = first.asciiValue, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(f), s.contains(":") { return true }
        if first == "." || first == "+" { return true }
        let lower = s.lowercased()
        if ["null", "true", "false", "yes", "no", "on", "off", "y", "n", "~", ".inf", ".nan", "-.inf", "+.inf"].contains(lower) {
            return true
        }
        return false
    }

    static func doubleQuoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\0": out += "\\0"
            default:
                if u.value == 0x85 { out += "\\N" }
                else if u.value == 0x2028 { out += "\\L" }
                else if u.value == 0x2029 { out += "\\P" }
                else if !isPrintable(u) {
                    if u.value <= 0xFF { out += "\\x" + hex(u.value, width: 2) }
                    else if u.value <= 0xFFFF { out += "\\u" + hex(u.value, width: 4) }
                    else { out += "\\U" + hex(u.value, width: 8) }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }
}
