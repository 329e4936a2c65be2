import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeClient
import KubeCore
import KubeYAML
import PynomalyOperator

/// `kubectl pynomaly diff NAME (-f FILE | --image IMAGE | --set PATH=VALUE…)`: what the operator's
/// next pass would change in every child, as a unified diff per object, computed with the
/// operator's own builders and the API server's server-side apply dry run. Nothing is written.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Shows what the operator would change in every child object for a changed spec; writes nothing.",
        discussion: """
            The changed spec is a manifest (-f FILE, - for stdin) or --image/--set applied to the live spec. \
            The API server answers what it would store (server-side apply, dryRun=All, the operator's field manager). \
            Exit 0: no change; 1: something would change; 2: error (e.g. a spec the operator would reject).
            """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Name of the PynomalyDeployment.") var name: String
    @Option(name: [.customShort("f"), .customLong("filename")], help: ArgumentHelp("A changed manifest of the PynomalyDeployment (- for stdin).", valueName: "file"))
    var file: String?
    @Option(help: "The image to preview (sets spec.image on the live spec).") var image: String?
    @Option(name: .customLong("set"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("A spec field to change, PATH=VALUE under spec (e.g. replicas=5, config.LOG_LEVEL=DEBUG); repeatable.", valueName: "path=value"))
    var sets: [String] = []
    @Option(name: .customLong("set-string"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Like --set, but VALUE is always a string (config values such as WORKERS=4).", valueName: "path=value"))
    var stringSets: [String] = []

    static let errorCode: Int32 = 2

    func run() async throws {
        let flags = image != nil || !sets.isEmpty || !stringSets.isEmpty
        guard (file != nil) != flags else {
            throw fail("say what changes: -f FILE (a changed manifest), or --image IMAGE and/or --set PATH=VALUE on the live spec, not both",
                       code: Self.errorCode)
        }
        let conn = try connection.connect(failureCode: Self.errorCode)
        let manifest = try file.map(readManifest)
        var session = DiffSession(conn: conn, name: name)
        // The operator writes the status while it works, which moves the CR's resourceVersion
        // between the GET and the dry-run update (a 409): read it again and retry.
        var attempt = 0
        var code: Int32 = 0
        while true {
            attempt += 1
            let live = try await conn.deployment(name, failureCode: Self.errorCode)
            let changed = try changedCR(live, manifest: manifest)
            do {
                code = try await session.run(live: live, changed: changed)
                break
            } catch DiffSession.LiveMoved.conflict where attempt < 5 {
                continue
            }
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// The live CR with the change asked for; a change that cannot be made exits 2 with why.
    func changedCR(_ live: JSONValue, manifest: [JSONValue]?) throws -> JSONValue {
        let result: Result<JSONValue, PluginError>
        if let manifest {
            result = Result { () throws(PluginError) in try DiffInput.applyingManifest(manifest, to: live, name: name) }
        } else {
            result = Result { () throws(PluginError) in try DiffInput.applyingFlags(to: live, image: image, sets: sets, stringSets: stringSets) }
        }
        switch result {
        case .success(let changed): return changed
        case .failure(let error): throw fail(error.description, code: Self.errorCode)
        }
    }

    func readManifest(_ path: String) throws -> [JSONValue] {
        let text: String
        do {
            if path == "-" {
                var input = ""
                while let line = readLine(strippingNewline: false) { input += line }
                text = input
            } else {
                text = try String(contentsOfFile: path, encoding: .utf8)
            }
        } catch {
            throw fail("cannot read \(path): \(error)", code: Self.errorCode)
        }
        do {
            return try YAML.parseDocuments(text)
        } catch {
            throw fail("\(path): \(error)", code: Self.errorCode)
        }
    }
}

/// One `diff` run: the reads, the plan, the dry runs and the output.
struct DiffSession {
    let conn: Connection
    let name: String
    static let operatorManager = PynomalyDeploymentReconciler.fieldManager
    var namespace: String { conn.namespace }

    /// Prints the diffs and the rollout summary; answers the exit code (0 unchanged, 1 changed).
    mutating func run(live: JSONValue, changed: JSONValue) async throws -> Int32 {
        // The CR itself first, through the API server: its schema, CEL rules and defaults judge the
        // spec as `kubectl apply` would, and the answer is the spec the operator would read.
        let answer: JSONValue
        do {
            answer = try await conn.client.update(.pynomalyDeployments, namespace: namespace, name: name, object: changed, subresource: nil,
                                                  options: WriteOptions(fieldManager: "kubectl-pynomaly", dryRun: true))
        } catch let error as KubeError where error.isConflict {
            throw LiveMoved.conflict
        } catch let error as KubeError {
            let message = error.status?.message ?? "\(error)"
            throw fail("the API server would reject this spec of pynomalydeployment \(name): \(message)", code: DiffCommand.errorCode)
        }
        let cr: PynomalyDeployment
        do {
            cr = try answer.decode(PynomalyDeployment.self)
        } catch {
            throw fail("cannot read the PynomalyDeployment the API server answered: \(error)", code: DiffCommand.errorCode)
        }
        let uid = cr.metadata.uid ?? ""
        let state = try await readLiveState(cr, uid: uid)
        let plan: DiffPlan
        do {
            plan = try DiffPlan.plan(cr, live: state.live)
        } catch {
            throw fail(error.description, code: DiffCommand.errorCode)
        }

        var changedObjects: [String] = []
        var conflicts: [String] = []
        var notServed: [String] = []
        if let text = Self.diff(resource: .pynomalyDeployments, name: name, live: live, after: answer) {
            print(text)
            changedObjects.append("\(Self.typeName(.pynomalyDeployments))/\(name)")
        }
        for change in plan.changes {
            let key = DiffLiveState.key(change.resource, change.name)
            if let foreign = state.foreign[key] {
                conflicts.append("\(change.resource.kind) \(change.name) exists and is not controlled by this PynomalyDeployment"
                                 + (foreign.isEmpty ? "" : " (\(foreign))"))
                continue
            }
            var before = state.live.children[key]
            if before == nil { before = try await getIfExists(change.resource, change.name) }
            let after: JSONValue?
            do {
                after = try await outcome(change, live: before)
            } catch let error as KubeError where error.isNotFound && !change.resource.group.isEmpty && before == nil
                && [MonitoringBuilder.serviceMonitorType.resource, MonitoringBuilder.prometheusRuleType.resource].contains(change.resource.resource) {
                notServed.append("\(change.resource.kind) \(change.name)")
                continue
            } catch let error as KubeError {
                let message = error.status?.message ?? "\(error)"
                throw fail("the API server would refuse \(change.resource.kind) \(change.name): \(message)", code: DiffCommand.errorCode)
            }
            if let text = Self.diff(resource: change.resource, name: change.name, live: before, after: after) {
                print(text)
                changedObjects.append("\(Self.typeName(change.resource))/\(change.name)")
            }
        }
        print(Self.summary(plan.rollout, changed: changedObjects, conflicts: conflicts, notServed: notServed, name: name))
        return changedObjects.isEmpty && conflicts.isEmpty ? 0 : 1
    }

    /// What the object would be after the operator's write, as the API server answers a dry run;
    /// nil: deleted. The operator's compare-then-write is kept: a live object that already holds
    /// every field it would send is not written.
    func outcome(_ change: ChildChange, live: JSONValue?) async throws -> JSONValue? {
        let options = WriteOptions(fieldManager: Self.operatorManager, force: true, dryRun: true)
        switch change.operation {
        case .apply(let body):
            if let live, live.contains(body) {
                guard let drift = ChildDrift.find(change.resource, live: live, desired: body) else { return live }
                return Self.mergePatch(drift.patch, into: live)
            }
            var answer = try await conn.client.patch(change.resource, namespace: namespace, name: change.name, type: .apply,
                                                     body: body.serialized(), subresource: nil, options: options)
            // What another manager added to the fields the operator owns whole is reverted right after.
            if let drift = ChildDrift.find(change.resource, live: answer, desired: body) { answer = Self.mergePatch(drift.patch, into: answer) }
            return answer
        case .createIfMissing(let body):
            if let live { return live }
            return try await conn.client.create(change.resource, namespace: namespace, object: body,
                                                options: WriteOptions(fieldManager: Self.operatorManager, dryRun: true))
        case .scale(let replicas):
            guard live != nil else { return nil }
            let patch: JSONValue = ["spec": ["replicas": .int(Int64(replicas))]]
            return try await conn.client.patch(change.resource, namespace: namespace, name: change.name, type: .merge,
                                               body: patch.serialized(), subresource: nil, options: WriteOptions(fieldManager: Self.operatorManager, dryRun: true))
        case .delete:
            return nil
        }
    }

    /// The CR changed between the read and the dry run.
    enum LiveMoved: Error { case conflict }

    struct LiveReads {
        var live: DiffLiveState
        /// `RESOURCE/NAME` of objects under a child's name that this CR does not control, with who owns them.
        var foreign: [String: String]
    }

    /// The live state a pass would see: referenced Secrets and ConfigMaps (hashed, never kept),
    /// ControllerRevisions, the children under the names the operator uses, and the smoke Jobs.
    func readLiveState(_ cr: PynomalyDeployment, uid: String) async throws -> LiveReads {
        var state = DiffLiveState()
        var foreign: [String: String] = [:]
        let ctx = BuildContext(cr: cr)
        let references = ReferencedObjects(ctx)
        for (kind, resource, names) in [("Secret", ResourceType.secrets, references.secrets), ("ConfigMap", .configMaps, references.configMaps)] {
            for referenced in names.sorted() {
                if let object = try await getIfExists(resource, referenced) {
                    state.referencedContentHashes["\(kind)/\(referenced)"] = ReferencedContentHashes.contentHash(of: object)
                }
            }
        }
        let selector = "\(PynomalyLabels.instanceKey)=\(name)"
        let revisions = try await listing(.controllerRevisions, selector: selector)
        for object in revisions where object.isControlled(by: uid) {
            guard let revision = try? object.decode(ControllerRevision.self), let revisionName = revision.metadata.name,
                  revisionName.hasPrefix("\(name)-"), let template = ControllerRevisionBuilder.template(from: revision) else { continue }
            state.revisionTemplates[String(revisionName.dropFirst(name.count + 1))] = template
        }
        state.smokeJobs = try await listing(.jobs, selector: selector).filter { $0.isControlled(by: uid) }.compactMap { try? $0.decode(Job.self) }
        for job in state.smokeJobs { if let jobName = job.metadata.name { state.children[DiffLiveState.key(.jobs, jobName)] = try? JSONValue(encoding: job) } }

        var wanted: [(ResourceType, String)] = []
        for suffix in ["", "-blue", "-green"] {
            wanted.append((.deployments, name + suffix))
            wanted.append((.services, name + suffix))
        }
        wanted += [(.configMaps, ctx.configMapName), (.serviceAccounts, name), (.ingresses, name), (.horizontalPodAutoscalers, name), (.podDisruptionBudgets, name),
                   (.cronJobs, BackupCronJobBuilder.cronJobName(name)), (.cronJobs, MaintenanceCronJobBuilder.cronJobName(name)),
                   (MonitoringBuilder.serviceMonitorType, name), (MonitoringBuilder.prometheusRuleType, name)]
        for (resource, childName) in wanted {
            guard let object = try await getIfExists(resource, childName) else { continue }
            let key = DiffLiveState.key(resource, childName)
            if object.isControlled(by: uid) {
                state.children[key] = object
            } else {
                let owner = object[path: ["metadata", "ownerReferences"]]?.arrayValue?.first { $0["controller"]?.boolValue == true }
                foreign[key] = owner.map { "controlled by \($0["kind"]?.stringValue ?? "?") \($0["name"]?.stringValue ?? "?")" } ?? "not controlled by anything"
            }
        }
        return LiveReads(live: state, foreign: foreign)
    }

    /// The object, or nil when it does not exist (or its kind is not served).
    func getIfExists(_ resource: ResourceType, _ objectName: String) async throws -> JSONValue? {
        do {
            return try await conn.client.get(resource, namespace: namespace, name: objectName, subresource: nil)
        } catch let error as KubeError where error.isNotFound {
            return nil
        } catch {
            throw fail("cannot read \(resource.kind) \(objectName): \(error)", code: DiffCommand.errorCode)
        }
    }

    func listing(_ resource: ResourceType, selector: String) async throws -> [JSONValue] {
        do {
            return try await conn.client.list(resource, namespace: namespace, options: ListOptions(labelSelector: selector)).items
        } catch {
            throw fail("cannot list \(resource.resource): \(error)", code: DiffCommand.errorCode)
        }
    }

    /// `deployment.apps`, `configmap`: how kubectl names a type.
    static func typeName(_ resource: ResourceType) -> String {
        resource.group.isEmpty ? resource.kind.lowercased() : "\(resource.kind.lowercased()).\(resource.group)"
    }

    /// The unified diff of one object, or nil when the write would change nothing that matters.
    static func diff(resource: ResourceType, name: String, live: JSONValue?, after: JSONValue?) -> String? {
        let before = DiffNormalization.comparable(live), later = DiffNormalization.comparable(after)
        guard before != later else { return nil }
        let label = "\(typeName(resource))/\(name)"
        return UnifiedDiff.render(old: before.map(YAML.emit) ?? "", new: later.map(YAML.emit) ?? "",
                                  oldLabel: "\(label) (live)" + (before == nil ? " does not exist" : ""),
                                  newLabel: "\(label) (after the operator's next pass)" + (later == nil ? ": deleted" : ""))
    }

    /// JSON merge patch (RFC 7386): objects merge, null deletes, everything else replaces.
    static func mergePatch(_ patch: JSONValue, into target: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result = target.objectValue ?? [:]
        for (key, value) in changes {
            if value == .null { result[key] = nil } else { result[key] = mergePatch(value, into: result[key] ?? .null) }
        }
        return .object(result)
    }

    static func summary(_ rollout: RolloutPreview, changed: [String], conflicts: [String], notServed: [String], name: String) -> String {
        var lines = ["", "Summary of pynomalydeployment/\(name):"]
        if changed.isEmpty && conflicts.isEmpty {
            lines.append("  no changes: the operator would write nothing")
        } else if !changed.isEmpty {
            lines.append("  objects that would change: \(changed.joined(separator: ", "))")
        }
        for conflict in conflicts { lines.append("  conflict: \(conflict); the operator would refuse it and stall (ResourceConflict)") }
        for kind in notServed { lines.append("  not served: \(kind) (its CRD is not installed); the operator would not create it") }
        if let held = rollout.heldBecause { lines.append("  workload: unchanged, \(held)") }
        let revision = rollout.pinned ? "stays on revision \(rollout.revision) (pinned by a rollback)"
            : rollout.newRevision ? "new revision \(rollout.revision)" : "revision \(rollout.revision) (no new revision)"
        if rollout.heldBecause == nil { lines.append("  revision: \(revision)") }
        if let preview = rollout.previewColor {
            let serving = rollout.activeColor.map { "; \($0) keeps serving until promotion" } ?? "; no colour serves yet (first deployment)"
            lines.append("  blue-green: revision \(rollout.revision) goes to the preview colour \(preview) (\(name)-\(preview))\(serving)")
        } else if let active = rollout.activeColor {
            lines.append("  blue-green: active colour \(active); no new preview")
        }
        if rollout.restartsPods {
            lines.append("  pods: restarted (rolling), because: \(rollout.restartReasons.joined(separator: "; "))")
        } else if rollout.heldBecause == nil {
            lines.append("  pods: not restarted" + (rollout.previewColor != nil ? " (the serving colour's pods keep running)" : ""))
        }
        for note in rollout.notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }
}
