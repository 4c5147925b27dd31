import Foundation
import KubesnapAPI
import Restic

/// The operator process's data plane, one of each, made once by `KubesnapOperator` and shared by
/// the controllers (each keeps only the parts it uses): repository access from the cache's
/// Secrets, the line for long data operations, per-repository access control, prune batching
/// and the shared restic snapshot listings.
struct DataPlane: Sendable {
    let access: RepositoryAccess
    let gate: RepositoryGate
    let mover: DataMover
    let batcher: PruneBatcher
    let catalog: SnapshotCatalog
    let registry: ResticProcessRegistry
    /// Where sources may be read from.
    let sourceRoot: PathConfinement
    /// When this operator process began.
    let processStarted: ContinuousClock.Instant
    /// Test-only stops inside data operations (off unless configured).
    var pausePoints = PausePoints()
}
