import Foundation
import KubesnapAPI
import Testing

/// `kubesnap dev` installs the CRDs embedded in the binary: they must be exactly crds/*.yaml.
@Suite struct EmbeddedCRDsTests {
    @Test func embeddedCRDsEqualTheFilesOfCRDs() throws {
        let directory = E2E.repositoryRoot + "/crds"
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        let embedded = EmbeddedCRDs.files.map(\.name).sorted()
        #expect(
            embedded == onDisk,
            "EmbeddedCRDs.files names \(embedded) differ from crds/*.yaml \(onDisk): run `make generate`")
        for file in EmbeddedCRDs.files {
            let path = directory + "/" + file.name
            guard let bytes = FileManager.default.contents(atPath: path) else { continue }
            #expect(
                Array(file.yaml.utf8) == Array(bytes),
                "Sources/KubesnapAPI/EmbeddedCRDs.swift's \(file.name) differs from crds/\(file.name): run `make generate`"
            )
        }
    }
}
