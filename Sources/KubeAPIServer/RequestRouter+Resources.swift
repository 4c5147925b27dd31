import Foundation
import KubeAPIMachinery
import KubeJSON

extension RequestRouter {
    /// `[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]` under a group version.
    func resourceRequest(_ request: APIRequest, group: String, version: String, rest: [String], labels: inout RequestLabels) async throws(APIError) -> APIReply {
        var rest = rest
        var watchPath = false
        if rest.first == "watch" {
            watchPath = true
            rest.removeFirst()
        }
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces",
            let candidate = await store.resource(group: group, version: version, resource: rest[2]), candidate.namespaced
        {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        guard let resourceName = rest.first, rest.count <= 3,
            let info = await store.resource(group: group, version: version, resource: resourceName)
        else { throw notFoundPath(request.path) }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2] : nil
        labels.group = group
        labels.resource = info.resource
        labels.subresource = subresource ?? ""
        labels.namespace = namespace ?? ""
        labels.name = name ?? ""
        if info.namespaced == false && namespace != nil { throw notFoundPath(request.path) }
        if let subresource {
            let allowed = (subresource == "status" && info.hasStatus) || (subresource == "finalize" && info.key == BuiltinResources.namespaceKey)
                || (subresource == "token" && info.key == BuiltinResources.serviceAccountKey)
            guard allowed else { throw notFoundPath(request.path) }
        }
        let latency = faults.latencyMilliseconds + faults.chaosLatencyMilliseconds()
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }  // injected latency
        let query = request.query
        let dryRun = query["dryRun"] == "All"
        let manager = query["fieldManager"].flatMap { $0.isEmpty ? nil : $0 }
            ?? String((request.header("User-Agent") ?? "unknown").split(separator: "/").first ?? "unknown")
        let watch = watchPath || query["watch"] == "true" || query["watch"] == "1"
        labels.verb = Self.verb(request.method, named: name != nil, watch: watch)
        try await authorize(
            resourceAttributes(
                request, verb: labels.verb, group: group, version: version, resource: info.resource, subresource: subresource,
                namespace: namespace, name: name))
        if info.createOnly || subresource == "token" {
            return try await reviewRequest(request, info, version: version, namespace: namespace, name: name)
        }
        if let failure = faults.takeFailure(
            FaultRule.Request(
                verb: watch ? "watch" : labels.verb, resource: info.resource, subresource: subresource ?? "",
                namespace: namespace ?? "", name: name ?? ""))
        {
            throw failure
        }
        switch request.method {
        case "GET":
            if watch {
                labels.verb = "watch"
                return try await watchReply(request, info, version: version, namespace: namespace, name: name)
            }
            if let name {
                labels.verb = "get"
                let object = try await store.get(info, namespace: namespace, name: name)
                return render([object], request, info, version: version, single: true, revision: nil, continueToken: nil, remaining: nil)
            }
            labels.verb = "list"
            let result = try await store.list(
                info, filter: try filter(query, namespace: namespace), limit: query["limit"].flatMap { Int($0) },
                continueToken: query["continue"], resourceVersion: query["resourceVersion"],
                resourceVersionMatch: query["resourceVersionMatch"])
            return render(result.items, request, info, version: version, single: false, revision: result.revision, continueToken: result.continueToken, remaining: result.remaining)
        case "POST":
            labels.verb = "create"
            guard name == nil else { throw APIError.methodNotAllowed("the server does not allow this method on the requested resource") }
            let body = try decodeBody(request)
            try await escalationCheck(request, info, namespace: namespace)?.check(body)
            let (_, warnings) = try await prevalidate(body, info, version: version, query: query)
            let (storeInfo, storeVersion) = await storage(info, version)
            let result = try await store.create(storeInfo, version: storeVersion, namespace: namespace, info.toStorage(body), options: WriteOptions(dryRun: dryRun, manager: manager))
            try await durable(result.ticket)
            labels.name = result.object.name ?? ""
            return writeReply(201, result, info, version, headers: warnings)
        case "PUT":
            labels.verb = "update"
            guard let name else { throw APIError.methodNotAllowed("the server does not allow this method on the requested resource") }
            let body = try decodeBody(request)
            try await escalationCheck(request, info, namespace: namespace)?.check(body)
            let (_, warnings) = try await prevalidate(body, info, version: version, query: query)
            let (storeInfo, storeVersion) = await storage(info, version)
            let result = try await store.update(
                storeInfo, version: storeVersion, namespace: namespace, name: name, subresource: subresource,
                options: WriteOptions(dryRun: dryRun, manager: manager)) { _ throws(APIError) in info.toStorage(body) }
            try await durable(result.ticket)
            return writeReply(result.created ? 201 : 200, result, info, version, headers: warnings)
        case "PATCH":
            labels.verb = "patch"
            guard let name else { throw APIError.methodNotAllowed("the server does not allow this method on the requested resource") }
            return try await patch(request, info, version: version, namespace: namespace, name: name, subresource: subresource, dryRun: dryRun, manager: manager)
        case "DELETE":
            var options = ObjectStore.DeleteOptions(dryRun: dryRun)
            let body = request.body.isEmpty ? JSONValue.emptyObject : ((try? JSONValue.parse(request.body)) ?? .emptyObject)
            options.propagationPolicy = query["propagationPolicy"] ?? body["propagationPolicy"].stringValue
            if options.propagationPolicy == nil, let orphan = body["orphanDependents"].boolValue ?? query["orphanDependents"].map({ $0 == "true" }) {
                options.propagationPolicy = orphan ? "Orphan" : "Background"
            }
            options.preconditionUID = body["preconditions"]["uid"].stringValue
            options.preconditionResourceVersion = body["preconditions"]["resourceVersion"].stringValue
            if (body["dryRun"].arrayValue ?? []).contains("All") { options.dryRun = true }
            if let name {
                labels.verb = "delete"
                let result = try await store.delete(info, namespace: namespace, name: name, options: options)
                try await durable(result.ticket)
                return writeReply(200, result, info, version)
            }
            labels.verb = "deletecollection"
            let (items, ticket) = try await store.deleteCollection(info, filter: try filter(query, namespace: namespace), options: options)
            try await durable(ticket)
            return .json(200, ["kind": .string(info.listKind), "apiVersion": .string(info.apiVersion(version)), "metadata": .emptyObject, "items": .array(items.map { versioned($0, info, version) })])
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    /// The resource and version objects of `info` are stored as (core Events for events.k8s.io).
    func storage(_ info: ResourceInfo, _ version: String) async -> (ResourceInfo, String) {
        guard info.isEventsV1, let core = await store.resource(group: "", version: "v1", resource: "events") else { return (info, version) }
        return (core, "v1")
    }

    static func verb(_ method: String, named: Bool, watch: Bool) -> String {
        switch method {
        case "GET": return watch ? "watch" : (named ? "get" : "list")
        case "POST": return "create"
        case "PUT": return "update"
        case "PATCH": return "patch"
        case "DELETE": return named ? "delete" : "deletecollection"
        default: return method.lowercased()
        }
    }

    func durable(_ ticket: UInt64) async throws(APIError) {
        do { try await log.waitDurable(ticket) } catch { throw APIError.internalError("\(error)") }
    }

    /// The object as served at `version` (no copy when it already is).
    func versioned(_ object: JSONValue, _ info: ResourceInfo, _ version: String) -> JSONValue {
        var o = info.fromStorage(object)
        let apiVersion = info.apiVersion(version)
        if o["apiVersion"].stringValue != apiVersion { o["apiVersion"] = .string(apiVersion) }
        if o["kind"].stringValue != info.kind { o["kind"] = .string(info.kind) }
        return o
    }

    /// Whether a stored object is served unchanged at `version` (so its stored JSON can be sent).
    func servedAsStored(_ object: JSONValue, _ info: ResourceInfo, _ version: String) -> Bool {
        !info.isEventsV1 && object["apiVersion"].stringValue == info.apiVersion(version)
            && object["kind"].stringValue == info.kind
    }

    /// The answer to a write: the object at `version`, sent as the commit serialized it when
    /// it is served unchanged.
    func writeReply(_ status: Int, _ result: WriteResult, _ info: ResourceInfo, _ version: String, headers: [(String, String)] = []) -> APIReply {
        if let encoded = result.encoded, servedAsStored(result.object, info, version) {
            return .full(status: status, headers: [("Content-Type", "application/json")] + headers, body: encoded)
        }
        return .json(status, versioned(result.object, info, version), headers: headers)
    }

    func decodeBody(_ request: APIRequest) throws(APIError) -> JSONValue {
        let type = (request.header("Content-Type") ?? "application/json").lowercased()
        if type.hasPrefix("application/vnd.kubernetes.protobuf") {
            do { return try ProtobufTranscoder.decodeBody(request.body) } catch {
                throw APIError.badRequest("the body of the request is not valid protobuf: \(error.message)")
            }
        }
        if type.contains("yaml") {
            do { return try YAML.parse(String(decoding: request.body, as: UTF8.self)) } catch {
                throw APIError.badRequest("the body of the request is not valid YAML: \(error)")
            }
        }
        do { return try JSONValue.parse(request.body) } catch {
            throw APIError.badRequest("the body of the request is not valid JSON: \(error.message)")
        }
    }

    /// fieldValidation: for custom resources, unknown fields are an error (Strict), a warning
    /// (Warn), or silently dropped (Ignore). Returns the warning headers.
    func prevalidate(_ body: JSONValue, _ info: ResourceInfo, version: String, query: [String: String]) async throws(APIError) -> (JSONValue, [(String, String)]) {
        let mode = query["fieldValidation"] ?? "Warn"
        guard mode != "Ignore", info.isCustom, let schema = await store.schema(info, version: version) else { return (body, []) }
        let unknown = schema.unknownFields(body)
        guard !unknown.isEmpty else { return (body, []) }
        if mode == "Strict" {
            let list = unknown.map { "unknown field \"\($0)\"" }
            let text = list.count == 1 ? list[0] : "[" + list.joined(separator: ", ") + "]"
            throw APIError.badRequest("\(info.kind) in version \"\(version)\" cannot be handled as a \(info.kind): strict decoding error: \(text)")
        }
        return (body, unknown.map { ("Warning", "299 - \"unknown field \\\"\($0)\\\"\"") })
    }

    func filter(_ query: [String: String], namespace: String?) throws(APIError) -> ObjectFilter {
        var filter = ObjectFilter(namespace: namespace)
        if let text = query["labelSelector"], !text.isEmpty {
            do {
                let selector = try LabelSelector(parsing: text)
                filter.labels = { selector.matches($0) }
            } catch {
                throw APIError.badRequest("unable to parse requirement: \(error.message)")
            }
        }
        if let text = query["fieldSelector"], !text.isEmpty {
            do {
                let selector = try FieldSelector(parsing: text)
                filter.fields = { selector.matches($0) }
            } catch {
                throw APIError.badRequest("invalid field selector: \(error.message)")
            }
        }
        return filter
    }

    // MARK: Rendering

    enum Representation { case object, table, partialMetadata }

    func representation(_ request: APIRequest) -> Representation {
        let accept = request.header("Accept") ?? ""
        // The first acceptable entry wins (clients list fallbacks after).
        for entry in accept.split(separator: ",") {
            let e = entry.lowercased().replacingOccurrences(of: " ", with: "")
            if e.contains("as=table") && e.contains("g=meta.k8s.io") { return .table }
            if e.contains("as=partialobjectmetadata") { return .partialMetadata }
            if e.hasPrefix("application/json") || e.hasPrefix("*/*") { return .object }
        }
        return .object
    }

    func columns(_ info: ResourceInfo, version: String) -> [JSONValue] { info.printerColumns[version] ?? [] }

    func render(_ objects: [JSONValue], _ request: APIRequest, _ info: ResourceInfo, version: String, single: Bool, revision: Int64?, continueToken: String?, remaining: Int64?) -> APIReply {
        switch representation(request) {
        case .table:
            let table = Machinery.table(
                objects: objects.map { versioned($0, info, version) }, info: info, version: version,
                includeObject: request.query["includeObject"] ?? "Metadata",
                resourceVersion: revision.map(String.init) ?? (objects.first?.resourceVersion ?? ""), continueToken: continueToken)
            return .json(200, table)
        case .partialMetadata:
            let partial = objects.map { o -> JSONValue in ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]] }
            if single, let first = partial.first { return .json(200, first) }
            var meta: JSONValue = ["resourceVersion": .string(String(revision ?? 0))]
            if let continueToken { meta["continue"] = .string(continueToken) }
            return .json(200, ["kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": .array(partial)])
        case .object:
            if single, let first = objects.first { return .json(200, versioned(first, info, version)) }
            var meta: JSONValue = ["resourceVersion": .string(String(revision ?? 0))]
            if let continueToken { meta["continue"] = .string(continueToken) }
            if let remaining { meta["remainingItemCount"] = .int(remaining) }
            var body: [UInt8] = []
            body.reserveCapacity(64 + objects.count * 256)
            // Written piecewise so a large list is not built as one more JSONValue.
            body += Array("{\"apiVersion\":".utf8)
            JSONValue.string(info.apiVersion(version)).write(to: &body)
            body += Array(",\"items\":[".utf8)
            for (i, o) in objects.enumerated() {
                if i > 0 { body.append(0x2C) }
                versioned(o, info, version).write(to: &body)
            }
            body += Array("],\"kind\":".utf8)
            JSONValue.string(info.listKind).write(to: &body)
            body += Array(",\"metadata\":".utf8)
            meta.write(to: &body)
            body.append(0x7D)
            return .full(status: 200, headers: [("Content-Type", "application/json")], body: body)
        }
    }

    // MARK: Watch

    func watchReply(_ request: APIRequest, _ info: ResourceInfo, version: String, namespace: String?, name: String?) async throws(APIError) -> APIReply {
        let query = request.query
        var filter = try filter(query, namespace: namespace)
        if let name {
            let previous = filter.fields
            filter.fields = { o in o.name == name && (previous?(o) ?? true) }
        }
        let asTable = representation(request) == .table
        let includeObject = query["includeObject"] ?? "Metadata"
        // A typed client's protobuf watch of a built-in kind: length-prefixed WatchEvents.
        let protobuf = ReplyMedia(accept: request.header("Accept")).prefersProtobuf
            && ProtobufTranscoder.rootMessage(apiVersion: info.apiVersion(version), kind: info.kind) != nil
        let render: @Sendable (StoredEvent) -> [UInt8] = { [self] event in
            if protobuf {
                var object = event.object
                switch event.type {
                case "ERROR": break
                case "BOOKMARK":
                    object["kind"] = .string(info.kind)
                    object["apiVersion"] = .string(info.apiVersion(version))
                default: object = versioned(object, info, version)
                }
                do {
                    return try ProtobufTranscoder.watchFrame(type: event.type, object: object)
                } catch {
                    // A stored object the tables cannot write: an ERROR event saying so (a
                    // Status of plain strings always encodes), so the client sees why.
                    let status = APIError(code: 500, reason: "InternalError", message: "cannot encode \(info.kind) as protobuf: \((error as? ProtobufError)?.message ?? "\(error)")").status
                    do { return try ProtobufTranscoder.watchFrame(type: "ERROR", object: status) } catch { return [] }
                }
            }
            if !asTable, let encoded = event.encodedObject, event.type != "BOOKMARK", event.type != "ERROR",
                servedAsStored(event.object, info, version)
            {
                // The commit's bytes, shared by every watcher: `{"object":...,"type":...}`.
                var line: [UInt8] = []
                line.reserveCapacity(encoded.count + 32)
                line.append(contentsOf: #"{"object":"#.utf8)
                line.append(contentsOf: encoded)
                line.append(contentsOf: #","type":"#.utf8)
                JSONValue.string(event.type).write(to: &line)
                line.append(contentsOf: "}\n".utf8)
                return line
            }
            var object = event.object
            if event.type != "BOOKMARK" && event.type != "ERROR" {
                object = versioned(object, info, version)
                if asTable {
                    object = Machinery.table(objects: [object], info: info, version: version, includeObject: includeObject, resourceVersion: object.resourceVersion ?? "", continueToken: nil)
                }
            } else if event.type == "BOOKMARK" {
                object["kind"] = .string(info.kind)
                object["apiVersion"] = .string(info.apiVersion(version))
            }
            var line = JSONValue.object(["type": .string(event.type), "object": object]).serializedBytes()
            line.append(0x0A)
            return line
        }
        let timeout = query["timeoutSeconds"].flatMap(Double.init)
        let contentType = protobuf ? ReplyMedia.protobufType + ";stream=watch" : "application/json"
        if faults.takeWatchGone() {
            let status = APIError.gone("too old resource version: injected fault").status
            return .watch(WatchReply(firstChunk: render(StoredEvent(type: "ERROR", resourceKey: info.key, object: status, old: nil, revision: 0)), render: render, timeout: timeout, contentType: contentType))
        }
        var from: Int64?
        if let rv = query["resourceVersion"], !rv.isEmpty, rv != "0" {
            guard let parsed = Int64(rv) else { throw APIError.badRequest("invalid resource version \"\(rv)\"") }
            from = parsed
        }
        do {
            let (id, events, finish) = try await store.watch(info, filter: filter, from: from, bookmarks: query["allowWatchBookmarks"] == "true")
            return .watch(WatchReply(id: id, events: events, finish: finish, render: render, timeout: timeout, contentType: contentType))
        } catch {
            guard error.code == 410 else { throw error }
            return .watch(WatchReply(firstChunk: render(StoredEvent(type: "ERROR", resourceKey: info.key, object: error.status, old: nil, revision: 0)), render: render, timeout: timeout, contentType: contentType))
        }
    }

    // MARK: Patch

    func patch(_ request: APIRequest, _ info: ResourceInfo, version: String, namespace: String?, name: String, subresource: String?, dryRun: Bool, manager: String) async throws(APIError) -> APIReply {
        let type = (request.header("Content-Type") ?? "").lowercased().split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let query = request.query
        let apiVersion = info.apiVersion(version)
        let patchBody: JSONValue
        do {
            if type == "application/apply-patch+yaml" {
                patchBody = try YAML.parse(String(decoding: request.body, as: UTF8.self))
            } else {
                patchBody = try JSONValue.parse(request.body)
            }
        } catch {
            throw APIError.badRequest("error decoding patch: \(error)")
        }
        var transform: @Sendable (JSONValue?) throws(APIError) -> JSONValue
        var allowCreate = false
        switch type {
        case "application/json-patch+json":
            transform = { current throws(APIError) in try Machinery.jsonPatch(patchBody, current ?? .emptyObject) }
        case "application/merge-patch+json":
            guard case .object = patchBody else { throw APIError.badRequest("a merge patch must be a JSON object") }
            transform = { current in Machinery.mergePatch(patchBody, current ?? .emptyObject) }
        case "application/strategic-merge-patch+json":
            guard !info.isCustom else {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            }
            transform = { current throws(APIError) in
                try Machinery.strategicMergePatch(patchBody, current ?? .emptyObject, apiVersion: apiVersion, kind: info.kind)
            }
        case "application/apply-patch+yaml":
            guard let applier = query["fieldManager"], !applier.isEmpty else {
                throw APIError.badRequest("PATCH requests with apply patch type require fieldManager")
            }
            guard case .object = patchBody else { throw APIError.badRequest("the apply configuration must be an object") }
            let force = query["force"] == "true"
            allowCreate = subresource == nil
            transform = { current throws(APIError) in
                var applied = try Machinery.serverSideApply(patchBody, to: current, manager: applier, force: force, info: info, name: name)
                if current == nil { applied["metadata"].removeValue(forKey: "resourceVersion") }
                return applied
            }
        default:
            throw APIError.unsupportedMediaType(type)
        }
        if info.isEventsV1 {
            let inner = transform
            transform = { current throws(APIError) in
                info.toStorage(try inner(current.map { info.fromStorage($0) }))
            }
        }
        if let escalation = await escalationCheck(request, info, namespace: namespace) {
            let inner = transform
            transform = { current throws(APIError) in
                let patched = try inner(current)
                try escalation.check(patched)
                return patched
            }
        }
        var warnings: [(String, String)] = []
        if case .object = patchBody, type != "application/json-patch+json" {
            warnings = try await prevalidate(patchBody, info, version: version, query: query).1
        }
        let (storeInfo, storeVersion) = await storage(info, version)
        let result = try await store.update(
            storeInfo, version: storeVersion, namespace: namespace, name: name, subresource: subresource,
            options: WriteOptions(dryRun: dryRun, manager: type == "application/apply-patch+yaml" ? nil : manager),
            allowCreate: allowCreate, transform: transform)
        try await durable(result.ticket)
        return writeReply(result.created ? 201 : 200, result, info, version, headers: warnings)
    }
}
