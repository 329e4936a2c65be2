import Foundation
import KubeCore

/// A small CEL evaluator for `x-kubernetes-validations` rules: literals, `self`/`oldSelf`, field
/// selection and indexing, `has()`, `size()`, `in`, comparisons, arithmetic, `&&`/`||`/`!`, the
/// ternary operator, string helpers (`startsWith`, `endsWith`, `contains`, `matches`) and the
/// `all`/`exists`/`exists_one` macros. Anything else throws `CEL.Unsupported`, which validation
/// reports as a cause naming the rule.
enum CEL {
    struct Unsupported: Error { var message: String }
    struct EvalError: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// Evaluates a rule to a boolean.
    static func evaluate(_ rule: String, self value: JSONValue, oldSelf: JSONValue?) throws -> Bool {
        var parser = Parser(tokens: try tokenize(rule))
        let expr = try parser.parseExpression()
        guard parser.atEnd else { throw Unsupported(message: "unexpected \(parser.peekDescription)") }
        var env: [String: JSONValue] = ["self": value]
        if let oldSelf { env["oldSelf"] = oldSelf }
        let result = try eval(expr, env)
        guard case .bool(let b) = result else { throw EvalError(message: "rule did not evaluate to a bool") }
        return b
    }

    static func referencesOldSelf(_ rule: String) -> Bool {
        ((try? tokenize(rule)) ?? []).contains { $0 == .ident("oldSelf") }
    }

    // MARK: Tokens

    enum Token: Equatable {
        case ident(String), int(Int64), double(Double), string(String), op(String)
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        let ops3 = ["..."]
        let ops2 = ["==", "!=", "<=", ">=", "&&", "||"]
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                tokens.append(.ident(String(chars[i..<j])))
                i = j
                continue
            }
            if c.isNumber {
                var j = i
                var isDouble = false
                while j < chars.count, chars[j].isNumber || chars[j] == "." || chars[j] == "e" {
                    if chars[j] == "." || chars[j] == "e" {
                        // `1.size()` is not a thing; a dot followed by a digit makes a double.
                        guard j + 1 < chars.count, chars[j + 1].isNumber else { break }
                        isDouble = true
                    }
                    j += 1
                }
                let s = String(chars[i..<j])
                if j < chars.count, chars[j] == "u" { j += 1 }
                if isDouble, let d = Double(s) { tokens.append(.double(d)) } else if let n = Int64(s) { tokens.append(.int(n)) } else {
                    throw Unsupported(message: "bad number \(s)")
                }
                i = j
                continue
            }
            if c == "'" || c == "\"" {
                var j = i + 1
                var s = ""
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count {
                        j += 1
                        switch chars[j] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        default: s.append(chars[j])
                        }
                    } else {
                        s.append(chars[j])
                    }
                    j += 1
                }
                guard j < chars.count else { throw Unsupported(message: "unterminated string") }
                tokens.append(.string(s))
                i = j + 1
                continue
            }
            let rest = String(chars[i..<min(i + 3, chars.count)])
            if let op = ops3.first(where: { rest.hasPrefix($0) }) { tokens.append(.op(op)); i += 3; continue }
            if let op = ops2.first(where: { rest.hasPrefix($0) }) { tokens.append(.op(op)); i += 2; continue }
            if "+-*/%<>!?:.,()[]{}".contains(c) { tokens.append(.op(String(c))); i += 1; continue }
            throw Unsupported(message: "unexpected character '\(c)'")
        }
        return tokens
    }

    // MARK: AST

    indirect enum Expr {
        case literal(JSONValue)
        case ident(String)
        case select(Expr, String)
        case index(Expr, Expr)
        case call(String, Expr?, [Expr])
        case unary(String, Expr)
        case binary(String, Expr, Expr)
        case ternary(Expr, Expr, Expr)
        case list([Expr])
        case map([(Expr, Expr)])
    }

    struct Parser {
        var tokens: [Token]
        var pos = 0

        var atEnd: Bool { pos >= tokens.count }
        var peekDescription: String { atEnd ? "end of rule" : "\(tokens[pos])" }

        func peek(_ op: String) -> Bool {
            guard pos < tokens.count, case .op(let o) = tokens[pos] else { return false }
            return o == op
        }

        mutating func accept(_ op: String) -> Bool {
            if peek(op) { pos += 1; return true }
            return false
        }

        mutating func expect(_ op: String) throws {
            guard accept(op) else { throw Unsupported(message: "expected '\(op)' but found \(peekDescription)") }
        }

        mutating func parseExpression() throws -> Expr {
            let cond = try parseOr()
            if accept("?") {
                let a = try parseExpression()
                try expect(":")
                let b = try parseExpression()
                return .ternary(cond, a, b)
            }
            return cond
        }

        mutating func parseOr() throws -> Expr {
            var lhs = try parseAnd()
            while accept("||") { lhs = .binary("||", lhs, try parseAnd()) }
            return lhs
        }

        mutating func parseAnd() throws -> Expr {
            var lhs = try parseRelation()
            while accept("&&") { lhs = .binary("&&", lhs, try parseRelation()) }
            return lhs
        }

        mutating func parseRelation() throws -> Expr {
            var lhs = try parseAdditive()
            while true {
                if let op = ["==", "!=", "<=", ">=", "<", ">"].first(where: { peek($0) }) {
                    pos += 1
                    lhs = .binary(op, lhs, try parseAdditive())
                } else if pos < tokens.count, tokens[pos] == .ident("in") {
                    pos += 1
                    lhs = .binary("in", lhs, try parseAdditive())
                } else {
                    return lhs
                }
            }
        }

        mutating func parseAdditive() throws -> Expr {
            var lhs = try parseMultiplicative()
            while let op = ["+", "-"].first(where: { peek($0) }) {
                pos += 1
                lhs = .binary(op, lhs, try parseMultiplicative())
            }
            return lhs
        }

        mutating func parseMultiplicative() throws -> Expr {
            var lhs = try parseUnary()
            while let op = ["*", "/", "%"].first(where: { peek($0) }) {
                pos += 1
                lhs = .binary(op, lhs, try parseUnary())
            }
            return lhs
        }

        mutating func parseUnary() throws -> Expr {
            if accept("!") { return .unary("!", try parseUnary()) }
            if accept("-") { return .unary("-", try parseUnary()) }
            return try parsePostfix()
        }

        mutating func parseArgs() throws -> [Expr] {
            var args: [Expr] = []
            if accept(")") { return args }
            repeat { args.append(try parseExpression()) } while accept(",")
            try expect(")")
            return args
        }

        mutating func parsePostfix() throws -> Expr {
            var e = try parsePrimary()
            while true {
                if accept(".") {
                    guard pos < tokens.count, case .ident(let name) = tokens[pos] else { throw Unsupported(message: "field name expected after '.'") }
                    pos += 1
                    if accept("(") {
                        e = .call(name, e, try parseArgs())
                    } else {
                        e = .select(e, name)
                    }
                } else if accept("[") {
                    let i = try parseExpression()
                    try expect("]")
                    e = .index(e, i)
                } else {
                    return e
                }
            }
        }

        mutating func parsePrimary() throws -> Expr {
            guard pos < tokens.count else { throw Unsupported(message: "unexpected end of rule") }
            let t = tokens[pos]
            pos += 1
            switch t {
            case .int(let i): return .literal(.int(i))
            case .double(let d): return .literal(.double(d))
            case .string(let s): return .literal(.string(s))
            case .ident("true"): return .literal(.bool(true))
            case .ident("false"): return .literal(.bool(false))
            case .ident("null"): return .literal(.null)
            case .ident(let name):
                if accept("(") { return .call(name, nil, try parseArgs()) }
                return .ident(name)
            case .op("("):
                let e = try parseExpression()
                try expect(")")
                return e
            case .op("["):
                var items: [Expr] = []
                if !accept("]") {
                    repeat { items.append(try parseExpression()) } while accept(",")
                    try expect("]")
                }
                return .list(items)
            case .op("{"):
                var entries: [(Expr, Expr)] = []
                if !accept("}") {
                    repeat {
                        let k = try parseExpression()
                        try expect(":")
                        entries.append((k, try parseExpression()))
                    } while accept(",")
                    try expect("}")
                }
                return .map(entries)
            default:
                throw Unsupported(message: "unexpected \(t)")
            }
        }
    }

    // MARK: Evaluation

    static func eval(_ e: Expr, _ env: [String: JSONValue]) throws -> JSONValue {
        switch e {
        case .literal(let v):
            return v
        case .ident(let name):
            guard let v = env[name] else { throw EvalError(message: "undeclared reference to '\(name)'") }
            return v
        case .select(let base, let field):
            let b = try eval(base, env)
            guard case .object(let o) = b else { throw EvalError(message: "no such key: \(field)") }
            guard let v = o[field] else { throw EvalError(message: "no such key: \(field)") }
            return v
        case .index(let base, let idx):
            let b = try eval(base, env), i = try eval(idx, env)
            switch (b, i) {
            case (.array(let a), .int(let n)):
                guard n >= 0, Int(n) < a.count else { throw EvalError(message: "index out of bounds: \(n)") }
                return a[Int(n)]
            case (.object(let o), .string(let k)):
                guard let v = o[k] else { throw EvalError(message: "no such key: \(k)") }
                return v
            default:
                throw EvalError(message: "invalid index")
            }
        case .unary("!", let x):
            guard case .bool(let b) = try eval(x, env) else { throw EvalError(message: "no such overload: !") }
            return .bool(!b)
        case .unary(_, let x):
            switch try eval(x, env) {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            default: throw EvalError(message: "no such overload: -")
            }
        case .ternary(let c, let a, let b):
            guard case .bool(let cond) = try eval(c, env) else { throw EvalError(message: "ternary condition is not a bool") }
            return try eval(cond ? a : b, env)
        case .list(let items):
            return .array(try items.map { try eval($0, env) })
        case .map(let entries):
            var o = JSONObject()
            for (k, v) in entries {
                guard case .string(let key) = try eval(k, env) else { throw Unsupported(message: "map keys must be strings") }
                o[key] = try eval(v, env)
            }
            return .object(o)
        case .binary("&&", let l, let r):
            // CEL's commutative logic: false wins over an error on either side.
            let lv = Result { try eval(l, env) }
            if case .success(.bool(false)) = lv { return .bool(false) }
            let rv = try eval(r, env)
            if case .bool(false) = rv { return .bool(false) }
            guard case .bool(true) = try lv.get(), case .bool(true) = rv else { throw EvalError(message: "no such overload: &&") }
            return .bool(true)
        case .binary("||", let l, let r):
            let lv = Result { try eval(l, env) }
            if case .success(.bool(true)) = lv { return .bool(true) }
            let rv = try eval(r, env)
            if case .bool(true) = rv { return .bool(true) }
            guard case .bool(false) = try lv.get(), case .bool(false) = rv else { throw EvalError(message: "no such overload: ||") }
            return .bool(false)
        case .binary(let op, let l, let r):
            return try binary(op, try eval(l, env), try eval(r, env))
        case .call(let name, let target, let args):
            return try call(name, target, args, env)
        }
    }

    static func binary(_ op: String, _ a: JSONValue, _ b: JSONValue) throws -> JSONValue {
        switch op {
        case "==": return .bool(JSONPatch.numericEqual(a, b))
        case "!=": return .bool(!JSONPatch.numericEqual(a, b))
        case "in":
            switch b {
            case .array(let items): return .bool(items.contains { JSONPatch.numericEqual($0, a) })
            case .object(let o): return .bool(a.stringValue.map { o[$0] != nil } ?? false)
            default: throw EvalError(message: "no such overload: in")
            }
        case "<", "<=", ">", ">=":
            let c: Int
            switch (a, b) {
            case (.string(let x), .string(let y)): c = x < y ? -1 : (x == y ? 0 : 1)
            default:
                guard let x = a.doubleValue, let y = b.doubleValue else { throw EvalError(message: "no such overload: \(op)") }
                c = x < y ? -1 : (x == y ? 0 : 1)
            }
            switch op {
            case "<": return .bool(c < 0)
            case "<=": return .bool(c <= 0)
            case ">": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case "+":
            switch (a, b) {
            case (.int(let x), .int(let y)): return .int(x &+ y)
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            default:
                guard let x = a.doubleValue, let y = b.doubleValue else { throw EvalError(message: "no such overload: +") }
                return .double(x + y)
            }
        case "-", "*", "/", "%":
            if case .int(let x) = a, case .int(let y) = b {
                switch op {
                case "-": return .int(x &- y)
                case "*": return .int(x &* y)
                case "/": guard y != 0 else { throw EvalError(message: "division by zero") }; return .int(x / y)
                default: guard y != 0 else { throw EvalError(message: "modulus by zero") }; return .int(x % y)
                }
            }
            guard let x = a.doubleValue, let y = b.doubleValue, op != "%" else { throw EvalError(message: "no such overload: \(op)") }
            switch op {
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            default: return .double(x / y)
            }
        default:
            throw Unsupported(message: "operator \(op)")
        }
    }

    static func size(_ v: JSONValue) throws -> JSONValue {
        switch v {
        case .string(let s): return .int(Int64(s.unicodeScalars.count))
        case .array(let a): return .int(Int64(a.count))
        case .object(let o): return .int(Int64(o.count))
        default: throw EvalError(message: "no such overload: size")
        }
    }

    static func call(_ name: String, _ target: Expr?, _ args: [Expr], _ env: [String: JSONValue]) throws -> JSONValue {
        switch (name, target) {
        case ("has", nil):
            guard args.count == 1, case .select(let base, let field) = args[0] else {
                throw Unsupported(message: "has() needs a field selection")
            }
            guard case .object(let o) = try eval(base, env) else { return .bool(false) }
            return .bool(o[field] != nil)
        case ("size", nil):
            guard args.count == 1 else { throw Unsupported(message: "size() takes one argument") }
            return try size(try eval(args[0], env))
        case ("size", let t?):
            return try size(try eval(t, env))
        case ("int", nil):
            guard args.count == 1 else { break }
            let v = try eval(args[0], env)
            if let i = v.intValue { return .int(i) }
            if let s = v.stringValue, let i = Int64(s) { return .int(i) }
            if let d = v.doubleValue { return .int(Int64(d)) }
            throw EvalError(message: "cannot convert to int")
        case ("string", nil):
            guard args.count == 1 else { break }
            let v = try eval(args[0], env)
            return .string(v.stringValue ?? v.serializedString())
        case ("startsWith", let t?), ("endsWith", let t?), ("contains", let t?), ("matches", let t?):
            guard args.count == 1, case .string(let s) = try eval(t, env), case .string(let arg) = try eval(args[0], env) else {
                throw EvalError(message: "no such overload: \(name)")
            }
            switch name {
            case "startsWith": return .bool(s.hasPrefix(arg))
            case "endsWith": return .bool(s.hasSuffix(arg))
            case "contains": return .bool(s.contains(arg))
            default:
                guard let re = try? NSRegularExpression(pattern: arg) else { throw EvalError(message: "invalid regex \(arg)") }
                return .bool(re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil)
            }
        case ("all", let t?), ("exists", let t?), ("exists_one", let t?):
            guard args.count == 2, case .ident(let variable) = args[0] else { throw Unsupported(message: "\(name)() needs a variable and a predicate") }
            let elements: [JSONValue]
            switch try eval(t, env) {
            case .array(let a): elements = a
            case .object(let o): elements = o.keys.sorted().map(JSONValue.string)
            default: throw EvalError(message: "no such overload: \(name)")
            }
            var count = 0
            for element in elements {
                var scope = env
                scope[variable] = element
                guard case .bool(let b) = try eval(args[1], scope) else { throw EvalError(message: "predicate is not a bool") }
                if b { count += 1 } else if name == "all" { return .bool(false) }
                if b && name == "exists" { return .bool(true) }
            }
            switch name {
            case "all": return .bool(true)
            case "exists": return .bool(false)
            default: return .bool(count == 1)
            }
        default:
            break
        }
        throw Unsupported(message: "function \(name)()")
    }
}
