import Foundation
import KubeAPIMachinery
import KubeJSON

/// Options every write takes.
struct WriteOptions: Sendable {
    var dryRun = false
    /// Records managedFields for this manager (nil: the write set them itself, as apply does).
    var manager: String?
}

struct WriteResult: Sendable {
    var object: JSONValue
    var ticket: UInt64
    var created = false
    /// `object` as JSON when a commit made it (not for dry runs and unchanged objects).
    var encoded: [UInt8]? = nil

    init(object: JSONValue, ticket: UInt64, created: Bool = false) {
        self.object = object
        self.ticket = ticket
        self.created = created
    }

    init(_ committed: CommittedObject, ticket: UInt64, created: Bool = false) {
        self.init(object: committed.object, ticket: ticket, created: created)
        encoded = committed.encoded
    }
}

/// An object as a commit stored it, and as JSON.
struct CommittedObject: Sendable {
    var object: JSONValue
    var encoded: [UInt8]
}

extension ObjectStore {
    static func timestamp(_ date: Date = Date()) -> String {
        RFC3339.format(date)
    }

    static let nameCharacters = Array("bcdfghjklmnpqrstvwxz2456789")

    /// Makes sure namespace `ns` exists and takes new content.
    func checkNamespace(_ ns: String, _ info: ResourceInfo, name: String) throws(APIError) {
        guard let namespace = tables[BuiltinResources.namespaceKey]?[""]?[ns] else {
            throw APIError.notFound("namespaces", group: "", name: ns)
        }
        if !namespace["metadata"]["deletionTimestamp"].isNull {
            var e = APIError.forbidden(
                info.resource, group: info.group, name: name,
                "unable to create new content in namespace \(ns) because it is being terminated")
            e.details?["causes"] = [["reason": "NamespaceTerminating", "message": .string("namespace \(ns) is being terminated"), "field": "metadata.namespace"]]
            throw e
        }
    }

    // MARK: Create

    func create(_ info: ResourceInfo, version: String, namespace: String?, _ body: JSONValue, options: WriteOptions) throws(APIError) -> WriteResult {
        guard case .object = body else { throw APIError.badRequest("the body of the request is not a JSON object") }
        var object = body
        try checkTypeMeta(object, info, version: version)
        object["apiVersion"] = .string(info.apiVersion(version))
        object["kind"] = .string(info.kind)
        if case .object = object["metadata"] {} else { object["metadata"] = .emptyObject }
        if info.namespaced {
            let ns = namespace ?? object.namespace ?? ""
            if let bodyNS = object.namespace, !bodyNS.isEmpty, bodyNS != ns {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            object["metadata"]["namespace"] = .string(ns)
        } else {
            object["metadata"].removeValue(forKey: "namespace")
        }
        if let rv = object.resourceVersion, !rv.isEmpty {
            throw APIError.badRequest("resourceVersion should not be set on objects to be created")
        }
        try MetadataValidation.check(object, info)
        var name = object.name ?? ""
        if name.isEmpty, let prefix = object["metadata"]["generateName"].stringValue, !prefix.isEmpty {
            for _ in 0..<8 {
                let suffix = String((0..<5).map { _ in Self.nameCharacters.randomElement()! })
                let candidate = String(prefix.prefix(info.nameIsLabel ? 58 : 248)) + suffix
                if tables[info.key]?[object.namespace ?? ""]?[candidate] == nil {
                    name = candidate
                    break
                }
            }
            object["metadata"]["name"] = .string(name)
        }
        var causes = validateName(name, info)
        if info.namespaced, let ns = object.namespace, ns.isEmpty {
            causes.append(.init(reason: "FieldValueRequired", field: "metadata.namespace", message: "Required value"))
        }
        if !causes.isEmpty { throw APIError.invalid(kind: info.kind, group: info.group, name: name, causes) }
        if info.namespaced { try checkNamespace(object.namespace ?? "", info, name: name) }
        if tables[info.key]?[object.namespace ?? ""]?[name] != nil {
            throw APIError.alreadyExists(info.resource, group: info.group, name: name)
        }
        var meta = object["metadata"]
        meta["uid"] = .string(UUID().uuidString.lowercased())
        meta["creationTimestamp"] = .string(Self.timestamp())
        meta["generation"] = 1
        meta.removeValue(forKey: "deletionTimestamp")
        meta.removeValue(forKey: "deletionGracePeriodSeconds")
        meta.removeValue(forKey: "selfLink")
        object["metadata"] = meta
        if info.hasStatus { object.removeValue(forKey: "status") }
        try prepareKindSpecific(&object, info, version: version, old: nil)
        if let manager = options.manager {
            object = Machinery.recordUpdate(old: nil, new: object, manager: manager, subresource: nil)
        }
        if options.dryRun { return WriteResult(object: object, ticket: 0, created: true) }
        let stored = commit("ADDED", info, object, old: nil)
        runReactions()
        return WriteResult(stored, ticket: lastTicket, created: true)
    }

    func checkTypeMeta(_ object: JSONValue, _ info: ResourceInfo, version: String) throws(APIError) {
        if let kind = object["kind"].stringValue, !kind.isEmpty, kind != info.kind {
            throw APIError.badRequest("the API version in the data (\(object["apiVersion"].stringValue ?? "")) does not match the expected API version (\(info.apiVersion(version)))" + (kind != info.kind ? " or kind \(kind) does not match \(info.kind)" : ""))
        }
        if let apiVersion = object["apiVersion"].stringValue, !apiVersion.isEmpty {
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            if group != info.group {
                throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(info.apiVersion(version)))")
            }
        }
    }

    /// DNS-1123 subdomain (or label, for namespaces) names, as kube words the errors.
    func validateName(_ name: String, _ info: ResourceInfo) -> [APIError.Cause] {
        if name.isEmpty {
            return [.init(reason: "FieldValueRequired", field: "metadata.name", message: "Required value: name or generateName is required")]
        }
        if info.nameIsPathSegment {
            let bad = name == "." || name == ".." ? "may not be '\(name)'" : (name.contains("/") ? "may not contain '/'" : (name.contains("%") ? "may not contain '%'" : nil))
            return bad.map { [.init(reason: "FieldValueInvalid", field: "metadata.name", message: "Invalid value: \"\(name)\": \($0)")] } ?? []
        }
        let limit = info.nameIsLabel ? 63 : 253
        var problems: [String] = []
        if name.utf8.count > limit { problems.append("must be no more than \(limit) characters") }
        let label = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
        if info.nameIsLabel {
            if !Self.isLabel(Substring(name)) {
                problems.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '\(label)')")
            }
        } else if !name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(Self.isLabel) {
            problems.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '\(label)(\\.\(label))*')")
        }
        return problems.map {
            .init(reason: "FieldValueInvalid", field: "metadata.name", message: "Invalid value: \"\(name)\": \($0)")
        }
    }

    static func isLabel(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, let last = s.utf8.last else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return alnum(first) && alnum(last) && s.utf8.allSatisfy { alnum($0) || $0 == 0x2D }
    }

    /// Defaults and rules that belong to one kind: namespaces, CRDs, custom resources.
    func prepareKindSpecific(_ object: inout JSONValue, _ info: ResourceInfo, version: String, old: JSONValue?) throws(APIError) {
        switch info.key {
        case BuiltinResources.namespaceKey:
            if old == nil {
                object["spec"] = ["finalizers": ["kubernetes"]]
                object["status"] = ["phase": "Active"]
            }
            if object["metadata"]["labels"]["kubernetes.io/metadata.name"].stringValue != object.name {
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = .string(object.name ?? "")
            }
        case BuiltinResources.crdKey:
            try validateCRD(object)
            if old == nil {
                var finalizers = object["metadata"]["finalizers"].arrayValue ?? []
                if !finalizers.contains("customresourcecleanup.apiextensions.k8s.io") {
                    finalizers.append("customresourcecleanup.apiextensions.k8s.io")
                }
                object["metadata"]["finalizers"] = .array(finalizers)
            }
            object["status"] = crdStatus(object, old: old)
        case "/secrets":
            // stringData is write-only: merged into data (base64) as kube does.
            if case .object(let strings) = object["stringData"] {
                for (key, value) in strings {
                    object["data"][key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
                }
            }
            object.removeValue(forKey: "stringData")
            var causes: [APIError.Cause] = []
            for (key, value) in object["data"].objectValue ?? [:] {
                if let text = value.stringValue, Data(base64Encoded: text) == nil {
                    causes.append(.init(reason: "FieldValueInvalid", field: "data[\(key)]", message: "Invalid value: \"<secret contents redacted>\": illegal base64 data"))
                }
            }
            if !causes.isEmpty { throw APIError.invalid(kind: info.kind, group: info.group, name: object.name ?? "", causes) }
            if object["type"].stringValue?.isEmpty ?? true { object["type"] = "Opaque" }
        default:
            if info.isCustom {
                if old == nil, let crdName = info.crdName,
                    let crd = tables[BuiltinResources.crdKey]?[""]?[crdName], !crd["metadata"]["deletionTimestamp"].isNull
                {
                    throw APIError.methodNotAllowed("create not allowed while custom resource definition is terminating")
                }
                try validateCustomResource(&object, info, version: version, old: old)
            }
        }
    }

    func crdStatus(_ crd: JSONValue, old: JSONValue?) -> JSONValue {
        let now = Self.timestamp()
        var status = crd["status"].isNull ? (old?["status"] ?? .emptyObject) : crd["status"]
        status["acceptedNames"] = crd["spec"]["names"]
        if status["acceptedNames"]["singular"].isNull {
            status["acceptedNames"]["singular"] = .string((crd["spec"]["names"]["kind"].stringValue ?? "").lowercased())
        }
        if status["acceptedNames"]["listKind"].isNull {
            status["acceptedNames"]["listKind"] = .string((crd["spec"]["names"]["kind"].stringValue ?? "") + "List")
        }
        var conditions = (status["conditions"].arrayValue ?? []).filter {
            $0["type"] != "NamesAccepted" && $0["type"] != "Established"
        }
        let previous = old?["status"]["conditions"].arrayValue ?? []
        func time(_ type: String) -> JSONValue {
            previous.first { $0["type"].stringValue == type }?["lastTransitionTime"] ?? .string(now)
        }
        conditions.append([
            "type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
            "message": "no conflicts found", "lastTransitionTime": time("NamesAccepted"),
        ])
        conditions.append([
            "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted", "lastTransitionTime": time("Established"),
        ])
        if !crd["metadata"]["deletionTimestamp"].isNull {
            conditions.removeAll { $0["type"] == "Terminating" }
            conditions.append([
                "type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
                "message": "CustomResource deletion is in progress", "lastTransitionTime": .string(now),
            ])
        }
        status["conditions"] = .array(conditions)
        var stored = (status["storedVersions"].arrayValue ?? [])
        for v in crd["spec"]["versions"].arrayValue ?? [] where v["storage"].boolValue == true {
            if !stored.contains(v["name"]) { stored.append(v["name"]) }
        }
        status["storedVersions"] = .array(stored)
        return status
    }

    func validateCRD(_ crd: JSONValue) throws(APIError) {
        let name = crd.name ?? ""
        let spec = crd["spec"]
        var causes: [APIError.Cause] = []
        func required(_ field: String) { causes.append(.init(reason: "FieldValueRequired", field: field, message: "Required value")) }
        let group = spec["group"].stringValue ?? ""
        let plural = spec["names"]["plural"].stringValue ?? ""
        if group.isEmpty {
            required("spec.group")
        } else if !group.contains(".") {
            causes.append(.init(reason: "FieldValueInvalid", field: "spec.group", message: "Invalid value: \"\(group)\": should be a domain with at least one dot"))
        } else if group.hasSuffix(".k8s.io") || group == "k8s.io" || group.hasSuffix(".kubernetes.io") || group == "kubernetes.io" {
            if crd["metadata"]["annotations"]["api-approved.kubernetes.io"].isNull {
                causes.append(.init(reason: "FieldValueRequired", field: "metadata.annotations[api-approved.kubernetes.io]", message: "Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"))
            }
        }
        if plural.isEmpty { required("spec.names.plural") }
        if (spec["names"]["kind"].stringValue ?? "").isEmpty { required("spec.names.kind") }
        if !group.isEmpty && !plural.isEmpty && name != "\(plural).\(group)" {
            causes.append(.init(reason: "FieldValueInvalid", field: "metadata.name", message: "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group"))
        }
        let scope = spec["scope"].stringValue ?? ""
        if scope != "Namespaced" && scope != "Cluster" {
            causes.append(.init(reason: "FieldValueNotSupported", field: "spec.scope", message: "Unsupported value: \"\(scope)\": supported values: \"Cluster\", \"Namespaced\""))
        }
        let versions = spec["versions"].arrayValue ?? []
        if versions.isEmpty { required("spec.versions") }
        if !versions.isEmpty && versions.filter({ $0["storage"].boolValue == true }).count != 1 {
            causes.append(.init(reason: "FieldValueInvalid", field: "spec.versions", message: "Invalid value: \(versions.count): must have exactly one version marked as storage version"))
        }
        for (i, v) in versions.enumerated() {
            let schema = v["schema"]["openAPIV3Schema"]
            if schema.isNull { continue }
            if let cause = CustomResourceSchema.check(schema, path: "spec.versions[\(i)].schema.openAPIV3Schema") {
                causes.append(cause)
            }
        }
        if !causes.isEmpty {
            throw APIError.invalid(kind: "CustomResourceDefinition", group: "apiextensions.k8s.io", name: name, causes)
        }
    }

    func schema(_ info: ResourceInfo, version: String) -> CustomResourceSchema? {
        let cacheKey = info.key + "/" + version
        if let cached = schemaCache[cacheKey] { return cached }
        guard let raw = info.schemas[version], let compiled = CustomResourceSchema(raw) else { return nil }
        schemaCache[cacheKey] = compiled
        return compiled
    }

    /// Prunes unknown fields, applies defaults and validates a custom resource (CRD schema).
    func validateCustomResource(_ object: inout JSONValue, _ info: ResourceInfo, version: String, old: JSONValue?) throws(APIError) {
        guard let schema = schema(info, version: version) else { return }
        schema.prune(&object)
        schema.applyDefaults(&object)
        let causes = schema.validate(object, old: old)
        if !causes.isEmpty {
            throw APIError.invalid(kind: info.kind, group: info.group, name: object.name ?? "", causes)
        }
    }

    // MARK: Update

    /// Replaces an object with what `transform` makes of the stored one (nil when missing and
    /// `allowCreate`). `subresource` "status" changes only status; the object's own writes
    /// ignore status when the kind has a status subresource.
    func update(
        _ info: ResourceInfo, version: String, namespace: String?, name: String, subresource: String?,
        options: WriteOptions, allowCreate: Bool = false,
        transform: @Sendable (JSONValue?) throws(APIError) -> JSONValue
    ) throws(APIError) -> WriteResult {
        let ns = info.namespaced ? (namespace ?? "") : ""
        guard let old = tables[info.key]?[ns]?[name] else {
            guard allowCreate else { throw APIError.notFound(info.resource, group: info.group, name: name) }
            var body = try transform(nil)
            if body.name == nil { body["metadata"]["name"] = .string(name) }
            guard body.name == name else {
                throw APIError.badRequest("the name of the object (\(body.name ?? "")) does not match the name on the URL (\(name))")
            }
            return try create(info, version: version, namespace: namespace, body, options: options)
        }
        let new = try transform(old)
        guard case .object = new else { throw APIError.badRequest("the body of the request is not a JSON object") }
        try checkTypeMeta(new, info, version: version)
        if let newName = new.name, newName != name {
            throw APIError.badRequest("the name of the object (\(newName)) does not match the name on the URL (\(name))")
        }
        if info.namespaced, let newNS = new.namespace, !newNS.isEmpty, newNS != ns {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if let rv = new.resourceVersion, !rv.isEmpty, rv != old.resourceVersion {
            throw APIError.staleConflict(info.resource, group: info.group, name: name)
        }
        var result: JSONValue
        if subresource == "status" {
            result = old
            result["status"] = new["status"]
        } else {
            result = new
            var meta = new["metadata"].objectValue.map(JSONValue.object) ?? .emptyObject
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace"] {
                meta[field] = old["metadata"][field]
                if meta[field].isNull { meta.removeValue(forKey: field) }
            }
            meta["name"] = .string(name)
            meta.removeValue(forKey: "selfLink")
            result["metadata"] = meta
            if info.hasStatus {
                result["status"] = old["status"]
                if result["status"].isNull { result.removeValue(forKey: "status") }
            }
            if info.key == BuiltinResources.namespaceKey {
                result["spec"] = old["spec"]  // spec.finalizers change only through /finalize
            }
        }
        if subresource == "finalize" && info.key == BuiltinResources.namespaceKey {
            result = old
            result["spec"]["finalizers"] = new["spec"]["finalizers"].isNull ? [] : new["spec"]["finalizers"]
        }
        result["apiVersion"] = .string(info.apiVersion(version))
        result["kind"] = .string(info.kind)
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        // A deleting object takes no new finalizers.
        if !old["metadata"]["deletionTimestamp"].isNull {
            let before = Set((old["metadata"]["finalizers"].arrayValue ?? []).compactMap(\.stringValue))
            let added = (result["metadata"]["finalizers"].arrayValue ?? []).compactMap(\.stringValue).filter { !before.contains($0) }
            if !added.isEmpty {
                let list = added.map { "\"\($0)\"" }.joined(separator: ", ")
                throw APIError.invalid(
                    kind: info.kind, group: info.group, name: name,
                    [.init(reason: "FieldValueForbidden", field: "metadata.finalizers", message: "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\(list)}")])
            }
        }
        try MetadataValidation.check(result, info)
        try prepareKindSpecific(&result, info, version: version, old: old)
        // generation moves on spec changes only (for kinds with status: not on status or metadata).
        func content(_ o: JSONValue) -> JSONValue {
            var c = o
            c.removeValue(forKey: "metadata")
            if info.hasStatus { c.removeValue(forKey: "status") }
            c.removeValue(forKey: "apiVersion")
            c.removeValue(forKey: "kind")
            return c
        }
        if content(result) != content(old) {
            result["metadata"]["generation"] = .int((old["metadata"]["generation"].intValue ?? 1) + 1)
        }
        var comparable = result, previous = old
        comparable["metadata"].removeValue(forKey: "managedFields")
        previous["metadata"].removeValue(forKey: "managedFields")
        if comparable == previous { return WriteResult(object: old, ticket: lastTicket) }
        if let manager = options.manager {
            result = Machinery.recordUpdate(old: old, new: result, manager: manager, subresource: subresource)
        }
        if options.dryRun { return WriteResult(object: result, ticket: 0) }
        let ref = ObjectRef(resourceKey: info.key, namespace: ns, name: name)
        if !result["metadata"]["deletionTimestamp"].isNull && !hasPendingFinalizers(result, info) {
            let stored = commit("DELETED", info, result, old: old)
            reactions.append(.removed(ref, stored.object))
            runReactions()
            return WriteResult(stored, ticket: lastTicket)
        }
        let stored = commit("MODIFIED", info, result, old: old)
        if info.key == BuiltinResources.namespaceKey && !stored.object["metadata"]["deletionTimestamp"].isNull {
            reactions.append(.checkNamespace(name))
        }
        runReactions()
        return WriteResult(stored, ticket: lastTicket)
    }

    func hasPendingFinalizers(_ object: JSONValue, _ info: ResourceInfo) -> Bool {
        if !(object["metadata"]["finalizers"].arrayValue ?? []).isEmpty { return true }
        if info.key == BuiltinResources.namespaceKey && !(object["spec"]["finalizers"].arrayValue ?? []).isEmpty { return true }
        return false
    }

    // MARK: Delete

    struct DeleteOptions: Sendable {
        var propagationPolicy: String?
        var preconditionUID: String?
        var preconditionResourceVersion: String?
        var dryRun = false
    }

    func delete(_ info: ResourceInfo, namespace: String?, name: String, options: DeleteOptions) throws(APIError) -> WriteResult {
        let ns = info.namespaced ? (namespace ?? "") : ""
        guard var object = tables[info.key]?[ns]?[name] else {
            throw APIError.notFound(info.resource, group: info.group, name: name)
        }
        if let uid = options.preconditionUID, uid != object.uid {
            throw APIError.conflict(info.resource, group: info.group, name: name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object.uid ?? "")")
        }
        if let rv = options.preconditionResourceVersion, rv != object.resourceVersion {
            throw APIError.conflict(info.resource, group: info.group, name: name, "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(object.resourceVersion ?? "")")
        }
        let policy = options.propagationPolicy ?? "Background"
        guard ["Background", "Foreground", "Orphan"].contains(policy) else {
            throw APIError.invalid(kind: "DeleteOptions", group: "meta.k8s.io", name: "", [.init(reason: "FieldValueNotSupported", field: "propagationPolicy", message: "Unsupported value: \"\(policy)\": supported values: \"Foreground\", \"Background\", \"Orphan\"")])
        }
        let ref = ObjectRef(resourceKey: info.key, namespace: ns, name: name)
        let old = object
        var finalizers = (object["metadata"]["finalizers"].arrayValue ?? []).compactMap(\.stringValue)
        let hasDependents = !(dependents[object.uid ?? ""]?.isEmpty ?? true)
        if policy == "Orphan" && hasDependents && !finalizers.contains("orphan") { finalizers.append("orphan") }
        if policy == "Foreground" && hasDependents && !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
        object["metadata"]["finalizers"] = finalizers.isEmpty ? .null : .array(finalizers.map(JSONValue.string))
        if finalizers.isEmpty { object["metadata"].removeValue(forKey: "finalizers") }
        if hasPendingFinalizers(object, info) {
            if old["metadata"]["deletionTimestamp"].isNull {
                object["metadata"]["deletionTimestamp"] = .string(Self.timestamp())
                object["metadata"]["deletionGracePeriodSeconds"] = 0
                object["metadata"]["generation"] = .int((old["metadata"]["generation"].intValue ?? 1) + 1)
                if info.key == BuiltinResources.namespaceKey { object["status"]["phase"] = "Terminating" }
                if info.key == BuiltinResources.crdKey { object["status"] = crdStatus(object, old: old) }
            }
            if object == old { return WriteResult(object: old, ticket: lastTicket) }
            if options.dryRun { return WriteResult(object: object, ticket: 0) }
            let stored = commit("MODIFIED", info, object, old: old)
            reactions.append(.markedDeleting(ref))
            runReactions()
            return WriteResult(stored, ticket: lastTicket)
        }
        if options.dryRun { return WriteResult(object: object, ticket: 0) }
        let stored = commit("DELETED", info, object, old: old)
        reactions.append(.removed(ref, stored.object))
        runReactions()
        return WriteResult(stored, ticket: lastTicket)
    }

    /// Deletes every object a list with `filter` would return.
    func deleteCollection(_ info: ResourceInfo, filter: ObjectFilter, options: DeleteOptions) throws(APIError) -> (items: [JSONValue], ticket: UInt64) {
        var deleted: [JSONValue] = []
        let table = tables[info.key] ?? [:]
        for (ns, objects) in table {
            if let wanted = filter.namespace, wanted != ns { continue }
            for (name, object) in objects where filter.matches(object) {
                if let r = try? delete(info, namespace: ns, name: name, options: options) { deleted.append(r.object) }
            }
        }
        return (deleted, lastTicket)
    }
}
