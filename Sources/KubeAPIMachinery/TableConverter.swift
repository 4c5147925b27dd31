import Foundation
import KubeJSON

/// One `additionalPrinterColumns` entry of a CRD version (or a column of a built-in kind).
public struct PrinterColumn: Sendable, Hashable {
    public var name: String
    public var type: String
    public var jsonPath: String
    public var description: String
    public var format: String
    public var priority: Int

    public init(
        name: String, type: String, jsonPath: String, description: String = "", format: String = "",
        priority: Int = 0
    ) {
        self.name = name
        self.type = type
        self.jsonPath = jsonPath
        self.description = description
        self.format = format
        self.priority = priority
    }

    /// Reads a CRD's column (`{"name","type","jsonPath","description","format","priority"}`);
    /// errors name the field relative to the column (prefix them with
    /// `spec.versions[i].additionalPrinterColumns[j]`).
    public init(_ crdColumn: JSONValue) throws(FieldError) {
        guard case .object = crdColumn else { throw FieldError.invalid("", crdColumn, "must be an object") }
        guard let name = crdColumn["name"].stringValue, !name.isEmpty else {
            throw FieldError.required("name")
        }
        guard let type = crdColumn["type"].stringValue, !type.isEmpty else {
            throw FieldError.required("type")
        }
        let types = ["boolean", "date", "integer", "number", "string"]
        guard types.contains(type) else {
            throw FieldError.notSupported("type", .string(type), supported: types)
        }
        guard let path = crdColumn["jsonPath"].stringValue, !path.isEmpty else {
            throw FieldError.required("jsonPath")
        }
        do {
            _ = try JSONPath(path)
        } catch {
            throw FieldError.invalid("jsonPath", .string(path), "must be a valid JSONPath: \(error.message)")
        }
        let format = crdColumn["format"].stringValue ?? ""
        let formats = ["byte", "date", "date-time", "double", "float", "int32", "int64", "name", "password"]
        if !format.isEmpty, !formats.contains(format) {
            throw FieldError.notSupported("format", .string(format), supported: formats)
        }
        self.init(
            name: name, type: type, jsonPath: path, description: crdColumn["description"].stringValue ?? "",
            format: format, priority: Int(crdColumn["priority"].intValue ?? 0))
    }

    /// kube's default for a CRD version without printer columns (`serveDefaultColumnsIfEmpty`).
    public static let age = PrinterColumn(
        name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp",
        description: ObjectMetaDescriptions.creationTimestamp)

    /// Columns for the built-in kinds whose `kubectl get` columns are plain paths (kube prints
    /// more for some, computed by Go code; this is the reasonable subset).
    public static func builtinColumns(kind: String) -> [PrinterColumn] {
        switch kind {
        case "Namespace":
            return [PrinterColumn(name: "Status", type: "string", jsonPath: ".status.phase"), age]
        case "Secret": return [PrinterColumn(name: "Type", type: "string", jsonPath: ".type"), age]
        case "Pod": return [PrinterColumn(name: "Status", type: "string", jsonPath: ".status.phase"), age]
        case "Service":
            return [
                PrinterColumn(name: "Type", type: "string", jsonPath: ".spec.type"),
                PrinterColumn(name: "Cluster-IP", type: "string", jsonPath: ".spec.clusterIP"), age,
            ]
        case "Deployment":
            return [
                PrinterColumn(name: "Available", type: "integer", jsonPath: ".status.availableReplicas"), age,
            ]
        case "Job":
            return [PrinterColumn(name: "Succeeded", type: "integer", jsonPath: ".status.succeeded"), age]
        case "Lease":
            return [PrinterColumn(name: "Holder", type: "string", jsonPath: ".spec.holderIdentity"), age]
        case "Event":
            return [
                PrinterColumn(name: "Type", type: "string", jsonPath: ".type"),
                PrinterColumn(name: "Reason", type: "string", jsonPath: ".reason"),
                PrinterColumn(name: "Object", type: "string", jsonPath: ".involvedObject.name"),
                PrinterColumn(name: "Message", type: "string", jsonPath: ".message"),
            ]
        case "CustomResourceDefinition":
            return [
                PrinterColumn(name: "Created At", type: "string", jsonPath: ".metadata.creationTimestamp")
            ]
        default: return [age]
        }
    }
}

/// Descriptions kube copies from ObjectMeta's swagger docs into table columns.
enum ObjectMetaDescriptions {
    static let name =
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    static let creationTimestamp =
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
}

public enum TableConverter {
    /// A `meta.k8s.io/v1` Table for `objects`: the Name column first (format `name`), then
    /// `columns` (empty = the CRD default, Age). `includeObject` is "None" | "Metadata" (default:
    /// PartialObjectMetadata) | "Object". `date` cells are relative ages ("5m") as kube-apiserver
    /// renders them; a missing value is a null cell (kubectl prints `<none>`).
    public static func table(
        objects: [JSONValue], columns: [PrinterColumn], includeObject: String, resourceVersion: String,
        continueToken: String?, now: Date
    ) -> JSONValue {
        let columns = columns.isEmpty ? [PrinterColumn.age] : columns
        var definitions: [JSONValue] = [
            [
                "name": "Name", "type": "string", "format": "name",
                "description": .string(ObjectMetaDescriptions.name), "priority": 0,
            ]
        ]
        for c in columns {
            definitions.append([
                "name": .string(c.name), "type": .string(c.type), "format": .string(c.format),
                "description": .string(c.description), "priority": .int(Int64(c.priority)),
            ])
        }
        let paths = columns.map { try? JSONPath($0.jsonPath) }
        var rows: [JSONValue] = []
        for object in objects {
            var cells: [JSONValue] = [object["metadata"]["name"]]
            for (column, path) in zip(columns, paths) {
                guard let first = path?.evaluate(object).first else {
                    cells.append(.null)
                    continue
                }
                cells.append(cell(type: column.type, value: first, now: now))
            }
            var row: [String: JSONValue] = ["cells": .array(cells)]
            switch includeObject {
            case "None": break
            case "Object": row["object"] = object
            default:
                row["object"] = [
                    "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                    "metadata": object["metadata"],
                ]
            }
            rows.append(.object(row))
        }
        var metadata: [String: JSONValue] = ["resourceVersion": .string(resourceVersion)]
        if let continueToken, !continueToken.isEmpty { metadata["continue"] = .string(continueToken) }
        return [
            "apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": .object(metadata),
            "columnDefinitions": .array(definitions), "rows": .array(rows),
        ]
    }

    /// kube's `cellForJSONValue` (string columns print like `jsonpath.PrintResults`).
    static func cell(type: String, value: JSONValue, now: Date) -> JSONValue {
        if case .null = value { return .null }
        switch type {
        case "string":
            switch value {
            case .string: return value
            case .array, .object: return .string(value.serialized())
            default: return .string(value.description)
            }
        case "integer":
            switch value {
            case .int: return value
            case .double(let d) where d.isFinite && abs(d) < 9.2e18: return .int(Int64(d))
            default: return .null
            }
        case "number":
            switch value {
            case .int(let i): return .double(Double(i))
            case .double: return value
            default: return .null
            }
        case "boolean":
            if case .bool = value { return value }
            return .null
        case "date":
            guard case .string(let s) = value else { return .null }
            guard let date = RFC3339.parse(s) else { return "<invalid>" }
            return .string(humanDuration(now.timeIntervalSince(date)))
        default:
            return .null
        }
    }

    /// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: "45s", "5m10s", "3h4m", "2d5h", "1y20d".
    public static func humanDuration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval.rounded(.towardZero))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 60 * 2 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 {
            let s = seconds % 60
            return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s"
        }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = seconds / 3600
        if hours < 8 {
            let m = minutes % 60
            return m == 0 ? "\(hours)h" : "\(hours)h\(m)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let h = hours % 24
            return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let dy = (hours / 24) % 365
            return dy == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(dy)d"
        }
        return "\(hours / 24 / 365)y"
    }
}
