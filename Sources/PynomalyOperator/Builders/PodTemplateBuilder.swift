#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeCore

/// The app's pod template: one container `pynomaly`, meeting the `restricted` Pod Security Standard.
public enum PodTemplateBuilder {
    public static let containerName = "pynomaly"
    public static let portName = "http"
    static let tmpVolume = "tmp"

    /// The app container's environment: the spec's variables, then the database and Redis
    /// passwords from their Secrets. What the template references (`ReferencedObjects`) is read
    /// from here, so finding it needs no template.
    public static func environment(_ spec: ResolvedSpec) -> [EnvVar] {
        var env = spec.env
        if let ref = spec.database?.passwordSecretRef { env.append(.secret("DATABASE_PASSWORD", secret: ref.name, key: ref.key)) }
        if let ref = spec.redis?.passwordSecretRef { env.append(.secret("REDIS_PASSWORD", secret: ref.name, key: ref.key)) }
        return env
    }

    public static func build(_ ctx: BuildContext, configHash: String) -> PodTemplateSpec {
        let spec = ctx.spec
        var labels = spec.pod.labels
        // The operator's labels win over spec.pod.labels.
        labels.merge(ctx.selectorLabels) { _, own in own }
        labels[PynomalyLabels.versionKey] = PynomalyLabels.version(ofImage: spec.image)

        var annotations = spec.pod.annotations
        annotations[PynomalyAnnotations.configHash] = configHash
        annotations[PynomalyAnnotations.referencedHash] = ctx.referencedContentHash
        if let token = ctx.restartToken { annotations[PynomalyAnnotations.restart] = token } else { annotations[PynomalyAnnotations.restart] = nil }

        let env = environment(spec)
        let port = IntOrString.string(portName)
        let container = Container(
            name: containerName,
            image: spec.image,
            ports: [ContainerPort(name: portName, containerPort: spec.port, protocol: "TCP")],
            env: env.isEmpty ? nil : env,
            envFrom: [EnvFromSource(configMapRef: EnvSourceReference(name: ctx.configMapName))],
            resources: resources(spec.resources),
            volumeMounts: [VolumeMount(name: tmpVolume, mountPath: "/tmp")],
            livenessProbe: Probe(httpGet: HTTPGetAction(path: spec.probes.healthPath, port: port)),
            readinessProbe: Probe(httpGet: HTTPGetAction(path: spec.probes.readyPath, port: port)),
            imagePullPolicy: spec.imagePullPolicy.rawValue,
            securityContext: SecurityContext(
                runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
                capabilities: Capabilities(drop: ["ALL"]), seccompProfile: SeccompProfile(type: "RuntimeDefault")))

        var podSpec = PodSpec(
            containers: [container],
            volumes: [Volume(name: tmpVolume, emptyDir: EmptyDirVolumeSource())],
            securityContext: PodSecurityContext(runAsNonRoot: true, seccompProfile: SeccompProfile(type: "RuntimeDefault")),
            nodeSelector: spec.pod.nodeSelector.isEmpty ? nil : spec.pod.nodeSelector,
            tolerations: spec.pod.tolerations.isEmpty ? nil : spec.pod.tolerations,
            affinity: spec.pod.affinity)
        podSpec.serviceAccountName = ServiceAccountBuilder.accountName(ctx)
        podSpec.automountServiceAccountToken = ServiceAccountBuilder.automountToken(ctx)
        if !spec.imagePullSecrets.isEmpty { podSpec.imagePullSecrets = spec.imagePullSecrets.map { LocalObjectReference(name: $0) } }
        if !spec.pod.topologySpreadConstraints.isEmpty { podSpec.topologySpreadConstraints = .array(spec.pod.topologySpreadConstraints) }

        return PodTemplateSpec(metadata: ObjectMeta(labels: labels, annotations: annotations), spec: podSpec)
    }

    /// A stable 10-hex-digit hash of the template's canonical JSON (the revision identity).
    public static func templateHash(_ template: PodTemplateSpec) -> String {
        templateHash(encoded: encode(template))
    }

    /// `templateHash` of a template encoded already (`encode`).
    public static func templateHash(encoded: JSONValue) -> String {
        String(StableHash.hex(of: encoded).prefix(10))
    }

    /// The template as JSON. Encoding plain Codable values cannot fail; an empty JSON object is a
    /// safe fallback (a revision storing it fails `ControllerRevisionBuilder.template(from:)` loudly).
    public static func encode(_ template: PodTemplateSpec) -> JSONValue {
        (try? JSONValue(encoding: template)) ?? .object([:])
    }

    /// The spec's pod template with its two identities: `hash`, of the template as built (the
    /// revision's name), and `key`, the hash without the restart token, so a restart does not
    /// unpin a rollback (`RevisionPlan`'s `specTemplateKey`).
    public struct Identified: Sendable {
        public var template: PodTemplateSpec
        /// `template` as JSON: the Deployment and the ControllerRevision embed it as it is, so a
        /// pass encodes the template once.
        public var encoded: JSONValue
        public var hash: String
        public var key: String
    }

    /// `build` of `ctx` with its identities; `ctx.restartToken` is the only input `key` leaves out.
    public static func identified(_ ctx: BuildContext, configHash: String) -> Identified {
        let template = build(ctx, configHash: configHash)
        let encoded = encode(template)
        let hash = templateHash(encoded: encoded)
        guard ctx.restartToken != nil else { return Identified(template: template, encoded: encoded, hash: hash, key: hash) }
        var withoutToken = ctx
        withoutToken.restartToken = nil
        return Identified(template: template, encoded: encoded, hash: hash, key: templateHash(build(withoutToken, configHash: configHash)))
    }

    static func resources(_ r: PynomalyDeploymentSpec.Resources) -> ResourceRequirements? {
        let limits = r.limits ?? [:]
        let requests = r.requests ?? [:]
        if limits.isEmpty && requests.isEmpty { return nil }
        return ResourceRequirements(limits: limits.isEmpty ? nil : limits, requests: requests.isEmpty ? nil : requests)
    }
}
