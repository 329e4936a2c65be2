import Foundation
import KubeCore
import KubeRuntime
import OperatorTestSupport
import PynomalyOperator
import Testing

@Suite("ControllerLogic: ReferencedObjects")
struct ReferencedObjectsLogicTests {
    static let own = "app-config"

    func template(_ containers: [Container]) -> PodTemplateSpec {
        PodTemplateSpec(spec: PodSpec(containers: containers))
    }

    func secretEnv(_ name: String, _ secret: String) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(secretKeyRef: SecretKeySelector(name: secret, key: "k")))
    }

    func configMapEnv(_ name: String, _ configMap: String) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(configMapKeyRef: ConfigMapKeySelector(name: configMap, key: "k")))
    }

    var full: PodTemplateSpec {
        var app = Container(name: "app", image: "app:v1")
        app.env = [EnvVar(name: "PLAIN", value: "x"), secretEnv("DB_PASSWORD", "db"), configMapEnv("FLAG", "flags"),
                   EnvVar(name: "POD", valueFrom: EnvVarSource(fieldRef: ObjectFieldSelector(fieldPath: "metadata.name")))]
        app.envFrom = [EnvFromSource(configMapRef: EnvSourceReference(name: Self.own)), EnvFromSource(secretRef: EnvSourceReference(name: "bulk")),
                       EnvFromSource(prefix: "X_", configMapRef: EnvSourceReference(name: "extra"))]
        var sidecar = Container(name: "sidecar", image: "side:v1")
        sidecar.env = [secretEnv("REDIS_PASSWORD", "redis"), secretEnv("DB_AGAIN", "db")]
        return template([app, sidecar])
    }

    @Test func envEnvFromAndEveryContainerAreRead() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        #expect(refs.secrets == ["db", "bulk", "redis"])
        #expect(refs.configMaps == ["flags", "extra"])
        #expect(!refs.isEmpty)
        #expect(refs.contains(kind: "Secret", name: "db"))
        #expect(refs.contains(kind: "ConfigMap", name: "flags"))
        #expect(!refs.contains(kind: "ConfigMap", name: "db"), "kinds are separate")
        #expect(!refs.contains(kind: "Secret", name: "flags"))
    }

    @Test func theOwnConfigMapIsExcluded() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        #expect(!refs.contains(kind: "ConfigMap", name: Self.own))
        // Only the own ConfigMap: nothing referenced.
        var only = Container(name: "app")
        only.envFrom = [EnvFromSource(configMapRef: EnvSourceReference(name: Self.own))]
        #expect(ReferencedObjects(template: template([only]), ownConfigMap: Self.own).isEmpty)
        // A Secret that happens to have the own ConfigMap's name is still a Secret to watch.
        var sameName = Container(name: "app")
        sameName.envFrom = [EnvFromSource(secretRef: EnvSourceReference(name: Self.own))]
        #expect(ReferencedObjects(template: template([sameName]), ownConfigMap: Self.own).secrets == [Self.own])
    }

    @Test func theOwnConfigMapReadThroughConfigMapKeyRefIsExcludedToo() {
        // The own ConfigMap's content is hashed separately, and it is created by the same pass that
        // would wait for it: a single key of it read through env must not be a reference either.
        var app = Container(name: "app")
        app.env = [configMapEnv("LOG_LEVEL_COPY", Self.own)]
        let refs = ReferencedObjects(template: template([app]), ownConfigMap: Self.own)
        #expect(refs.configMaps.isEmpty, "\(refs.configMaps)")
    }

    /// The kubelet starts a pod without an optional Secret or ConfigMap: its absence must not hold a
    /// rollout, yet its creation changes the hash (the pods roll to read it). A reference that is
    /// optional in one place and required in another is required.
    @Test func anOptionalReferenceThatIsMissingDoesNotBlock() {
        var app = Container(name: "app")
        app.env = [EnvVar(name: "TOKEN", valueFrom: EnvVarSource(secretKeyRef: SecretKeySelector(name: "maybe", key: "k", optional: true))),
                   EnvVar(name: "FLAG", valueFrom: EnvVarSource(configMapKeyRef: ConfigMapKeySelector(name: "both", key: "k", optional: true))),
                   configMapEnv("FLAG2", "both")]
        app.envFrom = [EnvFromSource(secretRef: EnvSourceReference(name: "bulk", optional: true))]
        let refs = ReferencedObjects(template: template([app]), ownConfigMap: Self.own)
        #expect(refs.optional == ["Secret/maybe", "Secret/bulk"])
        let absent = refs.contentHash { _, _ in nil }
        #expect(absent.missing == ["ConfigMap both"], "only the required one blocks: \(absent.missing)")
        let present = refs.contentHash { kind, name in kind == "Secret" && name == "maybe" ? "h1" : nil }
        #expect(present.hash != absent.hash, "creating the optional Secret rolls the pods")
    }

    @Test func anEmptyTemplateReferencesNothing() {
        let refs = ReferencedObjects(template: PodTemplateSpec(), ownConfigMap: Self.own)
        #expect(refs.isEmpty)
        let hashed = refs.contentHash { _, _ in Issue.record("nothing to look up"); return nil }
        #expect(hashed.hash == "")
        #expect(hashed.missing.isEmpty)
    }

    @Test func missingObjectsAreListed() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        let present: [String: String] = ["Secret/db": "h1", "Secret/redis": "h2", "ConfigMap/extra": "h3"]
        let result = refs.contentHash { kind, name in present["\(kind)/\(name)"] }
        #expect(result.missing == ["Secret bulk", "ConfigMap flags"])
        #expect(result.hash.count == 16)
        #expect(!result.hash.isEmpty, "what exists is still hashed")
        // Nothing exists: no hash, all missing.
        let none = refs.contentHash { _, _ in nil }
        #expect(none.hash == "")
        #expect(none.missing == ["Secret bulk", "Secret db", "Secret redis", "ConfigMap extra", "ConfigMap flags"])
    }

    @Test func theHashFollowsContentHashesOnly() {
        let refs = ReferencedObjects(template: full, ownConfigMap: Self.own)
        let base: [String: String] = ["Secret/db": "h1", "Secret/bulk": "h2", "Secret/redis": "h3", "ConfigMap/flags": "h4",
                                      "ConfigMap/extra": "h5"]
        func hash(_ contents: [String: String]) -> String { refs.contentHash { kind, name in contents["\(kind)/\(name)"] }.hash }

        let first = hash(base)
        #expect(first.count == 16)
        #expect(first.allSatisfy { $0.isHexDigit })
        #expect(hash(base) == first, "stable")
        #expect(ReferencedObjects(template: full, ownConfigMap: Self.own).contentHash { kind, name in base["\(kind)/\(name)"] }.hash == first)
        #expect(refs.contentHash { kind, name in base["\(kind)/\(name)"] }.missing.isEmpty)

        for key in base.keys.sorted() {
            var rotated = base
            rotated[key] = "rotated"
            #expect(hash(rotated) != first, "\(key) changed")
        }
        // Same content hashes under swapped names is a different state.
        var swapped = base
        swapped["Secret/db"] = "h2"
        swapped["Secret/bulk"] = "h1"
        #expect(hash(swapped) != first)
        // An unrelated object's content is not asked for at all.
        let asked = refs.contentHash { kind, name in
            #expect(refs.contains(kind: kind, name: name), "\(kind) \(name) is referenced")
            return base["\(kind)/\(name)"]
        }
        #expect(asked.hash == first)
    }

    @Test func theSameNameAsSecretAndConfigMapHashesDifferently() {
        var a = Container(name: "app")
        a.env = [secretEnv("X", "shared")]
        var b = Container(name: "app")
        b.env = [configMapEnv("X", "shared")]
        let secretHash = ReferencedObjects(template: template([a]), ownConfigMap: Self.own).contentHash { _, _ in "h" }.hash
        let configMapHash = ReferencedObjects(template: template([b]), ownConfigMap: Self.own).contentHash { _, _ in "h" }.hash
        #expect(secretHash != configMapHash)
    }

    /// What the reconciler finds without building the template is what the built template holds.
    @Test func theSpecsReferencesAreTheBuiltTemplates() throws {
        for sample in ["pynomaly.yaml", "pynomaly-backup.yaml", "pynomaly-bluegreen.yaml"] {
            let documents = try OperatorRig.sample(sample)
            let raw = try #require(documents.first { $0["kind"]?.stringValue == "PynomalyDeployment" })
            var cr = try raw.decode(PynomalyDeployment.self)
            cr.metadata.namespace = "default"
            cr.spec.env = (cr.spec.env ?? []) + [secretEnv("EXTRA", "extra-secret"), configMapEnv("FLAG", "flags")]
            let ctx = BuildContext(cr: cr)
            let built = ReferencedObjects(template: PodTemplateBuilder.build(ctx, configHash: "h"), ownConfigMap: ctx.configMapName)
            #expect(ReferencedObjects(ctx) == built, "\(sample)")
            #expect(built.secrets.contains("extra-secret") && built.configMaps.contains("flags"), "\(sample)")
        }
    }

}
