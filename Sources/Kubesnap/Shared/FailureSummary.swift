import KubeClient
import KubeController
import KubesnapAPI
import Restic

/// How a restic failure shows on a resource: an API.md reason, a message, and whether a retry
/// may fix it by itself.
struct FailureSummary: Sendable, Equatable {
    var reason: String
    var message: String
    var transient: Bool

    init(reason: String, message: String, transient: Bool) {
        self.reason = reason
        self.message = message
        self.transient = transient
    }

    /// The reason of restic's "repository is already locked".
    static let repositoryLocked = "RepositoryLocked"

    /// Whether `error` is the API server's (a write or read that failed), not the backend's:
    /// such errors never give a backend reason or change a phase; they are retried with backoff.
    static func isAPIFailure(_ error: any Error) -> Bool {
        switch error {
        case is KubeError: return true
        case let error as ControllerError:
            if case .api = error { return true }
            if case .conflict = error { return true }
            return false
        case let error as KubesnapError:
            if case .api = error { return true }
            return false
        default: return false
        }
    }

    /// Reads any error of a data operation. `defaultReason` names what failed (`BackupFailed`).
    init(_ error: any Error, defaultReason: String) {
        if let error = error as? ResticError {
            let text = error.description
            switch error {
            case .commandFailed(let failure):
                switch failure.kind {
                case .backendUnreachable: self.init(reason: Kubesnap.Reason.backendUnreachable, message: text, transient: true)
                case .wrongPassword: self.init(reason: Kubesnap.Reason.authenticationFailed, message: text, transient: false)
                case .accessDenied: self.init(reason: Kubesnap.Reason.authenticationFailed, message: text, transient: false)
                case .locked: self.init(reason: Self.repositoryLocked, message: text, transient: true)
                case .repositoryNotFound: self.init(reason: Kubesnap.Reason.backendUnreachable, message: text, transient: true)
                case .sourceNotFound: self.init(reason: Kubesnap.Reason.sourceNotFound, message: text, transient: false)
                case .snapshotNotFound: self.init(reason: Kubesnap.Reason.snapshotNotFound, message: text, transient: false)
                default: self.init(reason: defaultReason, message: text, transient: false)
                }
            case .executableNotFound: self.init(reason: "ResticNotFound", message: text, transient: true)
            case .invalidArgument: self.init(reason: Kubesnap.Reason.invalidSpec, message: text, transient: false)
            default: self.init(reason: defaultReason, message: text, transient: false)
            }
        } else if let failure = error as? AccessFailure {
            self.init(reason: failure.reason, message: failure.message, transient: failure.transient)
        } else {
            self.init(reason: defaultReason, message: "\(error)", transient: true)
        }
    }
}
