/// A unified diff of two texts, line by line, in the format `diff -u` and `kubectl diff` print:
/// `--- OLD` / `+++ NEW` headers, then hunks `@@ -a,b +c,d @@` with `context` unchanged lines
/// around each change.
public enum UnifiedDiff {
    enum Edit: Equatable {
        case same(String)
        case removed(String)
        case added(String)
    }

    /// The diff, or nil when the texts are equal.
    public static func render(old: String, new: String, oldLabel: String, newLabel: String, context: Int = 3) -> String? {
        guard old != new else { return nil }
        let edits = self.edits(lines(old), lines(new))
        var out = ["--- \(oldLabel)", "+++ \(newLabel)"]
        // Positions (in `edits`) of the changes, grouped into hunks whose context would touch.
        let changed = edits.indices.filter { if case .same = edits[$0] { return false } else { return true } }
        var groups: [[Int]] = []
        for index in changed {
            if let last = groups.last?.last, index - last <= 2 * context { groups[groups.count - 1].append(index) } else { groups.append([index]) }
        }
        for group in groups {
            guard let first = group.first, let last = group.last else { continue }
            let start = max(0, first - context), end = min(edits.count - 1, last + context)
            // Line numbers where the hunk starts: count the lines of each side before it.
            var oldLine = 1, newLine = 1
            for edit in edits[..<start] {
                switch edit {
                case .same: oldLine += 1; newLine += 1
                case .removed: oldLine += 1
                case .added: newLine += 1
                }
            }
            var body: [String] = []
            var oldCount = 0, newCount = 0
            for edit in edits[start...end] {
                switch edit {
                case .same(let line): body.append(" " + line); oldCount += 1; newCount += 1
                case .removed(let line): body.append("-" + line); oldCount += 1
                case .added(let line): body.append("+" + line); newCount += 1
                }
            }
            // An empty side is numbered by the line before it, as diff -u does.
            let oldStart = oldCount == 0 ? oldLine - 1 : oldLine, newStart = newCount == 0 ? newLine - 1 : newLine
            out.append("@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@")
            out.append(contentsOf: body)
        }
        return out.joined(separator: "\n")
    }

    static func lines(_ text: String) -> [String] {
        if text.isEmpty { return [] }
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    /// The shortest edit script by the longest common subsequence (the objects compared are a few
    /// hundred lines at most, so the quadratic table is small).
    static func edits(_ a: [String], _ b: [String]) -> [Edit] {
        let n = a.count, m = b.count
        // lcs[i][j]: length of the LCS of a[i...] and b[j...].
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var result: [Edit] = []
        var i = 0, j = 0
        while i < n && j < m {
            if a[i] == b[j] {
                result.append(.same(a[i])); i += 1; j += 1
            } else if lcs[i + 1][j] >= lcs[i][j + 1] {
                result.append(.removed(a[i])); i += 1
            } else {
                result.append(.added(b[j])); j += 1
            }
        }
        while i < n { result.append(.removed(a[i])); i += 1 }
        while j < m { result.append(.added(b[j])); j += 1 }
        return result
    }
}
