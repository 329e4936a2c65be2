import Foundation

/// Why a `kubectl pynomaly` command refuses to act; the description is the message the user sees.
public enum PluginError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The PynomalyDeployment does not exist.
    case notFound(name: String, namespace: String)
    /// `rollback --to-revision N` names a revision that `status.history` does not hold.
    case revisionNotInHistory(revision: Int64, available: [Int64])
    /// `rollback` (to the previous revision) with no revision but the current one in history.
    case noPreviousRevision(current: Int64?)
    /// `rollback` before the operator recorded any revision.
    case noHistory(name: String)
    /// A negative revision.
    case invalidRevision(Int64)
    /// `promote` / `abort` on a deployment whose strategy is not BlueGreen.
    case notBlueGreen(name: String, strategy: String, command: String)
    /// `restore` with both `--from` and `--latest`, or with neither.
    case restoreSource(String)

    public var description: String {
        switch self {
        case .notFound(let name, let namespace):
            return "pynomalydeployment \(name) not found in namespace \(namespace)"
        case .revisionNotInHistory(let revision, let available):
            let list = available.isEmpty ? "none" : available.map(String.init).joined(separator: ", ")
            return "revision \(revision) is not in the revision history (available: \(list))"
        case .noPreviousRevision(let current):
            let now = current.map { " than the current revision \($0)" } ?? ""
            return "there is no previous revision to roll back to: the history holds no other successful revision\(now)"
        case .noHistory(let name):
            return "pynomalydeployment \(name) has no revision history yet (not yet reconciled by the operator)"
        case .invalidRevision(let revision):
            return "invalid revision \(revision): use a revision from `kubectl pynomaly history`, or 0 for the previous one"
        case .notBlueGreen(let name, let strategy, let command):
            return "\(command) needs strategy BlueGreen, but pynomalydeployment \(name) uses \(strategy)"
        case .restoreSource(let message):
            return message
        }
    }
}
