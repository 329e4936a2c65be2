import KubeCore

/// JSON equality as JSON means it: one number type, so `15` and `15.0` are the same value (the
/// writer prints integral doubles the way Go does, without a fraction, and they parse back as ints).
public func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case let (.int(x), .double(y)), let (.double(y), .int(x)):
        return Double(x) == y
    case let (.array(x), .array(y)):
        return x.count == y.count && zip(x, y).allSatisfy(sameJSON)
    case let (.object(x), .object(y)):
        return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameJSON(value, $0) } ?? false }
    default:
        return a == b
    }
}
