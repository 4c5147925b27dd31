/// A string enum that decodes any value: known values get a case, anything else is kept in
/// `.unknown` so that an object written by a newer kubesnap (or edited by hand) still decodes.
///
/// An enum lists its known cases (`knownValues`), spells each in `rawValue`, and has a
/// `case unknown(String)`; parsing and Codable come from here. (Equality is the standard
/// library's for RawRepresentable: by `rawValue`, so `rawValue` must not compare values.)
public protocol OpenStringEnum: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible
where RawValue == String {
    /// The values this version knows (the CRD's `enum`).
    static var knownValues: [Self] { get }
    /// Any other value (witnessed by the enum's `case unknown(String)`).
    static func unknown(_ value: String) -> Self
    init(rawValue: String)
}

extension OpenStringEnum {
    public init(rawValue: String) {
        self = Self.knownValues.first { $0.rawValue == rawValue } ?? .unknown(rawValue)
    }

    public var description: String { rawValue }
    public var isKnown: Bool { Self.knownValues.contains(self) }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// What removing a resource does to its backend data.
public enum DeletionPolicy: OpenStringEnum {
    case delete
    case retain
    /// Never deletes data: treated as Retain and reported.
    case unknown(String)

    public static let knownValues: [DeletionPolicy] = [.delete, .retain]

    public var rawValue: String {
        switch self {
        case .delete: return "Delete"
        case .retain: return "Retain"
        case .unknown(let value): return value
        }
    }

    /// Whether data may be removed: only for a known `Delete`.
    public var deletesData: Bool { self == .delete }
}

/// `Repository.status.phase`.
public enum RepositoryPhase: OpenStringEnum {
    case pending, ready, failed, deleting
    case unknown(String)

    public static let knownValues: [RepositoryPhase] = [.pending, .ready, .failed, .deleting]

    public var rawValue: String {
        switch self {
        case .pending: return "Pending"
        case .ready: return "Ready"
        case .failed: return "Failed"
        case .deleting: return "Deleting"
        case .unknown(let value): return value
        }
    }
}

/// `Snapshot.status.phase`.
public enum SnapshotPhase: OpenStringEnum {
    case pending, running, ready, failed, deleting
    case unknown(String)

    public static let knownValues: [SnapshotPhase] = [.pending, .running, .ready, .failed, .deleting]

    public var rawValue: String {
        switch self {
        case .pending: return "Pending"
        case .running: return "Running"
        case .ready: return "Ready"
        case .failed: return "Failed"
        case .deleting: return "Deleting"
        case .unknown(let value): return value
        }
    }

    /// Ready or Failed: nothing more happens until the object changes.
    public var isFinished: Bool { self == .ready || self == .failed }
}

/// `BackupSession.status.phase`.
public enum BackupSessionPhase: OpenStringEnum {
    case pending, running, ready, failed
    case unknown(String)

    public static let knownValues: [BackupSessionPhase] = [.pending, .running, .ready, .failed]

    public var rawValue: String {
        switch self {
        case .pending: return "Pending"
        case .running: return "Running"
        case .ready: return "Ready"
        case .failed: return "Failed"
        case .unknown(let value): return value
        }
    }

    /// Ready or Failed: every Snapshot of the session has finished.
    public var isFinished: Bool { self == .ready || self == .failed }
}

/// `Repository.status.storage`.
public enum StorageType: OpenStringEnum {
    case local, s3
    case unknown(String)

    public static let knownValues: [StorageType] = [.local, .s3]

    public var rawValue: String {
        switch self {
        case .local: return "local"
        case .s3: return "s3"
        case .unknown(let value): return value
        }
    }
}
