/// The spec checks the CRD schema and its CEL rules make, repeated in Swift so that the operator
/// can report `InvalidSpec` (naming the field) even on a server that does not enforce them.
/// Each message names the field, as kube-apiserver does.
extension RepositorySpec {
    public func validationErrors() -> [String] {
        var errors: [String] = []
        switch (backend.local, backend.s3) {
        case (nil, nil), (.some, .some):
            errors.append("spec.backend: exactly one of spec.backend.local and spec.backend.s3 must be set")
        case (.some(let local), nil):
            if local.path.isEmpty { errors.append("spec.backend.local.path: Required value") }
        case (nil, .some(let s3)):
            if s3.bucket.isEmpty { errors.append("spec.backend.s3.bucket: Required value") }
            if s3.credentialsSecret.isEmpty { errors.append("spec.backend.s3.credentialsSecret: Required value") }
        }
        if encryptionSecret.name.isEmpty { errors.append("spec.encryptionSecret.name: Required value") }
        if let policy = deletionPolicy, !policy.isKnown {
            errors.append("spec.deletionPolicy: Unsupported value: \"\(policy.rawValue)\": supported values: \"Delete\", \"Retain\"")
        }
        return errors
    }
}

extension SnapshotSpec {
    public func validationErrors() -> [String] {
        var errors: [String] = []
        if repository.isEmpty { errors.append("spec.repository: Required value") }
        switch (source, snapshotID) {
        case (nil, nil), (.some, .some):
            errors.append("spec: exactly one of spec.source and spec.snapshotID must be set")
        case (.some(let source), nil):
            if source.path.isEmpty { errors.append("spec.source.path: Required value") }
        case (nil, .some(let id)):
            if !(8...64).contains(id.count) || !id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
                errors.append("spec.snapshotID: Invalid value: \"\(id)\": must be 8 to 64 lowercase hex digits")
            }
        }
        if let policy = deletionPolicy, !policy.isKnown {
            errors.append("spec.deletionPolicy: Unsupported value: \"\(policy.rawValue)\": supported values: \"Delete\", \"Retain\"")
        }
        return errors
    }
}

extension BackupSessionSpec {
    public func validationErrors() -> [String] {
        var errors: [String] = []
        if source.path.isEmpty { errors.append("spec.source.path: Required value") }
        if repositories.isEmpty { errors.append("spec.repositories: Required value: at least one repository") }
        var seen: Set<String> = []
        for (index, name) in repositories.enumerated() {
            if name.isEmpty { errors.append("spec.repositories[\(index)]: Required value") }
            if !seen.insert(name).inserted {
                errors.append("spec.repositories[\(index)]: Duplicate value: \"\(name)\"")
            }
        }
        if let policy = deletionPolicy, !policy.isKnown {
            errors.append("spec.deletionPolicy: Unsupported value: \"\(policy.rawValue)\": supported values: \"Delete\", \"Retain\"")
        }
        return errors
    }
}
