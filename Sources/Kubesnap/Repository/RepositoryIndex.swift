import KubeClient
import KubeController
import KubesnapAPI

/// The Repository cache's indexes.
enum RepositoryIndex {
    /// Repositories by `namespace/secretName` (encryption and S3 credentials Secrets).
    static let bySecret = "repositories-by-secret"
    /// Repositories by backend location (`local:/abs/path`, `s3:host/bucket/prefix`).
    static let byLocation = "repositories-by-location"

    static func add(to informer: Informer<Repository>, access: RepositoryAccess) {
        informer.addIndex(bySecret, secretValues)
        informer.addIndex(byLocation) { repository in access.location(of: repository).map { [$0] } ?? [] }
    }

    static func secretValues(_ repository: Repository) -> [String] {
        let namespace = repository.metadata.namespace ?? ""
        var values = ["\(namespace)/\(repository.spec.encryptionSecret.name)"]
        if let name = repository.spec.backend.s3?.credentialsSecret { values.append("\(namespace)/\(name)") }
        return values
    }

    static func secretValue(_ secret: Secret) -> String {
        "\(secret.metadata.namespace ?? "")/\(secret.metadata.name ?? "")"
    }
}
