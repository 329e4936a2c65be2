import KubeCore
import KubeRuntime

/// The app's ServiceAccount (`ServiceAccountBuilder`), applied like every other child. Every
/// strategy calls this before it writes a Deployment: the ServiceAccount admission plugin refuses
/// pods whose account does not exist, so a Deployment first would leave its ReplicaSet failing.
extension PynomalyDeploymentReconciler {
    /// Applies `NAME`, or, when the spec names an existing account, deletes the `NAME` this CR
    /// controls (the named account itself is never written). Answers the account as applied or
    /// compared; nil when the spec names another.
    @discardableResult
    func ensureServiceAccount(_ ctx: BuildContext, writer: ChildWriter) async throws -> JSONValue? {
        // An account the spec names is never deleted, even one this CR created under that name.
        if ctx.cr.spec.serviceAccountName == ctx.name { return nil }
        return try await writer.apply(ServiceAccountBuilder.build(ctx), orDelete: ctx.name)
    }
}
