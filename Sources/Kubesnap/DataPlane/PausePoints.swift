import Foundation

/// Test-only stops at named points of a data operation, so a test can SIGKILL the operator
/// exactly there (a point with no suspension, such as the middle of a restore's swap, cannot
/// be reached otherwise). Off unless the operator's environment sets both:
///
///     KUBESNAP_TEST_PAUSE_AT=between-renames     (comma-separated point names)
///     KUBESNAP_TEST_PAUSE_DIR=/tmp/some-dir      (an existing directory)
///
/// At a named point the operator creates `<dir>/<point>.reached` and then blocks the calling
/// thread until `<dir>/<point>.continue` exists (or the process is killed, which is what the
/// tests do). Not a user feature: it is not in the README or the CLI's help.
///
/// Points: `between-renames` (`DirectoryRestore`: the target was moved aside, the restored
/// tree is not yet in its place).
public struct PausePoints: Sendable {
    public static let betweenRenames = "between-renames"

    let directory: String?
    let names: Set<String>

    public init(directory: String? = nil, names: Set<String> = []) {
        self.directory = directory
        self.names = names
    }

    /// From `KUBESNAP_TEST_PAUSE_AT` and `KUBESNAP_TEST_PAUSE_DIR`; none when either is unset.
    public init(environment: [String: String]) {
        guard let directory = environment["KUBESNAP_TEST_PAUSE_DIR"], !directory.isEmpty,
            let names = environment["KUBESNAP_TEST_PAUSE_AT"], !names.isEmpty
        else {
            self.init()
            return
        }
        self.init(directory: directory, names: Set(names.split(separator: ",").map(String.init)))
    }

    /// Stops at `point` if it is named (see the type's documentation); returns at once otherwise.
    /// Synchronous on purpose: it must not add a suspension point where there is none.
    func reach(_ point: String) {
        guard let directory, names.contains(point) else { return }
        let reached = (directory as NSString).appendingPathComponent("\(point).reached")
        let proceed = (directory as NSString).appendingPathComponent("\(point).continue")
        // A test hook: if the marker cannot be written, the test waiting for it fails on its deadline.
        _ = FileManager.default.createFile(atPath: reached, contents: Data())
        // Test-only: the thread is held on purpose until the test lets it go or kills the process.
        while !FileManager.default.fileExists(atPath: proceed) { usleep(10_000) }
    }
}
