import KubeJSON

/// The OpenAPI schema of one built-in kind the API server serves.
public struct BuiltinResourceSchema: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    /// Plural resource name (`secrets`).
    public var resource: String
    public var namespaced: Bool
    /// The definition name (`io.k8s.api.core.v1.Secret`).
    public var definitionName: String
    /// The kind's schema, with `metadata` left out (added as an ObjectMeta reference).
    public var schema: JSONValue

    public init(
        group: String, version: String, kind: String, resource: String, namespaced: Bool,
        definitionName: String, schema: JSONValue
    ) {
        self.group = group
        self.version = version
        self.kind = kind
        self.resource = resource
        self.namespaced = namespaced
        self.definitionName = definitionName
        self.schema = schema
    }

    public var groupVersion: String { group.isEmpty ? version : group + "/" + version }
}

/// GET /openapi/v2 and /openapi/v3 documents built from CRD schemas and a minimal set of
/// built-in schemas: enough for `kubectl apply` (which checks the v3 document for a PATCH
/// operation of the kind taking the `fieldValidation` query parameter, and then leaves
/// validation to the server) and for `kubectl explain` (which reads `components.schemas`).
public enum OpenAPIDocuments {
    static let objectMetaName = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    /// One resource as the documents describe it.
    struct Resource {
        var group, version, kind, plural: String
        var namespaced: Bool
        var definitionName: String
        var schema: JSONValue
        /// Built-in kinds take strategic merge patches; custom resources do not (kube answers
        /// 415), so kubectl must not be told they do.
        var acceptsStrategicMerge: Bool
        var groupVersion: String { group.isEmpty ? version : group + "/" + version }
    }

    /// `kubesnap.io` -> `io.kubesnap`, as kube names CRD definitions.
    static func reversedGroup(_ group: String) -> String {
        group.split(separator: ".").reversed().joined(separator: ".")
    }

    static func resources(crds: [JSONValue], builtins: [BuiltinResourceSchema]) -> [Resource] {
        var out = builtins.map {
            Resource(
                group: $0.group, version: $0.version, kind: $0.kind, plural: $0.resource,
                namespaced: $0.namespaced,
                definitionName: $0.definitionName, schema: $0.schema, acceptsStrategicMerge: true)
        }
        for crd in crds {
            let spec = crd["spec"]
            guard let group = spec["group"].stringValue, let kind = spec["names"]["kind"].stringValue,
                let plural = spec["names"]["plural"].stringValue
            else { continue }
            for version in spec["versions"].arrayValue ?? [] {
                guard let name = version["name"].stringValue, version["served"].boolValue != false else {
                    continue
                }
                var schema = version["schema"]["openAPIV3Schema"]
                if schema.isNull {
                    schema = ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
                }
                out.append(
                    Resource(
                        group: group, version: name, kind: kind, plural: plural,
                        namespaced: spec["scope"].stringValue != "Cluster",
                        definitionName: "\(reversedGroup(group)).\(name).\(kind)", schema: schema,
                        acceptsStrategicMerge: false))
            }
        }
        return out
    }

    /// The definition of a kind: its schema with standard apiVersion/kind/metadata members and
    /// the group-version-kind extension.
    static func definition(_ r: Resource, reference: String) -> JSONValue {
        var schema = r.schema
        if schema["type"].isNull { schema["type"] = "object" }
        var properties = schema["properties"].objectValue ?? [:]
        if properties["apiVersion"].map({ $0["description"].isNull }) ?? true {
            properties["apiVersion"] = [
                "type": "string",
                "description":
                    "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            ]
        }
        if properties["kind"].map({ $0["description"].isNull }) ?? true {
            properties["kind"] = [
                "type": "string",
                "description":
                    "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            ]
        }
        properties["metadata"] = [
            "description":
                "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            "allOf": [["$ref": .string(reference + objectMetaName)]],
        ]
        schema["properties"] = .object(properties)
        schema["x-kubernetes-group-version-kind"] = [
            ["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]
        ]
        return schema
    }

    static let objectMetaSchema: JSONValue = [
        "type": "object",
        "description":
            "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "properties": [
            "name": ["type": "string", "description": .string(ObjectMetaDescriptions.name)],
            "namespace": [
                "type": "string",
                "description": "Namespace defines the space within which each name must be unique.",
            ],
            "generateName": [
                "type": "string",
                "description":
                    "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.",
            ],
            "labels": [
                "type": "object", "additionalProperties": ["type": "string"],
                "description":
                    "Map of string keys and values that can be used to organize and categorize (scope and select) objects.",
            ],
            "annotations": [
                "type": "object", "additionalProperties": ["type": "string"],
                "description":
                    "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.",
            ],
            "finalizers": [
                "type": "array", "items": ["type": "string"],
                "description": "Must be empty before the object is deleted from the registry.",
            ],
            "ownerReferences": [
                "type": "array", "items": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                "description": "List of objects depended by this object.",
            ],
            "uid": [
                "type": "string", "description": "UID is the unique in time and space value for this object.",
            ],
            "resourceVersion": [
                "type": "string",
                "description": "An opaque value that represents the internal version of this object.",
            ],
            "generation": [
                "type": "integer", "format": "int64",
                "description": "A sequence number representing a specific generation of the desired state.",
            ],
            "creationTimestamp": [
                "type": "string", "format": "date-time",
                "description": .string(ObjectMetaDescriptions.creationTimestamp),
            ],
            "deletionTimestamp": [
                "type": "string", "format": "date-time",
                "description": "RFC 3339 date and time at which this resource will be deleted.",
            ],
            "deletionGracePeriodSeconds": [
                "type": "integer", "format": "int64",
                "description": "Number of seconds allowed for this object to gracefully terminate.",
            ],
            "managedFields": [
                "type": "array", "items": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                "description":
                    "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.",
            ],
        ],
    ]

    /// Removes what Swagger 2.0 cannot say (kube drops these when publishing v2).
    static func toV2(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(var o):
            o.removeValue(forKey: "nullable")
            o.removeValue(forKey: "x-kubernetes-validations")
            if o["x-kubernetes-int-or-string"]?.boolValue == true { o.removeValue(forKey: "anyOf") }
            for (k, v) in o where k != "default" && k != "enum" && k != "example" {
                o[k] = toV2(v)
            }
            if case .string(let ref)? = o["$ref"] {
                o["$ref"] = .string(ref.replacingOccurrences("#/components/schemas/", "#/definitions/"))
            }
            return .object(o)
        case .array(let a): return .array(a.map(toV2))
        default: return schema
        }
    }

    static func collectionPath(_ r: Resource, namespaced: Bool) -> String {
        let base = r.group.isEmpty ? "/api/\(r.version)" : "/apis/\(r.group)/\(r.version)"
        return namespaced ? "\(base)/namespaces/{namespace}/\(r.plural)" : "\(base)/\(r.plural)"
    }

    static let patchQueryParameters = ["dryRun", "fieldManager", "fieldValidation", "force"]

    static func operations(_ r: Resource, v3: Bool, reference: String) -> [String: JSONValue] {
        let gvk: JSONValue = [
            "group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind),
        ]
        func parameter(_ name: String, in location: String = "query", type: String = "string") -> JSONValue {
            var p: [String: JSONValue] = [
                "name": .string(name), "in": .string(location), "uniqueItems": true,
            ]
            if location == "path" { p["required"] = true }
            if v3 {
                p["schema"] = ["type": .string(type), "uniqueItems": true]
            } else {
                p["type"] = .string(type)
            }
            return .object(p)
        }
        func body(_ ref: String) -> [String: JSONValue] {
            v3
                ? ["content": ["application/json": ["schema": ["$ref": .string(ref)]]]]
                : ["schema": ["$ref": .string(ref)]]
        }
        let objectRef = reference + r.definitionName
        func operation(_ action: String, _ id: String, _ params: [JSONValue]) -> JSONValue {
            var op: [String: JSONValue] = [
                "operationId": .string(id + r.kind), "x-kubernetes-action": .string(action),
                "x-kubernetes-group-version-kind": gvk,
                "parameters": .array(params),
                "responses": ["200": .object(["description": "OK"].merging(body(objectRef)) { a, _ in a })],
            ]
            if action == "patch" || action == "put" || action == "post" {
                if v3 {
                    var content: [String: JSONValue] = [
                        "application/json-patch+json": ["schema": ["type": "object"]],
                        "application/merge-patch+json": ["schema": ["type": "object"]],
                        "application/apply-patch+yaml": ["schema": ["type": "object"]],
                        "application/json": ["schema": ["$ref": .string(objectRef)]],
                    ]
                    if r.acceptsStrategicMerge {
                        content["application/strategic-merge-patch+json"] = ["schema": ["type": "object"]]
                    }
                    op["requestBody"] = ["content": .object(content)]
                }
            }
            return .object(op)
        }
        var pathParams = [parameter("name", in: "path")]
        if r.namespaced { pathParams.append(parameter("namespace", in: "path")) }
        let writeParams = ["dryRun", "fieldManager", "fieldValidation"].map { parameter($0) }
        let collection = collectionPath(r, namespaced: r.namespaced)
        return [
            collection + "/{name}": [
                "get": operation("get", "read", []),
                "put": operation("put", "replace", writeParams),
                "patch": operation(
                    "patch", "patch",
                    patchQueryParameters.map { parameter($0, type: $0 == "force" ? "boolean" : "string") }),
                "delete": operation("delete", "delete", [parameter("dryRun")]),
                "parameters": .array(pathParams),
            ],
            collection: [
                "get": operation("list", "list", []),
                "post": operation("post", "create", writeParams),
                "parameters": r.namespaced ? [parameter("namespace", in: "path")] : [],
            ],
        ]
    }

    /// GET /openapi/v2 for the built-in kinds and every CRD.
    public static func v2(crds: [JSONValue], builtins: [BuiltinResourceSchema]) -> JSONValue {
        let reference = "#/definitions/"
        var definitions: [String: JSONValue] = [objectMetaName: objectMetaSchema]
        var paths: [String: JSONValue] = [:]
        for r in resources(crds: crds, builtins: builtins) {
            definitions[r.definitionName] = toV2(definition(r, reference: reference))
            for (path, item) in operations(r, v3: false, reference: reference) { paths[path] = item }
        }
        return [
            "swagger": "2.0", "info": ["title": "Kubernetes", "version": "v1.32.0"],
            "paths": .object(paths), "definitions": .object(definitions),
        ]
    }

    /// The key of a group-version in the v3 index: `api/v1`, `apis/kubesnap.io/v1alpha1`.
    public static func v3Key(groupVersion: String) -> String {
        groupVersion.contains("/") ? "apis/" + groupVersion : "api/" + groupVersion
    }

    /// GET /openapi/v3: `{"paths":{"apis/kubesnap.io/v1alpha1":{"serverRelativeURL":"/openapi/v3/apis/kubesnap.io/v1alpha1?hash=..."}}}`.
    /// The hash here is of the group-version name only; prefer `v3Index(documents:)` so the hash
    /// changes when a schema does (kubectl caches documents by it).
    public static func v3Index(groupVersions: [String]) -> JSONValue {
        var docs: [String: JSONValue] = [:]
        for gv in groupVersions { docs[gv] = .string(gv) }
        return v3Index(documents: docs)
    }

    /// The v3 index with each document's content hash (group-version -> the `v3(...)` document).
    public static func v3Index(documents: [String: JSONValue]) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for (gv, doc) in documents {
            let key = v3Key(groupVersion: gv)
            paths[key] = ["serverRelativeURL": .string("/openapi/v3/\(key)?hash=\(contentHash(doc))")]
        }
        return ["paths": .object(paths)]
    }

    /// The group-versions the documents cover (for the index).
    public static func groupVersions(crds: [JSONValue], builtins: [BuiltinResourceSchema]) -> [String] {
        Array(Set(resources(crds: crds, builtins: builtins).map(\.groupVersion))).sorted()
    }

    /// GET /openapi/v3/apis/GROUP/VERSION (and /openapi/v3/api/v1); `groupVersion` is "v1",
    /// "apps/v1", "kubesnap.io/v1alpha1".
    public static func v3(groupVersion: String, crds: [JSONValue], builtins: [BuiltinResourceSchema])
        -> JSONValue
    {
        let reference = "#/components/schemas/"
        var schemas: [String: JSONValue] = [objectMetaName: objectMetaSchema]
        var paths: [String: JSONValue] = [:]
        for r in resources(crds: crds, builtins: builtins) where r.groupVersion == groupVersion {
            schemas[r.definitionName] = definition(r, reference: reference)
            for (path, item) in operations(r, v3: true, reference: reference) { paths[path] = item }
        }
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"],
            "paths": .object(paths), "components": ["schemas": .object(schemas)],
        ]
    }

    /// FNV-1a 64 of the serialised document, upper-case hex (kube uses a SHA-512 prefix; any
    /// content hash serves as the cache key).
    static func contentHash(_ value: JSONValue) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in value.serializedBytes() {
            hash ^= UInt64(byte)
            hash = hash &* 0x0100_0000_01b3
        }
        let hex = String(hash, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
