import Foundation
import KubeJSON

/// One node of a structural schema (`JSONSchemaProps` of apiextensions.k8s.io/v1), parsed once.
final class SchemaNode: Sendable {
    enum Additional: Sendable {
        case unspecified
        case allowed(Bool)
        case schema(SchemaNode)
    }
    struct Rule: Sendable {
        var program: CELProgram
        var message: String?
        var fieldPath: String?
        var reason: FieldErrorType?
    }

    let type: String?
    let description: String?
    let properties: [String: SchemaNode]
    let items: SchemaNode?
    let additionalProperties: Additional
    let required: [String]
    let enumValues: [JSONValue]?
    let pattern: String?
    /// `pattern` compiled once (a regex built per validated value cost most of a write).
    let patternRegex: SharedRegex?
    let format: String?
    let minimum: Double?
    let maximum: Double?
    let exclusiveMinimum: Bool
    let exclusiveMaximum: Bool
    let minLength: Int?
    let maxLength: Int?
    let minItems: Int?
    let maxItems: Int?
    let minProperties: Int?
    let maxProperties: Int?
    let uniqueItems: Bool
    let nullable: Bool
    let preserveUnknownFields: Bool
    let intOrString: Bool
    let embeddedResource: Bool
    let listType: String?
    let listMapKeys: [String]
    let defaultValue: JSONValue?
    let rules: [Rule]
    let allOf: [SchemaNode]
    let anyOf: [SchemaNode]
    let oneOf: [SchemaNode]
    let not: SchemaNode?
    /// The schema as written (for OpenAPI documents).
    let raw: JSONValue
    /// Whether this node or one below it has a rule reading `oldSelf` (a transition rule):
    /// such a subtree is validated even where an update left it unchanged.
    let hasTransitionRules: Bool

    init(_ json: JSONValue, path: FieldPath) throws(FieldError) {
        guard case .object(let o) = json else {
            throw FieldError.invalid(path.text, json, "must be an object")
        }
        raw = json
        type = o["type"]?.stringValue
        if let type, !["object", "array", "string", "integer", "number", "boolean"].contains(type) {
            throw FieldError.notSupported(
                path.child("type").text, .string(type),
                supported: ["array", "boolean", "integer", "number", "object", "string"])
        }
        description = o["description"]?.stringValue
        var properties: [String: SchemaNode] = [:]
        if let props = o["properties"] {
            guard case .object(let p) = props else {
                throw FieldError.invalid(path.child("properties").text, props, "must be an object")
            }
            for (name, schema) in p {
                properties[name] = try SchemaNode(schema, path: path.child("properties").key(name))
            }
        }
        self.properties = properties
        items = try o["items"].map { (i) throws(FieldError) in try SchemaNode(i, path: path.child("items")) }
        switch o["additionalProperties"] {
        case nil, .null?: additionalProperties = .unspecified
        case .bool(let b)?: additionalProperties = .allowed(b)
        case let schema?:
            additionalProperties = .schema(try SchemaNode(schema, path: path.child("additionalProperties")))
        }
        required = o["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        enumValues = o["enum"]?.arrayValue
        pattern = o["pattern"]?.stringValue
        if let pattern {
            guard let regex = SharedRegex(pattern) else {
                throw FieldError.invalid(
                    path.child("pattern").text, .string(pattern), "must be a valid regular expression")
            }
            patternRegex = regex
        } else {
            patternRegex = nil
        }
        format = o["format"]?.stringValue
        minimum = o["minimum"]?.doubleValue
        maximum = o["maximum"]?.doubleValue
        exclusiveMinimum = o["exclusiveMinimum"]?.boolValue ?? false
        exclusiveMaximum = o["exclusiveMaximum"]?.boolValue ?? false
        minLength = o["minLength"]?.intValue.map { Int($0) }
        maxLength = o["maxLength"]?.intValue.map { Int($0) }
        minItems = o["minItems"]?.intValue.map { Int($0) }
        maxItems = o["maxItems"]?.intValue.map { Int($0) }
        minProperties = o["minProperties"]?.intValue.map { Int($0) }
        maxProperties = o["maxProperties"]?.intValue.map { Int($0) }
        uniqueItems = o["uniqueItems"]?.boolValue ?? false
        nullable = o["nullable"]?.boolValue ?? false
        preserveUnknownFields = o["x-kubernetes-preserve-unknown-fields"]?.boolValue ?? false
        intOrString = o["x-kubernetes-int-or-string"]?.boolValue ?? false
        embeddedResource = o["x-kubernetes-embedded-resource"]?.boolValue ?? false
        listType = o["x-kubernetes-list-type"]?.stringValue
        if let listType, !["atomic", "set", "map"].contains(listType) {
            throw FieldError.notSupported(
                path.child("x-kubernetes-list-type").text, .string(listType),
                supported: ["atomic", "map", "set"])
        }
        listMapKeys = o["x-kubernetes-list-map-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if listType == "map", listMapKeys.isEmpty {
            throw FieldError.required(
                path.child("x-kubernetes-list-map-keys").text,
                "must not be empty if x-kubernetes-list-type is map")
        }
        defaultValue = o["default"]
        var rules: [Rule] = []
        if let validations = o["x-kubernetes-validations"] {
            let rulesPath = path.child("x-kubernetes-validations")
            guard case .array(let list) = validations else {
                throw FieldError.invalid(rulesPath.text, validations, "must be a list")
            }
            for (i, entry) in list.enumerated() {
                guard let text = entry["rule"].stringValue, !text.isEmpty else {
                    throw FieldError.required(rulesPath.index(i).child("rule").text)
                }
                let program: CELProgram
                do { program = try CELProgram(text) } catch {
                    throw FieldError.invalid(
                        rulesPath.index(i).child("rule").text, .string(text),
                        "compilation failed: \(error.message)")
                }
                var reason: FieldErrorType?
                if let r = entry["reason"].stringValue {
                    guard let t = FieldErrorType(rawValue: r),
                        [.invalid, .forbidden, .required, .duplicate].contains(t)
                    else {
                        throw FieldError.notSupported(
                            rulesPath.index(i).child("reason").text, .string(r),
                            supported: [
                                "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
                                "FieldValueRequired",
                            ])
                    }
                    reason = t
                }
                rules.append(
                    Rule(
                        program: program, message: entry["message"].stringValue,
                        fieldPath: entry["fieldPath"].stringValue, reason: reason))
            }
        }
        self.rules = rules
        func list(_ key: String) throws(FieldError) -> [SchemaNode] {
            guard let a = o[key]?.arrayValue else { return [] }
            var out: [SchemaNode] = []
            for (i, s) in a.enumerated() { out.append(try SchemaNode(s, path: path.child(key).index(i))) }
            return out
        }
        allOf = try list("allOf")
        anyOf = try list("anyOf")
        oneOf = try list("oneOf")
        not = try o["not"].map { (n) throws(FieldError) in try SchemaNode(n, path: path.child("not")) }
        // (allOf/anyOf/oneOf/not are checked without an old value: their transition rules never run.)
        var subschemas = Array(properties.values) + (items.map { [$0] } ?? [])
        if case .schema(let valueSchema) = additionalProperties { subschemas.append(valueSchema) }
        hasTransitionRules =
            rules.contains { $0.program.expression.referencesOldSelf } || subschemas.contains { $0.hasTransitionRules }
        for (i, rule) in rules.enumerated() {
            if let field = undefinedField(in: rule.program.expression) {
                throw FieldError.invalid(
                    path.child("x-kubernetes-validations").index(i).child("rule").text,
                    .string(rule.program.source),
                    "compilation failed: ERROR: undefined field '\(field)'")
            }
        }
    }

    /// The schema a `self`/`oldSelf` member chain refers to (nil when unknown).
    private func resolve(_ e: CELExpr) -> SchemaNode? {
        switch e {
        case .identifier("self"), .identifier("oldSelf"): return self
        case .select(let base, let field):
            guard let node = resolve(base) else { return nil }
            if let child = node.properties[field] { return child }
            if case .schema(let s) = node.additionalProperties { return s }
            return nil
        case .index(let base, _):
            guard let node = resolve(base) else { return nil }
            if let items = node.items { return items }
            if case .schema(let s) = node.additionalProperties { return s }
            return nil
        default: return nil
        }
    }

    /// A field a rule selects that the schema does not declare (kube rejects such rules).
    private func undefinedField(in e: CELExpr) -> String? {
        func declared(_ node: SchemaNode, _ field: String) -> Bool {
            if node.properties[field] != nil || node.keepsUnknownFields { return true }
            if case .schema = node.additionalProperties { return true }
            return false
        }
        switch e {
        case .select(let base, let field), .has(let base, let field):
            if let node = resolve(base), node.type == "object", !declared(node, field) { return field }
            return undefinedField(in: base)
        case .literal, .identifier: return nil
        case .unary(_, let a): return undefinedField(in: a)
        case .index(let a, let b), .binary(_, let a, let b):
            return undefinedField(in: a) ?? undefinedField(in: b)
        case .call(let target, _, let args):
            return target.flatMap { undefinedField(in: $0) }
                ?? args.lazy.compactMap { self.undefinedField(in: $0) }.first
        case .comprehension(_, let range, _, let body):
            return undefinedField(in: range) ?? undefinedField(in: body)
        case .conditional(let a, let b, let c):
            return undefinedField(in: a) ?? undefinedField(in: b) ?? undefinedField(in: c)
        case .list(let items): return items.lazy.compactMap { self.undefinedField(in: $0) }.first
        case .map(let entries):
            return entries.lazy.compactMap { self.undefinedField(in: $0.0) ?? self.undefinedField(in: $0.1) }
                .first
        }
    }

    /// Whether unknown fields of an object value are kept.
    var keepsUnknownFields: Bool {
        if preserveUnknownFields { return true }
        if case .allowed(true) = additionalProperties { return true }
        return false
    }

    /// The schema type as CEL errors quote it ("object" for a map schema).
    var typeForMessages: String { type ?? (intOrString ? "string" : "object") }
}

/// One served version's `openAPIV3Schema` of a CRD: pruning, defaulting and validation as
/// kube-apiserver does them for custom resources.
public struct CRDSchema: Sendable {
    let root: SchemaNode

    /// Parses and checks the schema. Errors name the schema field, under `path` (pass
    /// "spec.versions[0].schema.openAPIV3Schema" so the 422 names the CRD field, as kube does);
    /// an unsupported `x-kubernetes-validations` rule fails here with "compilation failed".
    public init(openAPIV3Schema: JSONValue, path: String = "openAPIV3Schema") throws(FieldError) {
        root = try SchemaNode(openAPIV3Schema, path: FieldPath(path))
    }

    /// The raw schema of `spec`, `status`, ... (for OpenAPI documents).
    public var schema: JSONValue { root.raw }

    /// `x-kubernetes-list-type: map` lists by dotted field path (list elements transparent),
    /// with their `x-kubernetes-list-map-keys`: pass to `ServerSideApply.apply(listMapKeys:)`.
    public var listMapKeys: [String: [String]] {
        var out: [String: [String]] = [:]
        func walk(_ node: SchemaNode, _ path: [String]) {
            if node.listType == "map", !path.isEmpty { out[path.joined(separator: ".")] = node.listMapKeys }
            for (name, child) in node.properties { walk(child, path + [name]) }
            if let items = node.items { walk(items, path) }
        }
        walk(root, [])
        return out
    }

    /// What kube-apiserver does to a custom resource on create/update, in its order: drop
    /// unknown fields, apply defaults, then validate (`old` is the stored object on update).
    public func admit(_ object: inout JSONValue, old: JSONValue?) -> [FieldError] {
        prune(&object)
        applyDefaults(&object)
        return validate(object, old: old)
    }

    // MARK: Pruning

    /// Drops fields the schema does not know, except under `x-kubernetes-preserve-unknown-fields`
    /// and `additionalProperties`; at the root (and in embedded resources) apiVersion, kind and
    /// metadata are kept.
    public func prune(_ object: inout JSONValue) {
        var ignored: [String] = []
        CRDSchema.prune(&object, root, isRoot: true, path: FieldPath(), pruned: &ignored)
    }

    /// The fields `prune` would drop, as kube names them for `fieldValidation=Strict`/`Warn`
    /// (the server answers `strict decoding error: unknown field "spec.foo"`), sorted.
    public func unknownFieldPaths(_ object: JSONValue) -> [String] {
        var copy = object
        var pruned: [String] = []
        CRDSchema.prune(&copy, root, isRoot: true, path: FieldPath(), pruned: &pruned)
        return pruned.sorted()
    }

    private static func prune(
        _ value: inout JSONValue, _ schema: SchemaNode, isRoot: Bool, path: FieldPath, pruned: inout [String]
    ) {
        switch value {
        case .object(var members):
            value = .null
            let keepMeta = isRoot || schema.embeddedResource
            for key in Array(members.keys) {
                if keepMeta, ["apiVersion", "kind", "metadata"].contains(key) { continue }
                if let child = schema.properties[key] {
                    prune(&members[key]!, child, isRoot: false, path: path.child(key), pruned: &pruned)
                } else if case .schema(let valueSchema) = schema.additionalProperties {
                    prune(&members[key]!, valueSchema, isRoot: false, path: path.key(key), pruned: &pruned)
                } else if !schema.keepsUnknownFields {
                    members.removeValue(forKey: key)
                    pruned.append(path.child(key).text)
                }
            }
            value = .object(members)
        case .array(var elements):
            guard let items = schema.items else { return }
            value = .null
            for i in elements.indices {
                prune(&elements[i], items, isRoot: false, path: path.index(i), pruned: &pruned)
            }
            value = .array(elements)
        default:
            return
        }
    }

    // MARK: Defaulting

    /// Applies `default`s where a field is absent, at any depth (also inside array items and map
    /// values). A `null` for a field that is not `nullable` is dropped first (and then defaulted),
    /// as kube-apiserver does.
    public func applyDefaults(_ object: inout JSONValue) {
        // kube never defaults into the root's apiVersion/kind/metadata.
        guard case .object(var members) = object else { return }
        var saved: [String: JSONValue] = [:]
        for key in ["apiVersion", "kind", "metadata"] { saved[key] = members.removeValue(forKey: key) }
        object = .object(members)
        CRDSchema.applyDefaults(&object, root)
        members = object.objectValue ?? [:]
        for (key, value) in saved { members[key] = value }
        object = .object(members)
    }

    private static func applyDefaults(_ value: inout JSONValue, _ schema: SchemaNode) {
        switch value {
        case .object(var members):
            value = .null
            for (name, child) in schema.properties {
                if case .null? = members[name], !child.nullable {
                    members.removeValue(forKey: name)
                }
                if members[name] == nil, let d = child.defaultValue {
                    members[name] = d
                }
                if members[name] != nil { applyDefaults(&members[name]!, child) }
            }
            if case .schema(let valueSchema) = schema.additionalProperties {
                for key in Array(members.keys) where schema.properties[key] == nil {
                    applyDefaults(&members[key]!, valueSchema)
                }
            }
            value = .object(members)
        case .array(var elements):
            guard let items = schema.items else { return }
            value = .null
            for i in elements.indices {
                if case .null = elements[i], !items.nullable, let d = items.defaultValue { elements[i] = d }
                applyDefaults(&elements[i], items)
            }
            value = .array(elements)
        default:
            return
        }
    }

    // MARK: Validation

    /// Schema rules plus `x-kubernetes-validations`; `old` is the stored object on update
    /// (transition rules referencing `oldSelf` only run when an old value exists).
    ///
    /// Updates ratchet (Kubernetes' CRD validation ratcheting, on by default since 1.30, GA in
    /// 1.33): a value the update left unchanged is not validated again, so an object stored
    /// under an older, looser schema can still have its metadata or its other fields changed
    /// (a finalizer removed, say). Rules reading `oldSelf` (transition rules) still run there.
    public func validate(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        CRDSchema.validate(object, old: old, root, path: FieldPath(), isRoot: true, errors: &errors)
        return errors
    }

    static func jsonTypeName(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double(let d): d.rounded() == d && abs(d) < 9.2e18 ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private static func typeMatches(_ v: JSONValue, _ schema: SchemaNode) -> Bool {
        if schema.intOrString {
            switch v {
            case .string: return true
            case .int: return true
            case .double(let d): return d.rounded() == d
            default: return false
            }
        }
        guard let type = schema.type else { return true }
        switch (type, v) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool),
            ("integer", .int),
            ("number", .int), ("number", .double):
            return true
        case ("integer", .double(let d)): return d.rounded() == d
        default: return false
        }
    }

    /// Go's `%v` for a float64 bound ("1", "1.5").
    private static func number(_ d: Double) -> String { JSONValue.double(d).description }

    private static func validate(
        _ value: JSONValue, old: JSONValue?, _ schema: SchemaNode, path: FieldPath, isRoot: Bool,
        errors: inout [FieldError]
    ) {
        if let old, value == old {
            // Ratcheting (see validate(_:old:)): only the transition rules of an unchanged value run.
            validateTransitionRules(value, schema, path: path, errors: &errors)
            return
        }
        let p = path.text
        if case .null = value {
            if schema.nullable { return }
            if schema.type != nil || schema.intOrString {
                let expected = schema.intOrString ? "integer,string" : (schema.type ?? "")
                errors.append(
                    FieldError.invalid(p, "null", "\(p) in body must be of type \(expected): \"null\""))
            }
            return
        }
        guard typeMatches(value, schema) else {
            let actual = jsonTypeName(value)
            let expected = schema.intOrString ? "integer,string" : (schema.type ?? "")
            errors.append(
                FieldError(
                    .typeInvalid, p, value: .string(actual),
                    detail: "\(p) in body must be of type \(expected): \"\(actual)\""))
            return
        }
        if let allowed = schema.enumValues, !allowed.contains(where: { Patch.semanticallyEqual($0, value) }) {
            errors.append(
                FieldError.notSupported(p, value, supported: allowed.map { $0.stringValue ?? $0.description })
            )
        }
        switch value {
        case .string(let s):
            if let pattern = schema.pattern, let regex = schema.patternRegex, !regex.matches(s) {
                errors.append(FieldError.invalid(p, value, "\(p) in body should match '\(pattern)'"))
            }
            if let min = schema.minLength, s.unicodeScalars.count < min {
                errors.append(
                    FieldError.invalid(p, value, "\(p) in body should be at least \(min) chars long"))
            }
            if let max = schema.maxLength, s.unicodeScalars.count > max {
                errors.append(FieldError.tooLong(p, maxLength: max))
            }
            if let format = schema.format, !Formats.isValid(s, format: format) {
                errors.append(
                    FieldError.invalid(
                        p, value, "\(p) in body must be of type \(format): \(FieldError.goQuote(s))"))
            }
        case .int, .double:
            let d = value.doubleValue ?? 0
            if let min = schema.minimum {
                if schema.exclusiveMinimum, d <= min {
                    errors.append(
                        FieldError.invalid(p, value, "\(p) in body should be greater than \(number(min))"))
                } else if d < min {
                    errors.append(
                        FieldError.invalid(
                            p, value, "\(p) in body should be greater than or equal to \(number(min))"))
                }
            }
            if let max = schema.maximum {
                if schema.exclusiveMaximum, d >= max {
                    errors.append(
                        FieldError.invalid(p, value, "\(p) in body should be less than \(number(max))"))
                } else if d > max {
                    errors.append(
                        FieldError.invalid(
                            p, value, "\(p) in body should be less than or equal to \(number(max))"))
                }
            }
        case .array(let elements):
            if let min = schema.minItems, elements.count < min {
                errors.append(
                    FieldError.invalid(
                        p, .int(Int64(elements.count)), "\(p) in body should have at least \(min) items"))
            }
            if let max = schema.maxItems, elements.count > max {
                errors.append(FieldError.tooMany(p, actual: elements.count, max: max))
            }
            if schema.uniqueItems, hasDuplicates(elements) {
                errors.append(FieldError.invalid(p, "", "\(p) in body shouldn't contain duplicates"))
            }
            validateListType(elements, schema, path: path, errors: &errors)
            if let items = schema.items {
                let oldElements = old?.arrayValue
                for (i, element) in elements.enumerated() {
                    validate(
                        element, old: correlatedOldElement(element, oldElements, schema), items,
                        path: path.index(i),
                        isRoot: false, errors: &errors)
                }
            }
        case .object(let members):
            for name in schema.required where members[name] == nil {
                errors.append(FieldError.required(path.child(name).text))
            }
            if let min = schema.minProperties, members.count < min {
                errors.append(
                    FieldError.invalid(
                        p, .int(Int64(members.count)), "\(p) in body should have at least \(min) properties"))
            }
            if let max = schema.maxProperties, members.count > max {
                errors.append(FieldError.tooMany(p, actual: members.count, max: max))
            }
            for key in members.keys.sorted() {
                let member = members[key] ?? .null
                if isRoot, ["apiVersion", "kind", "metadata"].contains(key) {
                    continue
                }
                let oldMember = old?[key] == .null ? nil : old?[key]
                if let child = schema.properties[key] {
                    validate(
                        member, old: oldMember, child, path: path.child(key), isRoot: false, errors: &errors)
                } else {
                    switch schema.additionalProperties {
                    case .schema(let valueSchema):
                        validate(
                            member, old: oldMember, valueSchema, path: path.key(key), isRoot: false,
                            errors: &errors)
                    case .allowed(false):
                        let childPath = path.child(key).text
                        errors.append(
                            FieldError.invalid(childPath, "", "\(childPath) in body is a forbidden property"))
                    default: break
                    }
                }
            }
        default:
            break
        }
        validateCombinators(value, schema, path: path, errors: &errors)
        validateRules(value, old: old, schema, path: path, errors: &errors)
    }

    private static func validateCombinators(
        _ value: JSONValue, _ schema: SchemaNode, path: FieldPath, errors: inout [FieldError]
    ) {
        let p = path.text
        func passes(_ s: SchemaNode) -> Bool {
            var e: [FieldError] = []
            validate(value, old: nil, s, path: path, isRoot: false, errors: &e)
            return e.isEmpty
        }
        for s in schema.allOf {
            validate(value, old: nil, s, path: path, isRoot: false, errors: &errors)
        }
        if !schema.anyOf.isEmpty, !schema.anyOf.contains(where: passes) {
            errors.append(
                FieldError.invalid(
                    p, .string(jsonTypeName(value)), "\(p) in body must validate at least one schema (anyOf)")
            )
        }
        if !schema.oneOf.isEmpty {
            let count = schema.oneOf.filter(passes).count
            if count != 1 {
                errors.append(
                    FieldError.invalid(
                        p, .string(jsonTypeName(value)),
                        "\(p) in body must validate one and only one schema (oneOf)"))
            }
        }
        if let not = schema.not, passes(not) {
            errors.append(
                FieldError.invalid(
                    p, .string(jsonTypeName(value)), "\(p) in body must not validate the schema (not)"))
        }
    }

    /// The transition rules in and below a value an update left unchanged (`oldSelf` is the
    /// value itself; list elements have an old value only in `x-kubernetes-list-type: map` lists).
    private static func validateTransitionRules(
        _ value: JSONValue, _ schema: SchemaNode, path: FieldPath, errors: inout [FieldError]
    ) {
        guard schema.hasTransitionRules else { return }
        switch value {
        case .object(let members):
            for key in members.keys.sorted() {
                let child: SchemaNode?
                if let property = schema.properties[key] {
                    child = property
                } else if case .schema(let valueSchema) = schema.additionalProperties {
                    child = valueSchema
                } else {
                    child = nil
                }
                guard let child, let member = members[key] else { continue }
                validateTransitionRules(
                    member, child, path: schema.properties[key] == nil ? path.key(key) : path.child(key), errors: &errors)
            }
        case .array(let elements):
            if let items = schema.items, schema.listType == "map" {
                for (i, element) in elements.enumerated() {
                    validateTransitionRules(element, items, path: path.index(i), errors: &errors)
                }
            }
        default:
            break
        }
        validateRules(value, old: value, schema, path: path, onlyTransitions: true, errors: &errors)
    }

    private static func validateRules(
        _ value: JSONValue, old: JSONValue?, _ schema: SchemaNode, path: FieldPath, onlyTransitions: Bool = false,
        errors: inout [FieldError]
    ) {
        for rule in schema.rules {
            let isTransition = rule.program.expression.referencesOldSelf
            if isTransition, old == nil { continue }
            if onlyTransitions, !isTransition { continue }
            var errorPath = path
            if let fieldPath = rule.fieldPath, !fieldPath.isEmpty {
                errorPath = FieldPath(
                    path.text + (fieldPath.hasPrefix(".") || fieldPath.hasPrefix("[") ? "" : ".") + fieldPath)
                if path.text.isEmpty, errorPath.text.hasPrefix(".") {
                    errorPath = FieldPath(String(errorPath.text.dropFirst()))
                }
            }
            let detail: String
            do {
                let result = try rule.program.evaluate(self: value, oldSelf: isTransition ? old : nil)
                if result == .bool(true) { continue }
                guard case .bool = result else {
                    errors.append(
                        FieldError.invalid(
                            errorPath.text, .string(schema.typeForMessages),
                            "rule did not evaluate to a bool: \(rule.program.source)"))
                    continue
                }
                detail = rule.message ?? "failed rule: \(rule.program.source)"
            } catch {
                detail = "\(rule.message ?? "failed rule: \(rule.program.source)"): \(error.message)"
            }
            switch rule.reason {
            case .forbidden?: errors.append(FieldError.forbidden(errorPath.text, detail))
            case .required?: errors.append(FieldError.required(errorPath.text, detail))
            case .duplicate?:
                errors.append(FieldError.duplicate(errorPath.text, .string(schema.typeForMessages)))
            default:
                errors.append(FieldError.invalid(errorPath.text, .string(schema.typeForMessages), detail))
            }
        }
    }

    /// Old list elements correlate only for `x-kubernetes-list-type: map` (by the map keys).
    private static func correlatedOldElement(
        _ element: JSONValue, _ oldElements: [JSONValue]?, _ schema: SchemaNode
    ) -> JSONValue? {
        guard schema.listType == "map", let oldElements else { return nil }
        let keys = schema.listMapKeys
        return oldElements.first { old in keys.allSatisfy { old[$0] == element[$0] } }
    }

    private static func hasDuplicates(_ elements: [JSONValue]) -> Bool {
        for i in elements.indices {
            for j in elements.indices where j > i && Patch.semanticallyEqual(elements[i], elements[j]) {
                return true
            }
        }
        return false
    }

    private static func validateListType(
        _ elements: [JSONValue], _ schema: SchemaNode, path: FieldPath, errors: inout [FieldError]
    ) {
        switch schema.listType {
        case "set":
            for (i, e) in elements.enumerated()
            where elements[..<i].contains(where: { Patch.semanticallyEqual($0, e) }) {
                errors.append(FieldError.duplicate(path.index(i).text, e))
            }
        case "map":
            var seen: [JSONValue] = []
            for (i, e) in elements.enumerated() {
                var key: [String: JSONValue] = [:]
                for k in schema.listMapKeys {
                    if case .object(let o) = e, let v = o[k] { key[k] = v }
                }
                let keyValue = JSONValue.object(key)
                if seen.contains(keyValue) {
                    errors.append(FieldError.duplicate(path.index(i).text, keyValue))
                } else {
                    seen.append(keyValue)
                }
            }
        default:
            break
        }
    }
}

/// String formats of OpenAPI that kube-apiserver checks; unknown formats pass, as in kube.
enum Formats {
    static func isValid(_ s: String, format: String) -> Bool {
        switch format {
        case "date-time", "datetime": return RFC3339.isDateTime(s)
        case "date": return RFC3339.isDate(s)
        case "byte": return Data(base64Encoded: s) != nil
        case "uuid": return UUID(uuidString: s) != nil
        case "int-or-string": return true
        case "ipv4":
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
        default: return true
        }
    }
}
