#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The app's own ServiceAccount `NAME`. Pynomaly does not call the Kubernetes API, so the account
/// has no role bound and mounts no token: a pod that is broken into holds no credentials, and an
/// RBAC review (`kubectl auth can-i --list --as=system:serviceaccount:NS:NAME`) shows nothing
/// granted. `spec.serviceAccountName` names an existing account instead (used as is, never
/// created or changed); `spec.automountServiceAccountToken: true` mounts the token.
public enum ServiceAccountBuilder {
    /// The account the pods run as.
    public static func accountName(_ ctx: BuildContext) -> String {
        ctx.cr.spec.serviceAccountName ?? ctx.name
    }

    /// The pod spec's `automountServiceAccountToken`: what the spec asks, else false for the
    /// operator's own account, else nil (a named account's own setting decides, as it would for
    /// any pod using it).
    public static func automountToken(_ ctx: BuildContext) -> Bool? {
        if let asked = ctx.cr.spec.automountServiceAccountToken { return asked }
        return ctx.cr.spec.serviceAccountName == nil ? false : nil
    }

    /// `NAME`, or nil when the spec names an existing account.
    public static func build(_ ctx: BuildContext) -> ServiceAccount? {
        guard ctx.cr.spec.serviceAccountName == nil else { return nil }
        return ServiceAccount(metadata: ctx.metadata(name: ctx.name), automountServiceAccountToken: ctx.cr.spec.automountServiceAccountToken ?? false)
    }
}
