#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a `kubectl pynomaly` command refuses to act; the description is the message the user sees.
public enum PluginError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The PynomalyDeployment does not exist.
    case notFound(name: String, namespace: String)
    /// `rollback --to-revision N` names a revision that `status.history` does not hold.
    case revisionNotInHistory(revision: Int64, available: [Int64])
    /// `rollback` (to the previous revision) with no revision but the current one in history.
    case noPreviousRevision(current: Int64?)
    /// `rollback` before the operator recorded any revision; `state` is the status's phase and
    /// message when it wrote one (nil: not yet reconciled).
    case noHistory(name: String, state: String?)
    /// A revision that is not a non-negative integer (as typed).
    case invalidRevision(String)
    /// The operator refuses the current spec (Stalled, reason InvalidSpec) and acts on no request
    /// until it is fixed; `message` is the status's.
    case invalidSpec(name: String, message: String)
    /// `backup` or `restore` on a deployment without backups (`spec.backup` and `spec.database`).
    case backupsNotEnabled(name: String, command: String, reason: String)
    /// `promote` / `abort` on a deployment whose strategy is not BlueGreen.
    case notBlueGreen(name: String, strategy: String, command: String)
    /// `restore` with both `--from` and `--latest`, or with neither.
    case restoreSource(String)
    /// `promote --skip-analysis` on a deployment without `spec.analysis`.
    case analysisNotEnabled(name: String)
    /// `diff` of a spec the operator would refuse (Stalled, InvalidSpec); `message` names each field.
    case rejectedSpec(name: String, message: String)
    /// `diff` cannot preview what the operator would do (it would stall; the message says why).
    case diffUnavailable(String)
    /// `diff` options or manifest that do not describe a change: the message names the option or field.
    case diffInput(String)

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
        case .noHistory(let name, let state):
            return "pynomalydeployment \(name) has no revision history yet (\(state ?? "not yet reconciled by the operator"))"
        case .invalidRevision(let text):
            return "invalid revision \"\(text)\": the revision must be a positive integer from `kubectl pynomaly history`, or 0 for the previous one"
        case .invalidSpec(let name, let message):
            return "pynomalydeployment \(name) has an invalid spec, and the operator acts on no request until it is fixed: \(message)"
        case .backupsNotEnabled(let name, let command, let reason):
            return "\(command) needs backups, but pynomalydeployment \(name) \(reason); nothing was requested"
        case .notBlueGreen(let name, let strategy, let command):
            return "\(command) needs strategy BlueGreen, but pynomalydeployment \(name) uses \(strategy)"
        case .restoreSource(let message):
            return message
        case .analysisNotEnabled(let name):
            return "promote --skip-analysis needs spec.analysis, but pynomalydeployment \(name) has no analysis enabled; nothing was requested"
        case .rejectedSpec(let name, let message):
            return "the operator would reject this spec of pynomalydeployment \(name) (InvalidSpec) and change nothing: \(message)"
        case .diffUnavailable(let message):
            return "cannot preview the change: \(message)"
        case .diffInput(let message):
            return message
        }
    }
}
