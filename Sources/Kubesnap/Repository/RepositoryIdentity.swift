import Foundation
import KubesnapAPI

/// What a Repository's refresh does with what it found at its location, given the restic
/// repository id it knew (`status.repositoryID`), the Snapshots that reference it and the
/// `kubesnap.io/reinitialize` annotation. Pure: the reconciler reads, this decides.
///
/// A location that held a repository kubesnap knew (an id recorded, or Snapshots made there) is
/// never initialised again without the annotation naming the lost id.
enum RepositoryIdentity {
    /// What the location holds.
    enum Found: Equatable {
        /// No restic repository (empty, missing, or not a repository).
        case nothing
        /// A restic repository with this id.
        case repository(id: String)
    }

    /// The decision.
    enum Verdict: Equatable {
        /// Open it (the id is the known one, or none was known): record `id`.
        case open(id: String)
        /// Nothing was ever there for kubesnap: create a repository (first use).
        case initialize
        /// The annotation named the lost id: create a new repository (or take the one found),
        /// and mark the old one's Snapshots lost.
        case startAfresh
        /// The known repository is gone: Failed, nothing written.
        case lost
        /// Another repository is at the location: Failed, nothing written.
        case replaced(found: String)
        /// The annotation names another id than the lost one: refused, nothing written.
        case refused(named: String)
    }

    /// - Parameters:
    ///   - known: `status.repositoryID`.
    ///   - referenced: how many Snapshots reference the Repository with a restic snapshot id.
    ///   - annotation: the value of `kubesnap.io/reinitialize`, if set.
    static func judge(known: String?, referenced: Int, found: Found, annotation: String?) -> Verdict {
        let annotation = annotation?.trimmingCharacters(in: .whitespaces)
        switch found {
        case .repository(let id):
            guard let known, known != id else { return .open(id: id) }
            if let annotation, !annotation.isEmpty {
                return annotation == known ? .startAfresh : .refused(named: annotation)
            }
            return .replaced(found: id)
        case .nothing:
            guard known != nil || referenced > 0 else { return .initialize }
            if let annotation, !annotation.isEmpty {
                return known != nil && annotation == known ? .startAfresh : .refused(named: annotation)
            }
            return .lost
        }
    }

    /// The message of a `RepositoryLost` condition.
    static func lostMessage(location: String, known: String?, referenced: Int) -> String {
        "the restic repository \(known.map { "with id \($0)" } ?? "(id not recorded)") is no longer at \(location), which is empty or not a restic repository; \(referenced) Snapshot(s) referenced it. Nothing was written there. If its volume is not mounted, mount it; to start afresh with a new, empty repository, annotate the Repository \(Kubesnap.Annotation.reinitialize)=\(known ?? "<the lost repositoryID>")"
    }

    /// The message of a `RepositoryReplaced` condition.
    static func replacedMessage(location: String, known: String, found: String, referenced: Int) -> String {
        "\(location) holds another restic repository (id \(found)) than this Repository's (id \(known)); \(referenced) Snapshot(s) referenced the old one. Nothing was written there. To take the repository found there, annotate the Repository \(Kubesnap.Annotation.reinitialize)=\(known)"
    }

    /// The message of a `ReinitializeRefused` condition.
    static func refusedMessage(location: String, known: String?, named: String) -> String {
        if let known {
            return "the annotation \(Kubesnap.Annotation.reinitialize)=\(named) does not name the lost repository id \(known): nothing was initialised at \(location)"
        }
        return "the annotation \(Kubesnap.Annotation.reinitialize)=\(named) cannot be honoured: no repository id is recorded for \(location), so nothing was initialised there"
    }

    /// The Ready Snapshots (as `(key, snapshot id)`) whose restic snapshot is not in `listing`.
    static func missing<Key>(_ ready: [(Key, String)], listing: Set<String>) -> [(Key, String)] {
        ready.filter { !listing.contains($0.1) }
    }

    /// The `verificationStatus` of a Snapshot whose data is gone.
    static func missingText(_ id: String) -> String {
        "snapshot \(id) is no longer in the repository"
    }
}
