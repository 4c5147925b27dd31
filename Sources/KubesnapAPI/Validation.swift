/// The spec checks the CRD schema and its CEL rules make, repeated in Swift so that the operator
/// can report `InvalidSpec` (naming the field) even on a server that does not enforce them.
/// Each message names the field, as kube-apiserver does. This is the one place the operator
/// checks a spec: each reconciler calls `invalidSpecErrors()` before acting.
///
/// `validationErrors()` is everything the CRD rejects; `invalidSpecErrors()` leaves out an
/// unknown `spec.deletionPolicy`, which API.md has the operator treat as Retain and report
/// (an `UnknownDeletionPolicy` Warning), never fail: an unknown policy never deletes data.
private func deletionPolicyErrors(_ policy: DeletionPolicy?) -> [String] {
    guard let policy, !policy.isKnown else { return [] }
    return ["spec.deletionPolicy: Unsupported value: \"\(policy.rawValue)\": supported values: \"Delete\", \"Retain\""]
}

extension RepositorySpec {
    public func validationErrors() -> [String] { invalidSpecErrors() + deletionPolicyErrors(deletionPolicy) }

    public func invalidSpecErrors() -> [String] {
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
        return errors
    }
}

extension SnapshotSpec {
    public func validationErrors() -> [String] { invalidSpecErrors() + deletionPolicyErrors(deletionPolicy) }

    public func invalidSpecErrors() -> [String] {
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
        return errors
    }
}

extension BackupSessionSpec {
    public func validationErrors() -> [String] { invalidSpecErrors() + deletionPolicyErrors(deletionPolicy) }

    public func invalidSpecErrors() -> [String] {
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
        return errors
    }
}

extension RestoreSessionSpec {
    public func validationErrors() -> [String] { invalidSpecErrors() }

    public func invalidSpecErrors() -> [String] {
        var errors: [String] = []
        if snapshot.isEmpty { errors.append("spec.snapshot: Required value") }
        if let target {
            switch target.path {
            case nil: errors.append("spec.target: exactly one target must be set: spec.target.path")
            case .some(let path) where path.isEmpty: errors.append("spec.target.path: Required value")
            default: break
            }
        }
        return errors
    }
}

extension BackupScheduleSpec {
    public func validationErrors() -> [String] { invalidSpecErrors() + deletionPolicyErrors(deletionPolicy) }

    /// Every spec error, each naming its field: the schedule and time zone (`CronSchedule`), the
    /// source, the repositories, the deadline and the retention rules.
    public func invalidSpecErrors() -> [String] {
        var errors = CronSchedule.specErrors(schedule: schedule, timeZone: timeZone)
        if source.path.isEmpty { errors.append("spec.source.path: Required value") }
        errors += BackupSessionSpec(source: source, repositories: repositories).invalidSpecErrors().filter {
            $0.hasPrefix("spec.repositories")
        }
        if let deadline = startingDeadlineSeconds, deadline < 0 {
            errors.append("spec.startingDeadlineSeconds: Invalid value: \(deadline): must be greater than or equal to 0")
        }
        if let retention {
            let keeps: [(String, Int?)] = [
                ("keepLast", retention.keepLast), ("keepHourly", retention.keepHourly),
                ("keepDaily", retention.keepDaily), ("keepWeekly", retention.keepWeekly),
                ("keepMonthly", retention.keepMonthly), ("keepYearly", retention.keepYearly),
                ("keepFailed", retention.keepFailed),
            ]
            for (field, value) in keeps {
                if let value, value < 0 {
                    errors.append("spec.retention.\(field): Invalid value: \(value): must be greater than or equal to 0")
                }
            }
            if let maxAge = retention.maxAge {
                do {
                    _ = try GoDuration.seconds(maxAge, units: "smhdw")
                } catch {
                    errors.append("spec.retention.maxAge: Invalid value: \"\(maxAge)\": \(error.message)")
                }
            }
        }
        return errors
    }
}

extension BackupSchedule {
    /// The spec's errors and the name's (at most 47 characters, so that its sessions' names fit
    /// a label value): what the CRD rejects, checked again by the operator.
    public func invalidSpecErrors() -> [String] {
        var errors: [String] = []
        let name = metadata.name ?? ""
        if name.count > Self.maxNameLength {
            errors.append(
                "metadata.name: Too long: may not be more than \(Self.maxNameLength) characters (the session names <schedule>-YYYYMMDD-HHMMSS must fit a label value)")
        }
        return errors + spec.invalidSpecErrors()
    }
}
