import Foundation
import Testing

@testable import Kubesnap
@testable import Restic

/// What a refresh decides from the id it knew, the Snapshots made there, what the location holds
/// and the `kubesnap.io/reinitialize` annotation (issue 27).
@Suite("Repository identity")
struct RepositoryIdentityTests {
    let old = String(repeating: "a", count: 64)
    let new = String(repeating: "b", count: 64)

    @Test("first use: nothing known, nothing referenced, nothing there → initialise")
    func firstUseInitializes() {
        #expect(RepositoryIdentity.judge(known: nil, referenced: 0, found: .nothing, annotation: nil) == .initialize)
    }

    @Test("a known id or a referencing Snapshot and an empty location → lost, never initialised")
    func lossIsNeverInitialized() {
        #expect(RepositoryIdentity.judge(known: old, referenced: 0, found: .nothing, annotation: nil) == .lost)
        #expect(RepositoryIdentity.judge(known: nil, referenced: 2, found: .nothing, annotation: nil) == .lost)
    }

    @Test("another id at the location → replaced; the same id opens")
    func replacedOrOpen() {
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .repository(id: new), annotation: nil) == .replaced(found: new))
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .repository(id: old), annotation: nil) == .open(id: old))
        #expect(RepositoryIdentity.judge(known: nil, referenced: 0, found: .repository(id: new), annotation: nil) == .open(id: new))
    }

    @Test("the annotation starts afresh only when it names the lost id")
    func annotationMustNameTheLostID() {
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .nothing, annotation: old) == .startAfresh)
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .nothing, annotation: " \(old) ") == .startAfresh)
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .nothing, annotation: new) == .refused(named: new))
        #expect(RepositoryIdentity.judge(known: nil, referenced: 1, found: .nothing, annotation: old) == .refused(named: old))
        #expect(RepositoryIdentity.judge(known: old, referenced: 1, found: .repository(id: new), annotation: old) == .startAfresh)
        // Left in place after a start afresh, it names an id that is no longer the known one.
        #expect(RepositoryIdentity.judge(known: new, referenced: 1, found: .repository(id: new), annotation: old) == .open(id: new))
    }

    @Test("the loss message names the location, the last known id and the Snapshots")
    func lostMessage() {
        let text = RepositoryIdentity.lostMessage(location: "local:/r/app", known: old, referenced: 3)
        #expect(text.contains("local:/r/app") && text.contains(old) && text.contains("3 Snapshot(s)"), "\(text)")
    }

    @Test("only the Ready Snapshots whose id the listing lacks are missing")
    func missingFromListing() {
        let missing = RepositoryIdentity.missing([("one", old), ("two", new)], listing: [new])
        #expect(missing.map { $0.0 } == ["one"])
        #expect(RepositoryIdentity.missing([("one", old)], listing: [old]).isEmpty)
    }

    @Test("restic's repository id is read from `cat config`; anything else is an error naming the command")
    func repositoryIDFromConfig() throws {
        let config = Data("{\"version\": 2, \"id\": \"\(old)\", \"chunker_polynomial\": \"36ea030fc09f5f\"}".utf8)
        #expect(try ResticRepository.repositoryID(fromConfig: config) == old)
        #expect(throws: ResticError.self) { try ResticRepository.repositoryID(fromConfig: Data("{\"id\": 3}".utf8)) }
        #expect(throws: ResticError.self) { try ResticRepository.repositoryID(fromConfig: Data("not json".utf8)) }
    }
}
