import Foundation
import KubeTestSupport

/// The restic executable given to the operator under test (`resticExecutable`): a shell script
/// that appends one line per run to `runs.log` and then runs the real `/usr/bin/restic`, so a
/// test can count the operator's restic runs and make a source vanish at a well-defined point.
///
/// For `backup` of a source whose directory name starts with
/// - `vanish-whole`: the whole source is removed just before restic starts (after kubesnap
///   checked that it exists): restic finds nothing to read.
/// - `vanish-part`: restic starts, and once it holds one of the source's `a-big-*` files open the
///   script stops it (SIGSTOP), removes the source's `z-dir`, and lets it go on (SIGCONT).
///   restic 0.14 reads files with two readers in name order, so while an `a-big-*` file is open
///   both readers have taken a big file and nothing in `z-dir` has been read yet: restic meets
///   the missing files, whatever the machine's load. The big files are sparse and large enough
///   that reading one takes far longer than the script's look at `/proc`.
/// - `hold`: the script waits until `release()` is called, then runs restic: the operator's
///   backup (and its hold on the repository) lasts exactly as long as the test wants.
/// Once `holdListings()` is called, a `snapshots` listing of a repository whose location has a
/// path component starting with `hold-` waits for `release()` likewise (and writes "holding
/// listing of LOCATION" first). Before, such a repository is listed as any other (its
/// Repository's refresh lists it on the way to Ready).
/// Once `holdRestores()` is called, a `restore` runs the real restic to its end (the staging
/// directory is written) and then waits for `release()` before it exits (writing "holding
/// restore" first, and "restore stopped by a signal" on SIGINT or SIGTERM while it waits): the
/// operator's restore stays Running for as long as the test wants.
/// Every removal is written to `actions.log`.
struct ResticWrapper: Sendable {
    let directory: TemporaryDirectory
    var executable: String { directory.appending("restic") }
    var runsLog: String { directory.appending("runs.log") }
    var actionsLog: String { directory.appending("actions.log") }

    init() throws {
        directory = try TemporaryDirectory(prefix: "kubesnap-restic-wrapper")
        let script = """
            #!/bin/bash
            echo "$*" >> '\(directory.appending("runs.log"))'
            actions='\(directory.appending("actions.log"))'
            path="${@: -1}"
            is_backup=0
            is_listing=0
            is_restore=0
            repository=""
            previous=""
            for argument in "$@"; do
              [ "$argument" = backup ] && is_backup=1
              [ "$argument" = snapshots ] && is_listing=1
              [ "$argument" = restore ] && is_restore=1
              [ "$previous" = --repo ] && repository="$argument"
              previous="$argument"
            done
            if [ "$is_listing" = 1 ] && [[ "$repository" == */hold-* ]] && [ -e '\(directory.appending("hold-listings"))' ]; then
              echo "holding listing of $repository" >> "$actions"
              while [ ! -e '\(directory.appending("release"))' ] && [ -d '\(directory.path)' ]; do sleep 0.01; done
            fi
            if [ "$is_restore" = 1 ] && [ -e '\(directory.appending("hold-restores"))' ]; then
              /usr/bin/restic "$@"
              status=$?
              trap 'echo "restore stopped by a signal" >> "$actions"; exit 130' INT TERM
              echo "holding restore" >> "$actions"
              while [ ! -e '\(directory.appending("release"))' ] && [ -d '\(directory.path)' ]; do sleep 0.01; done
              exit $status
            fi
            if [ "$is_backup" = 1 ]; then
              case "$(basename -- "$path")" in
              vanish-whole*)
                rm -rf -- "$path"
                echo "removed $path" >> "$actions"
                ;;
              hold*)
                # (also ends when the test removes this directory, so a failed test leaves no loop behind)
                while [ ! -e '\(directory.appending("release"))' ] && [ -d '\(directory.path)' ]; do sleep 0.01; done
                ;;
              vanish-part*)
                /usr/bin/restic "$@" &
                pid=$!
                trap 'kill -CONT $pid; kill -TERM $pid' TERM INT
                while kill -0 "$pid" 2>/dev/null; do
                  if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -F -- "$path/a-big-"; then
                    kill -STOP "$pid"
                    rm -rf -- "$path/z-dir"
                    echo "removed $path/z-dir" >> "$actions"
                    kill -CONT "$pid"
                    break
                  fi
                  sleep 0.005
                done
                wait "$pid"
                exit $?
                ;;
              esac
            fi
            exec /usr/bin/restic "$@"

            """
        try script.write(toFile: directory.appending("restic"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.appending("restic"))
    }

    /// The command lines of the restic runs so far, oldest first.
    /// Waits until the Repository refresh that a Snapshot's first verification asks for has
    /// run (a `snapshots` after the last `dump`), so that later runs can be told apart from it.
    func waitForRepositoryRefreshAfterVerification() async throws {
        try await waitUntil("the Repository refresh after the verification (snapshots after dump)") {
            let runs = self.runs()
            guard let dump = runs.lastIndex(where: { $0.contains(" dump ") }) else { return (false, "\(runs)") }
            return (runs[dump...].contains { $0.contains(" snapshots ") }, "\(runs)")
        }
    }

    func runs() -> [String] {
        ((try? String(contentsOfFile: runsLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// What the script removed so far.
    func actions() -> [String] {
        ((try? String(contentsOfFile: actionsLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// From now on, listings of `hold-` repositories wait for `release()`.
    func holdListings() throws {
        try "".write(toFile: directory.appending("hold-listings"), atomically: true, encoding: .utf8)
    }

    /// From now on, restores wait for `release()` once restic has written them.
    func holdRestores() throws {
        try "".write(toFile: directory.appending("hold-restores"), atomically: true, encoding: .utf8)
    }

    /// Lets held backups (sources named `hold*`) and listings (repositories at `hold-*`) go on.
    func release() throws {
        try "".write(toFile: directory.appending("release"), atomically: true, encoding: .utf8)
    }

    func remove() { directory.remove() }
}
