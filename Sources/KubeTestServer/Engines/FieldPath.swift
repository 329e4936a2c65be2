import KubeCore

/// Removal of a field addressed by a path as kube-apiserver prints it (`spec.template.spec.containers[0].x`).
enum FieldPath {
    static func remove(_ path: String, from obj: inout JSONValue) {
        var segments: [Either] = []
        for part in path.split(separator: ".") {
            var p = Substring(part)
            if let open = p.firstIndex(of: "[") {
                let key = String(p[..<open])
                if !key.isEmpty { segments.append(.key(key)) }
                p = p[open...]
                while p.hasPrefix("["), let close = p.firstIndex(of: "]") {
                    if let i = Int(p[p.index(after: p.startIndex)..<close]) { segments.append(.index(i)) }
                    p = p[p.index(after: close)...]
                }
            } else {
                segments.append(.key(String(p)))
            }
        }
        obj = removing(segments[...], from: obj)
    }

    enum Either { case key(String), index(Int) }

    static func removing(_ segs: ArraySlice<Either>, from value: JSONValue) -> JSONValue {
        guard let first = segs.first else { return value }
        switch (first, value) {
        case (.key(let k), .object(var o)):
            if segs.count == 1 { o[k] = nil } else if let child = o[k] { o[k] = removing(segs.dropFirst(), from: child) }
            return .object(o)
        case (.index(let i), .array(var a)) where a.indices.contains(i):
            if segs.count == 1 { a.remove(at: i) } else { a[i] = removing(segs.dropFirst(), from: a[i]) }
            return .array(a)
        default:
            return value
        }
    }
}
