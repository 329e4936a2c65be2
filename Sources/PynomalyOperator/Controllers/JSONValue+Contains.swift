import KubeCore

extension JSONValue {
    /// Whether every field of `desired` is present with the same value here (server-set and
    /// defaulted fields may be extra). This is the "compare, then write" test: a live object that
    /// contains what the operator would apply needs no write. Lists must have the same length,
    /// element by element contained, because an applied list is the whole list.
    public func contains(_ desired: JSONValue) -> Bool {
        switch (self, desired) {
        case let (.object(live), .object(want)):
            for (key, value) in want {
                if case .null = value { if let present = live[key], present != .null { return false } else { continue } }
                // The API server omits empty maps and lists (`omitempty`): absent and empty are alike.
                if value.isEmptyCollection, live[key] == nil || live[key] == .null { continue }
                guard let present = live[key], present.contains(value) else { return false }
            }
            return true
        case let (.array(live), .array(want)):
            guard live.count == want.count else { return false }
            return zip(live, want).allSatisfy { $0.contains($1) }
        case let (.int(a), .double(b)): return Double(a) == b
        case let (.double(a), .int(b)): return a == Double(b)
        default:
            return self == desired
        }
    }
}

extension JSONValue {
    /// `{}` or `[]`.
    var isEmptyCollection: Bool {
        switch self {
        case .object(let fields): return fields.isEmpty
        case .array(let items): return items.isEmpty
        default: return false
        }
    }
}
