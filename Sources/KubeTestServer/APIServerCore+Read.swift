import Foundation
import KubeCore
import Synchronization

/// GET, LIST and WATCH.
extension APIServerCore {
    func getObject(_ req: APIRequest, _ t: Target) throws -> APIResponse {
        guard let name = t.name else { throw APIError.resourceNotFound() }
        let rendering = try MediaNegotiation.negotiate(req.header("Accept"))
        guard let obj = storedObject(t.info, namespace: t.namespace, name: name) else { throw APIError.notFound(t.info, name) }
        switch rendering {
        case .object: return .json(200, present(obj, t.info))
        case .table(let v):
            return .json(200, table([obj], info: t.info, version: v, listRV: obj[path: ["metadata", "resourceVersion"]]?.stringValue ?? "",
                                   include: req.query("includeObject") ?? "Metadata"))
        case .partialMetadata(let v): return .json(200, partial(obj, version: v))
        case .partialMetadataList: throw MediaNegotiation.wrongForm(t.info, askedList: true)
        }
    }

    // MARK: List

    struct ContinueToken {
        var rv: Int64
        var start: String
    }

    static func encodeContinue(rv: Int64, start: String) -> String {
        let o: JSONValue = ["v": "meta.k8s.io/v1", "rv": .int(rv), "start": .string(start + "\u{0}")]
        return o.serialized().base64EncodedString().replacingOccurrences(of: "=", with: "")
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func decodeContinue(_ token: String) throws(APIError) -> ContinueToken {
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else {
            throw APIError.badRequest("invalid continue token: illegal base64 data")
        }
        guard let v = try? JSONValue(parsing: data) else {
            let first = data.first.map { Character(Unicode.Scalar($0)) } ?? " "
            let second = data.dropFirst().first.map { Character(Unicode.Scalar($0)) } ?? " "
            if first == "n" {
                throw APIError.badRequest("invalid continue token: continue key is not valid: invalid character '\(second)' in literal null (expecting 'u')")
            }
            throw APIError.badRequest("invalid continue token: continue key is not valid: invalid character '\(first)' looking for beginning of value")
        }
        guard v["v"]?.stringValue == "meta.k8s.io/v1", let rv = v["rv"]?.intValue, var start = v["start"]?.stringValue else {
            throw APIError.badRequest("invalid continue token: continue key is not valid: server does not recognize this encoding")
        }
        if start.hasSuffix("\u{0}") { start.removeLast() }
        return ContinueToken(rv: rv, start: start)
    }

    /// Validates list/watch options like ListOptions validation does (422 on the meta.k8s.io kind).
    func validateListOptions(_ req: APIRequest, isWatch: Bool) throws {
        var causes: [StatusCause] = []
        let rv = req.query("resourceVersion") ?? ""
        let match = req.query("resourceVersionMatch") ?? ""
        let sie = req.query("sendInitialEvents")
        let rvRequired = StatusCause(reason: "FieldValueForbidden", message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                                     field: "resourceVersionMatch")
        if isWatch {
            if sie != nil {
                if match != "NotOlderThan" {
                    causes.append(StatusCause(reason: "FieldValueForbidden", message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                                              field: "resourceVersionMatch"))
                }
            } else if !match.isEmpty, rv.isEmpty {
                causes.append(rvRequired)
            }
        } else {
            if !match.isEmpty, rv.isEmpty { causes.append(rvRequired) }
            if sie != nil {
                causes.append(StatusCause(reason: "FieldValueForbidden", message: "Forbidden: sendInitialEvents is forbidden for list", field: "sendInitialEvents"))
            }
        }
        if !causes.isEmpty {
            throw APIError.invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", causes: causes)
        }
    }

    func selectors(_ req: APIRequest, _ info: ResourceInfo) throws -> (LabelSelector, FieldSelector) {
        let labels: LabelSelector
        do { labels = try LabelSelector.parse(req.query("labelSelector") ?? "") } catch { throw APIError.badRequest(error.message) }
        var fields: FieldSelector
        do { fields = try FieldSelector.parse(req.query("fieldSelector") ?? "", allowed: info.extraFieldSelectors) } catch {
            throw APIError.badRequest(error.message)
        }
        if EventConversion.isEventsAPI(info) {
            for i in fields.terms.indices { fields.terms[i].field = EventConversion.storedField(fields.terms[i].field) }
        }
        return (labels, fields)
    }

    static func parseInt(_ s: String?) throws(APIError) -> Int64? {
        guard let s, !s.isEmpty else { return nil }
        guard let v = Int64(s) else { throw APIError.badRequest("strconv.ParseInt: parsing \"\(s)\": invalid syntax") }
        return v
    }

    func listObjects(_ req: APIRequest, _ t: Target) async throws -> APIResponse {
        try validateListOptions(req, isWatch: false)
        let rendering = try MediaNegotiation.negotiate(req.header("Accept"))
        let (labels, fields) = try selectors(req, t.info)
        var limit = try Self.parseInt(req.query("limit")) ?? 0
        let rvParam = req.query("resourceVersion") ?? ""
        let match = req.query("resourceVersionMatch") ?? ""
        if !["", "Exact", "NotOlderThan"].contains(match) {
            throw APIError.invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", causes: [
                StatusCause(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(match)\": supported values: \"Exact\", \"NotOlderThan\"", field: "resourceVersionMatch")])
        }
        let requestedRV = try Self.parseInt(rvParam.isEmpty ? nil : rvParam)
        if let r = requestedRV, r > 0 {
            try await waitForResourceVersion(r)
        }
        if rvParam == "0", match != "Exact" { limit = 0 }

        var token: ContinueToken?
        if let c = req.query("continue"), !c.isEmpty {
            token = try Self.decodeContinue(c)
        }
        let nsFilter = t.namespace
        let storage = t.info.storageKey
        let (items, listRV, compacted) = state.withLock { st -> ([(key: String, object: JSONValue)]?, Int64, Int64) in
            var atRV: Int64? = nil
            if let token, token.rv > 0 { atRV = token.rv }
            else if match == "Exact", let r = requestedRV { atRV = r }
            if let atRV {
                return (st.store.list(storage, namespace: nsFilter, at: atRV), atRV, st.store.compactedRV)
            }
            return (st.store.list(storage, namespace: nsFilter), st.store.rv, st.store.compactedRV)
        }
        guard let all = items else {
            if let token {
                let fresh = Self.encodeContinue(rv: -1, start: token.start)
                var e = APIError(code: 410, reason: StatusReason.expired,
                                 message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
                e.status["metadata"] = ["continue": .string(fresh)]
                throw e
            }
            _ = compacted
            throw APIError(code: 410, reason: StatusReason.expired, message: "The resourceVersion for the provided list is too old.")
        }
        var selected = all.filter { entry in
            labels.matches(Self.labels(entry.object)) && fields.matches(entry.object)
        }
        if let token { selected = selected.filter { $0.key > token.start } }
        var page = selected.map { (key: $0.key, object: EventConversion.view($0.object, t.info)) }
        var cont: String?
        var remaining: Int64?
        if limit > 0, selected.count > Int(limit) {
            page = Array(page.prefix(Int(limit)))
            cont = Self.encodeContinue(rv: listRV, start: page.last?.key ?? "")
            if labels.isEmpty && fields.isEmpty { remaining = Int64(selected.count - page.count) }
        }
        let info = t.info
        switch rendering {
        case .table(let v):
            var tbl = table(page.map(\.object), info: info, version: v, listRV: String(listRV), include: req.query("includeObject") ?? "Metadata")
            if let cont { tbl[path: ["metadata", "continue"]] = .string(cont) }
            return .json(200, tbl)
        case .partialMetadata: throw MediaNegotiation.wrongForm(info, askedList: false)
        case .partialMetadataList(let v):
            var meta: JSONObject = ["resourceVersion": .string(String(listRV))]
            if let cont { meta["continue"] = .string(cont) }
            if let remaining { meta["remainingItemCount"] = .int(remaining) }
            return .json(200, ["apiVersion": .string("meta.k8s.io/\(v)"), "kind": "PartialObjectMetadataList", "metadata": .object(meta),
                               "items": .array(page.map { partial($0.object, version: v) })])
        case .object:
            var meta: JSONObject = ["resourceVersion": .string(String(listRV))]
            if let cont { meta["continue"] = .string(cont) } else if info.isCustom { meta["continue"] = "" }
            if let remaining { meta["remainingItemCount"] = .int(remaining) }
            let list: JSONValue = ["apiVersion": .string(info.apiVersion), "kind": .string(info.listKind), "metadata": .object(meta),
                                   "items": .array(page.map { info.isCustom ? present($0.object, info) : Self.stripTypeMeta($0.object) })]
            return .json(200, list)
        }
    }

    static func stripTypeMeta(_ o: JSONValue) -> JSONValue {
        var x = o
        x["kind"] = nil
        x["apiVersion"] = nil
        return x
    }

    /// A resourceVersion from the future: wait up to ~3 s for it, then 504 as kube-apiserver does.
    func waitForResourceVersion(_ wanted: Int64) async throws {
        let deadline = Date().addingTimeInterval(3)
        while true {
            let current = state.withLock { $0.store.rv }
            if current >= wanted { return }
            if Date() >= deadline {
                throw APIError(code: 504, reason: StatusReason.timeout, message: "Timeout: Too large resource version: \(wanted), current: \(current)",
                               details: ["causes": [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]], "retryAfterSeconds": 1],
                               headers: [("Retry-After", "1")])
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    // MARK: Watch

    func watch(_ req: APIRequest, _ t: Target) async throws -> APIResponse {
        try validateListOptions(req, isWatch: true)
        let rendering = try MediaNegotiation.negotiate(req.header("Accept"))
        var (labels, fields) = try selectors(req, t.info)
        if let name = t.name {
            fields.terms.append(.init(field: "metadata.name", value: name, negated: false))
        }
        _ = labels
        let rvParam = req.query("resourceVersion") ?? ""
        let fromRV = try Self.parseInt(rvParam.isEmpty ? nil : rvParam)
        let bookmarks = req.query("allowWatchBookmarks") == "true" || req.query("allowWatchBookmarks") == "1"
        let sendInitial = req.query("sendInitialEvents")
        let timeout = try Self.parseInt(req.query("timeoutSeconds")).map { Double($0) } ?? options.defaultWatchTimeout
        let initialEvents = sendInitial == "true" || (sendInitial == nil && (fromRV == nil || fromRV == 0))

        let channel = WatchChannel(limit: options.watchQueueLimit)
        let info = t.info
        let storage = info.storageKey
        var watcher = Watcher(storage: storage, info: info, namespace: t.namespace, labels: labels, fields: fields, channel: channel)
        switch rendering {
        case .object: break
        case .table(let version):
            // Each event's object is a one-row Table; only the first carries the columnDefinitions.
            let include = req.query("includeObject") ?? "Metadata"
            let first = FirstFlag()
            watcher.render = { [weak self] obj in
                guard let self else { return obj }
                var tbl = self.table([obj], info: info, version: version, listRV: obj[path: ["metadata", "resourceVersion"]]?.stringValue ?? "",
                                     include: include)
                if !first.take() { tbl["columnDefinitions"] = .null }
                return tbl
            }
        case .partialMetadata(let version):
            watcher.render = { [weak self] obj in self?.partial(obj, version: version) ?? obj }
        case .partialMetadataList:
            // kube-apiserver cannot encode an event as a list: it ends the stream at the first one.
            watcher.render = { _ in nil }
        }
        let headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Cache-Control", "no-cache, private"),
                                                        ("Transfer-Encoding", "chunked")]

        let registered: (id: Int, rv: Int64)? = state.withLock { st in
            if let from = fromRV, from > 0, !initialEvents, from < st.store.compactedRV {
                let message = info.resource == "events" && info.group.isEmpty
                    ? "The resourceVersion for the provided watch is too old."
                    : "too old resource version: \(from) (\(st.store.compactedRV + 1))"
                let status: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                         "message": .string(message), "reason": "Expired", "code": 410]
                channel.push(JSONValue.object(["type": "ERROR", "object": status]).serialized(), bypassLimit: true)
                channel.finish()
                return nil
            }
            if initialEvents {
                for entry in st.store.list(storage, namespace: t.namespace) {
                    let e = StoreEvent(rv: 0, storage: storage, key: entry.key, type: .added, object: entry.object, old: nil)
                    if let (type, obj) = ObjectStore.translate(e, for: watcher) {
                        guard let line = ObjectStore.line(type, obj, for: watcher) else {
                            channel.finish()
                            return nil
                        }
                        channel.push(line, bypassLimit: true)
                    }
                }
                if bookmarks {
                    guard let line = Self.bookmarkLine(info, rv: st.store.rv, initialEnd: true, render: watcher.render) else {
                        channel.finish()
                        return nil
                    }
                    channel.push(line, bypassLimit: true)
                }
            } else if let from = fromRV {
                for e in st.store.history where e.rv > from {
                    if let (type, obj) = ObjectStore.translate(e, for: watcher) {
                        guard let line = ObjectStore.line(type, obj, for: watcher) else {
                            channel.finish()
                            return nil
                        }
                        channel.push(line, bypassLimit: true)
                    }
                }
            }
            return (st.store.addWatcher(watcher), st.store.rv)
        }

        if let reg = registered {
            let id = reg.id
            // The channel may close while the store delivers to it (under the state lock), so the
            // watcher is removed from a separate task.
            channel.onClose { [weak self] in
                Task { self?.state.withLock { $0.store.removeWatcher(id) } }
            }
            startWatchTimers(channel: channel, info: info, timeout: timeout, bookmarks: bookmarks, render: watcher.render)
        }
        return APIResponse(status: 200, headers: headers, body: .stream(channel))
    }

    /// A BOOKMARK line; `render` converts it like every other event of the watch (nil: it cannot be encoded).
    static func bookmarkLine(_ info: ResourceInfo, rv: Int64, initialEnd: Bool, render: (@Sendable (JSONValue) -> JSONValue?)?) -> Data? {
        var meta: JSONObject = ["resourceVersion": .string(String(rv))]
        if initialEnd { meta["annotations"] = ["k8s.io/initial-events-end": "true"] }
        var obj: JSONValue = ["kind": .string(info.kind), "apiVersion": .string(info.apiVersion), "metadata": .object(meta)]
        if let render {
            guard let rendered = render(obj) else { return nil }
            obj = rendered
        }
        return JSONValue.object(["type": "BOOKMARK", "object": obj]).serialized()
    }

    /// The watch's timeout and its periodic BOOKMARKs (every `bookmarkInterval`, and one ~2 s before
    /// a long timeout, as kube-apiserver sends).
    func startWatchTimers(channel: WatchChannel, info: ResourceInfo, timeout: Double, bookmarks: Bool,
                          render: (@Sendable (JSONValue) -> JSONValue?)?) {
        let interval = options.bookmarkInterval
        let task = Task { [weak self] in
            let start = Date()
            var nextBookmark = bookmarks ? start.addingTimeInterval(interval) : Date.distantFuture
            var finalBookmarkSent = !(bookmarks && timeout > 15)
            let end = start.addingTimeInterval(timeout)
            while !channel.isClosed {
                let now = Date()
                if now >= end { break }
                if now >= nextBookmark || (!finalBookmarkSent && now >= end.addingTimeInterval(-2)) {
                    if now >= end.addingTimeInterval(-2) { finalBookmarkSent = true }
                    guard let self else { break }
                    let rv = self.state.withLock { $0.store.rv }
                    guard let line = Self.bookmarkLine(info, rv: rv, initialEnd: false, render: render) else { break }
                    channel.push(line)
                    nextBookmark = now.addingTimeInterval(interval)
                }
                var wake = min(end, nextBookmark)
                if !finalBookmarkSent { wake = min(wake, end.addingTimeInterval(-2)) }
                let wait = max(0.01, min(wake.timeIntervalSinceNow, 0.25))
                try? await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
            }
            channel.finish()
        }
        channel.onClose { task.cancel() }
    }

    // MARK: Table and metadata-only views

    /// True once: the first event of a Table watch carries the column definitions.
    final class FirstFlag: Sendable {
        private let done = Mutex(false)
        func take() -> Bool { done.withLock { d in defer { d = true }; return !d } }
    }

    func partial(_ obj: JSONValue, version: String) -> JSONValue {
        ["apiVersion": .string("meta.k8s.io/\(version)"), "kind": "PartialObjectMetadata", "metadata": obj["metadata"] ?? [:]]
    }

    static let nameColumnDescription = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    static let createdDescription = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"

    func table(_ objects: [JSONValue], info: ResourceInfo, version: String, listRV: String, include: String) -> JSONValue {
        let now = Date()
        func rowObject(_ obj: JSONValue) -> JSONValue {
            switch include {
            case "None": return .null
            case "Object": return present(obj, info)
            default: return partial(obj, version: version)
            }
        }
        func result(_ columns: [JSONValue], _ rows: [JSONValue]) -> JSONValue {
            ["apiVersion": .string("meta.k8s.io/\(version)"), "kind": "Table", "metadata": ["resourceVersion": .string(listRV)],
             "columnDefinitions": .array(columns), "rows": .array(rows)]
        }
        if let columns = BuiltinTables.columnDefinitions(info) {
            let rows: [JSONValue] = objects.map { obj in
                let row = BuiltinTables.row(obj, info: info, now: now) ?? BuiltinTables.Row(cells: [])
                var r: JSONObject = ["cells": .array(row.cells), "object": rowObject(obj)]
                if let conditions = row.conditions { r["conditions"] = conditions }
                return .object(r)
            }
            return result(columns, rows)
        }
        var columns: [JSONValue] = [["name": "Name", "type": "string", "format": "name", "description": .string(Self.nameColumnDescription), "priority": 0]]
        var cellFns: [(JSONValue) -> JSONValue] = [{ $0[path: ["metadata", "name"]] ?? .null }]
        if info.isCustom {
            let printer = info.printerColumns.isEmpty
                ? [PrinterColumn(name: "Age", type: "date", format: "", description: "", priority: 0, jsonPath: ".metadata.creationTimestamp")]
                : info.printerColumns
            for c in printer {
                let desc = c.description.isEmpty ? "Custom resource definition column (in JSONPath format): \(c.jsonPath)" : c.description
                columns.append(["name": .string(c.name), "type": .string(c.type), "format": .string(c.format), "description": .string(desc),
                                "priority": .int(Int64(c.priority))])
                cellFns.append { obj in
                    let v = SimpleJSONPath.evaluate(c.jsonPath, on: obj)
                    if c.type == "date", let s = v?.stringValue { return .string(BuiltinTables.since(s, now: now)) }
                    return v ?? .null
                }
            }
        } else {
            // Kinds without a printer of their own: kube-apiserver's default table.
            columns.append(["name": "Created At", "type": "date", "format": "", "description": .string(Self.createdDescription), "priority": 0])
            cellFns.append { $0[path: ["metadata", "creationTimestamp"]] ?? .null }
        }
        return result(columns, objects.map { obj in ["cells": .array(cellFns.map { $0(obj) }), "object": rowObject(obj)] })
    }

    static func selectorString(_ sel: JSONValue?) -> String {
        guard let sel else { return "<none>" }
        var parts: [String] = []
        for (k, v) in (sel["matchLabels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            parts.append("\(k)=\(v.stringValue ?? "")")
        }
        for e in sel["matchExpressions"]?.arrayValue ?? [] {
            let key = e["key"]?.stringValue ?? ""
            let values = e["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
            switch e["operator"]?.stringValue ?? "" {
            case "In": parts.append("\(key) in (\(values.joined(separator: ",")))")
            case "NotIn": parts.append("\(key) notin (\(values.joined(separator: ",")))")
            case "Exists": parts.append(key)
            case "DoesNotExist": parts.append("!\(key)")
            default: break
            }
        }
        return parts.joined(separator: ",")
    }
}

/// The JSONPath subset printer columns use: `.a.b`, `.a[0].b`, `.a[?(@.type=="Ready")].status`.
enum SimpleJSONPath {
    static func evaluate(_ path: String, on root: JSONValue) -> JSONValue? {
        var p = Substring(path.trimmingCharacters(in: .whitespaces))
        if p.hasPrefix("{") && p.hasSuffix("}") { p = p.dropFirst().dropLast() }
        if p.hasPrefix("$") { p = p.dropFirst() }
        var current: JSONValue? = root
        while !p.isEmpty, let cur = current {
            if p.hasPrefix(".") {
                p = p.dropFirst()
                let end = p.firstIndex { $0 == "." || $0 == "[" } ?? p.endIndex
                let key = String(p[..<end])
                p = p[end...]
                current = key.isEmpty ? cur : cur[key]
            } else if p.hasPrefix("[") {
                guard let close = p.firstIndex(of: "]") else { return nil }
                let inner = p[p.index(after: p.startIndex)..<close]
                p = p[p.index(after: close)...]
                if let i = Int(inner) {
                    current = cur[i]
                } else if inner.hasPrefix("?(@.") {
                    // [?(@.key=="value")]
                    let cond = inner.dropFirst(4).dropLast(inner.hasSuffix(")") ? 1 : 0)
                    let parts = cond.components(separatedBy: "==")
                    guard parts.count == 2 else { return nil }
                    let key = parts[0].trimmingCharacters(in: .whitespaces)
                    let value = parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                    current = cur.arrayValue?.first { $0[key]?.stringValue == value }
                } else {
                    return nil
                }
            } else {
                return nil
            }
        }
        return current
    }
}
