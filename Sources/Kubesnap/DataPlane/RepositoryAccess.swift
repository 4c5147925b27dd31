import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Why a Repository cannot be opened: a reason from API.md and a message a person can act on
/// (never Secret data).
struct AccessFailure: Error, Sendable, Equatable {
    var reason: String
    var message: String
    /// A retry may fix it by itself (the backend comes back); otherwise it waits for a change.
    var transient = false
}

/// Turns a Repository object (plus its Secrets, from the informer cache) into a
/// `ResticRepository`, confining local paths to the repository root.
struct RepositoryAccess: Sendable {
    let secrets: Store<Secret>
    let repositoryRoot: PathConfinement
    let cacheDirectory: String
    let resticExecutable: String
    let registry: ResticProcessRegistry
    let logger: Logger

    /// The backend of `repository` (no Secret needed): its location or why it is invalid.
    func backend(of repository: Repository, credentials: S3Credentials? = nil) throws(AccessFailure) -> ResticBackend {
        let backend = repository.spec.backend
        switch (backend.local, backend.s3) {
        case (let local?, nil):
            let confined: ConfinedPath
            do {
                confined = try repositoryRoot.confine(local.path, field: "spec.backend.local.path")
            } catch {
                throw AccessFailure(reason: Kubesnap.Reason.invalidSpec, message: error.message)
            }
            return .local(path: confined.resolvedPath)
        case (nil, let s3?):
            return .s3(
                endpoint: s3.endpoint, bucket: s3.bucket, prefix: s3.prefix, region: s3.region,
                credentials: credentials ?? S3Credentials(accessKeyID: "", secretAccessKey: ""))
        case (nil, nil), (.some, .some):
            // The validation's own message (RepositorySpec.invalidSpecErrors).
            throw AccessFailure(
                reason: Kubesnap.Reason.invalidSpec, message: repository.spec.invalidSpecErrors().joined(separator: "; "))
        }
    }

    /// The backend location (`status.backendURL`) of `repository`, or nil if its spec is invalid.
    func location(of repository: Repository) -> String? {
        // An invalid spec is the Repository's own InvalidSpec condition; callers treat nil as
        // "no location" (nothing matched, nothing written).
        guard let backend = try? backend(of: repository) else { return nil }
        return try? backend.location()
    }

    /// Opens `repository`: Secrets read from the cache, paths confined, restic handle made.
    func open(_ repository: Repository) throws(AccessFailure) -> ResticRepository {
        let namespace = repository.metadata.namespace ?? ""
        let secretRef = repository.spec.encryptionSecret
        let password = try secretValue(
            namespace: namespace, name: secretRef.name, key: secretRef.effectiveKey, field: "spec.encryptionSecret")
        return try make(backend(of: repository, credentials: credentials(of: repository)), password: password)
    }

    /// A restic handle on `repository`'s backend that can wipe it but not read it: the
    /// password is not needed to remove a repository, only the backend's credentials.
    func openForWipe(_ repository: Repository) throws(AccessFailure) -> ResticRepository {
        try make(backend(of: repository, credentials: credentials(of: repository)), password: "unused-for-wipe")
    }

    /// The S3 credentials from `spec.backend.s3.credentialsSecret`; nil for other backends.
    private func credentials(of repository: Repository) throws(AccessFailure) -> S3Credentials? {
        guard let s3 = repository.spec.backend.s3 else { return nil }
        let namespace = repository.metadata.namespace ?? ""
        let id = try secretValue(
            namespace: namespace, name: s3.credentialsSecret, key: "AWS_ACCESS_KEY_ID",
            field: "spec.backend.s3.credentialsSecret")
        let key = try secretValue(
            namespace: namespace, name: s3.credentialsSecret, key: "AWS_SECRET_ACCESS_KEY",
            field: "spec.backend.s3.credentialsSecret")
        return S3Credentials(accessKeyID: id, secretAccessKey: key)
    }

    private func make(_ backend: ResticBackend, password: String) throws(AccessFailure) -> ResticRepository {
        do {
            return try ResticRepository(
                backend: backend, password: password, cacheDirectory: cacheDirectory, executable: resticExecutable,
                registry: registry, logger: logger)
        } catch {
            switch error {
            case .executableNotFound(let message):
                throw AccessFailure(reason: "ResticNotFound", message: message, transient: true)
            default:
                throw AccessFailure(reason: Kubesnap.Reason.invalidSpec, message: error.description)
            }
        }
    }

    /// The resourceVersions of the Secrets `repository` uses (to notice a change).
    func secretVersions(of repository: Repository) -> String {
        let namespace = repository.metadata.namespace ?? ""
        var names = [repository.spec.encryptionSecret.name]
        if let s3 = repository.spec.backend.s3 { names.append(s3.credentialsSecret) }
        return names.map { name in
            secrets.get(ObjectKey(namespace: namespace, name: name))?.metadata.resourceVersion ?? "-"
        }.joined(separator: ",")
    }

    private func secretValue(namespace: String, name: String, key: String, field: String) throws(AccessFailure) -> String {
        guard let secret = secrets.get(ObjectKey(namespace: namespace, name: name)) else {
            throw AccessFailure(
                reason: Kubesnap.Reason.secretNotFound,
                message: "Secret \"\(name)\" (\(field)) was not found in namespace \"\(namespace)\"")
        }
        if let value = secret.text(key) { return value }
        throw AccessFailure(
            reason: Kubesnap.Reason.secretNotFound,
            message: "Secret \"\(name)\" (\(field)) has no non-empty key \"\(key)\"")
    }
}
