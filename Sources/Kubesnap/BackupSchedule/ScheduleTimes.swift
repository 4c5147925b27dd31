import Foundation
import KubesnapAPI

/// The scheduled times that fell due while nobody handled them.
enum ScheduleTimes {
    /// The times in `[from, through]`: the latest one, and how many there are. An `@every`
    /// schedule is counted by arithmetic; a calendar one by walking at most `walkLimit` times,
    /// after which the count is a lower bound (a years-long outage of a per-minute schedule) and
    /// the latest is searched back from `through`. nil when no time is due.
    static func due(
        _ cron: CronSchedule, from: Date, through: Date, zone: TimeZone, walkLimit: Int = 10_000
    ) -> (latest: Date, count: Int64)? {
        guard from <= through else { return nil }
        if case .every(let seconds) = cron.kind {
            let first = Int64(ceil(from.timeIntervalSince1970 / Double(seconds)))
            let last = Int64(floor(through.timeIntervalSince1970 / Double(seconds)))
            guard last >= first else { return nil }
            return (Date(timeIntervalSince1970: TimeInterval(last * seconds)), last - first + 1)
        }
        let start = from.addingTimeInterval(-1)  // `times(after:)` is strictly after
        let walked = cron.times(after: start, through: through, in: zone, limit: walkLimit)
        guard let lastWalked = walked.last else { return nil }
        guard walked.count == walkLimit else { return (lastWalked, Int64(walked.count)) }
        // Too many to walk: find the latest by walking from ever earlier points before `through`.
        for window: TimeInterval in [3600, 86_400, 32 * 86_400, 367 * 86_400] {
            let recent = cron.times(
                after: max(lastWalked, through.addingTimeInterval(-window)), through: through, in: zone,
                limit: walkLimit)
            if recent.count < walkLimit, let latest = recent.last {
                return (latest, Int64(walked.count + recent.count))
            }
        }
        return (lastWalked, Int64(walked.count))
    }
}
