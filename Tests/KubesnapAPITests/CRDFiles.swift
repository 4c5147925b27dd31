import Foundation
import KubeJSON
import KubesnapAPI

/// The repository's root, found from this file's path (Tests/KubesnapAPITests/CRDFiles.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

struct CRDFileError: Error, CustomStringConvertible {
    var description: String
}

/// The one document of `crds/<file>`.
func loadCRD(_ file: String) throws -> JSONValue {
    let path = repositoryRoot + "/crds/" + file
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let documents = try YAML.parseAll(text)
    guard documents.count == 1, let crd = documents.first else {
        throw CRDFileError(description: "\(path): expected one YAML document, found \(documents.count)")
    }
    return crd
}

/// The openAPIV3Schema of the CRD's only version.
func schema(of crd: JSONValue) throws -> JSONValue {
    guard let versions = crd["spec"]["versions"].arrayValue, versions.count == 1 else {
        throw CRDFileError(description: "expected exactly one version in \(crd.name ?? "?")")
    }
    return versions[0]["schema"]["openAPIV3Schema"]
}

/// Compares Swift values and JSON documents with a structural schema and collects every
/// difference (never stops at the first).
struct SchemaComparison {
    var problems: [String] = []

    /// Walks a Swift value with `Mirror`: every stored property must be in the schema with a
    /// compatible type, every schema property must be a Swift property, and every non-optional
    /// Swift property must be required by the schema (else a valid object would not decode).
    /// The sample must be fully populated: a nil optional or an empty array is reported, because
    /// what lies below it could not be compared.
    mutating func compare(swift value: Any, schema: JSONValue, path: String) {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else {
                problems.append("\(path): the sample leaves this optional nil; populate it so it can be compared")
                return
            }
            compare(swift: wrapped, schema: schema, path: path)
            return
        }
        let type = schema["type"].stringValue ?? "<none>"
        switch value {
        case is ObjectMeta:
            expect(type, "object", path)
        case let open as any OpenStringEnum:
            expect(type, "string", path)
            let known = Set(knownRawValues(open))
            if let schemaEnum = schema["enum"].arrayValue {
                let allowed = Set(schemaEnum.compactMap(\.stringValue))
                if allowed != known {
                    problems.append("\(path): Swift knows \(known.sorted()) but the schema enum is \(allowed.sorted())")
                }
            } else {
                problems.append("\(path): an enum in Swift (\(known.sorted())) has no enum in the schema")
            }
        case is String: expect(type, "string", path)
        case is Int, is Int64, is Int32: expect(type, "integer", path)
        case is Bool: expect(type, "boolean", path)
        case is Double: expect(type, "number", path)
        default:
            switch mirror.displayStyle {
            case .collection:
                expect(type, "array", path)
                guard let first = mirror.children.first?.value else {
                    problems.append("\(path): the sample array is empty; add an element so it can be compared")
                    return
                }
                compare(swift: first, schema: schema["items"], path: path + "[]")
            case .struct:
                expect(type, "object", path)
                let properties = schema["properties"].objectValue ?? [:]
                let required = Set((schema["required"].arrayValue ?? []).compactMap(\.stringValue))
                var labels: Set<String> = []
                for child in mirror.children {
                    guard let label = child.label else { continue }
                    labels.insert(label)
                    let childPath = path.isEmpty ? label : "\(path).\(label)"
                    guard let propertySchema = properties[label] else {
                        problems.append("\(childPath): a Swift property missing from the schema")
                        continue
                    }
                    let optional = Mirror(reflecting: child.value).displayStyle == .optional
                    if !optional && !required.contains(label) && !(path.isEmpty && ["apiVersion", "kind", "metadata"].contains(label)) {
                        problems.append("\(childPath): non-optional in Swift but not required by the schema")
                    }
                    compare(swift: child.value, schema: propertySchema, path: childPath)
                }
                for name in properties.keys.sorted() where !labels.contains(name) {
                    problems.append("\(path.isEmpty ? name : "\(path).\(name)"): in the schema but not a Swift property")
                }
            default:
                problems.append("\(path): cannot compare a \(Swift.type(of: value)) with the schema")
            }
        }
    }

    /// Checks a JSON document (an encoded object, an example manifest) against the schema:
    /// known fields only, matching types, required fields present, enum values allowed.
    mutating func check(json value: JSONValue, schema: JSONValue, path: String) {
        let type = schema["type"].stringValue ?? "<none>"
        switch value {
        case .null: problems.append("\(path): null")
        case .string(let string):
            expect(type, "string", path)
            if let allowed = schema["enum"].arrayValue, !allowed.contains(.string(string)) {
                problems.append("\(path): \"\(string)\" is not one of \(allowed.compactMap(\.stringValue))")
            }
        case .int: if type != "integer" && type != "number" { expect(type, "integer", path) }
        case .double: expect(type, "number", path)
        case .bool: expect(type, "boolean", path)
        case .array(let items):
            expect(type, "array", path)
            for (index, item) in items.enumerated() { check(json: item, schema: schema["items"], path: "\(path)[\(index)]") }
        case .object(let members):
            expect(type, "object", path)
            if path == "metadata" { return }
            let properties = schema["properties"].objectValue ?? [:]
            for name in (schema["required"].arrayValue ?? []).compactMap(\.stringValue) where members[name] == nil {
                problems.append("\(path.isEmpty ? name : "\(path).\(name)"): required by the schema but missing")
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                guard let propertySchema = properties[name] else {
                    problems.append("\(childPath): not in the schema")
                    continue
                }
                check(json: member, schema: propertySchema, path: childPath)
            }
        }
    }

    private mutating func expect(_ actual: String, _ wanted: String, _ path: String) {
        if actual != wanted { problems.append("\(path): schema type \(actual), Swift/JSON needs \(wanted)") }
    }

    private func knownRawValues<E: OpenStringEnum>(_ value: E) -> [String] { E.knownValues.map(\.rawValue) }
}
