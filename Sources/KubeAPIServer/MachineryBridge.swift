import Foundation
import KubeAPIMachinery
import KubeJSON

// The server's only contact points with KubeAPIMachinery: schemas, patches, server-side apply,
// tables and OpenAPI documents, turned into kube-shaped `APIError`s.

/// A compiled CRD version schema: pruning, defaulting, validation.
struct CustomResourceSchema: Sendable {
    let schema: CRDSchema

    init?(_ openAPIV3Schema: JSONValue) {
        guard let compiled = try? CRDSchema(openAPIV3Schema: openAPIV3Schema) else { return nil }
        schema = compiled
    }

    /// Why a CRD version schema is unusable (as a status cause), or nil.
    static func check(_ openAPIV3Schema: JSONValue, path: String) -> APIError.Cause? {
        do {
            _ = try CRDSchema(openAPIV3Schema: openAPIV3Schema, path: path)
            return nil
        } catch {
            return APIError.Cause(error)
        }
    }

    func prune(_ object: inout JSONValue) { schema.prune(&object) }
    func unknownFields(_ object: JSONValue) -> [String] { schema.unknownFieldPaths(object) }
    func applyDefaults(_ object: inout JSONValue) { schema.applyDefaults(&object) }
    func validate(_ object: JSONValue, old: JSONValue?) -> [APIError.Cause] {
        schema.validate(object, old: old).map(APIError.Cause.init)
    }
}

extension APIError.Cause {
    /// A machinery field error as a status cause (kubectl prints "field: message", so the
    /// message loses its "field: " prefix).
    init(_ error: FieldError) {
        var message = error.message
        if !error.field.isEmpty, message.hasPrefix(error.field + ": ") {
            message = String(message.dropFirst(error.field.count + 2))
        }
        self.init(reason: error.type.rawValue, field: error.field, message: message)
    }
}

enum Machinery {
    static func patchError(_ error: PatchError) -> APIError {
        var e = APIError(code: error.statusCode, reason: error.reason, message: error.statusMessage)
        if error.statusCode == 422 {
            e.details = ["causes": [["message": .string(error.detail)]]]
        }
        return e
    }

    static func jsonPatch(_ patch: JSONValue, _ document: JSONValue) throws(APIError) -> JSONValue {
        do { return try Patch.applyJSONPatch(patch, to: document) } catch { throw patchError(error) }
    }

    static func mergePatch(_ patch: JSONValue, _ document: JSONValue) -> JSONValue {
        Patch.applyMergePatch(patch, to: document)
    }

    static func strategicMergePatch(_ patch: JSONValue, _ document: JSONValue, apiVersion: String, kind: String) throws(APIError) -> JSONValue {
        do {
            return try Patch.applyStrategicMergePatch(patch, to: document, apiVersion: apiVersion, kind: kind)
        } catch { throw patchError(error) }
    }

    static func serverSideApply(_ applied: JSONValue, to live: JSONValue?, manager: String, force: Bool, info: ResourceInfo, name: String) throws(APIError) -> JSONValue {
        do {
            return try ServerSideApply.apply(applied, to: live, manager: manager, force: force, now: ObjectStore.timestamp())
        } catch {
            return try { () throws(APIError) -> JSONValue in
                var details = APIError.detailsFor(name: name, group: info.group, kind: info.resource)
                details["causes"] = .array(error.causes)
                throw APIError(code: error.statusCode, reason: error.reason, message: error.message, details: details)
            }()
        }
    }

    /// managedFields for a non-apply write by `manager` (nil `old` = create).
    static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, subresource: String?) -> JSONValue {
        ServerSideApply.recordUpdate(old: old, new: new, manager: manager, now: ObjectStore.timestamp(), subresource: subresource ?? "")
    }

    static func columns(_ info: ResourceInfo, version: String) -> [PrinterColumn] {
        guard info.isCustom else { return PrinterColumn.builtinColumns(kind: info.kind) }
        return (info.printerColumns[version] ?? []).compactMap { try? PrinterColumn($0) }
    }

    static func table(objects: [JSONValue], info: ResourceInfo, version: String, includeObject: String, resourceVersion: String, continueToken: String?) -> JSONValue {
        TableConverter.table(
            objects: objects, columns: columns(info, version: version), includeObject: includeObject,
            resourceVersion: resourceVersion, continueToken: continueToken, now: Date())
    }

    static func openAPIV2(crds: [JSONValue]) -> JSONValue {
        OpenAPIDocuments.v2(crds: crds, builtins: BuiltinResourceSchema.all)
    }

    static func openAPIV3Index(crds: [JSONValue]) -> JSONValue {
        var documents: [String: JSONValue] = [:]
        for gv in OpenAPIDocuments.groupVersions(crds: crds, builtins: BuiltinResourceSchema.all) {
            documents[gv] = openAPIV3(groupVersion: gv, crds: crds)
        }
        return OpenAPIDocuments.v3Index(documents: documents)
    }

    static func openAPIV3(groupVersion: String, crds: [JSONValue]) -> JSONValue? {
        guard OpenAPIDocuments.groupVersions(crds: crds, builtins: BuiltinResourceSchema.all).contains(groupVersion) else { return nil }
        let document = OpenAPIDocuments.v3(groupVersion: groupVersion, crds: crds, builtins: BuiltinResourceSchema.all)
        return document
    }
}
